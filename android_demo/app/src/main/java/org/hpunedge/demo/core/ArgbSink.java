package org.hpunedge.demo.core;

/**
 * Where the SR pixels go. Tiles arrive row of tiles by row of tiles, top to bottom; {@link #band}
 * hands over complete output rows [y0, y1) of the full output width, so a sink can stream them (a PNG
 * encoder) instead of holding the whole output.
 */
public interface ArgbSink {
    /** Output rows [y0, y0 + rows) of width {@code width}, row-major ARGB in {@code argb}. */
    void band(int[] argb, int width, int y0, int rows) throws java.io.IOException;

    /** Keeps the whole output in memory (for display when it fits). */
    final class Array implements ArgbSink {
        public final int[] argb;
        public final int width, height;

        public Array(int width, int height) {
            this.width = width;
            this.height = height;
            this.argb = new int[width * height];
        }

        public void band(int[] band, int w, int y0, int rows) {
            System.arraycopy(band, 0, argb, y0 * w, w * rows);
        }
    }
}
