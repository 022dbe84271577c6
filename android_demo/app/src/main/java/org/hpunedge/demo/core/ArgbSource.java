package org.hpunedge.demo.core;

/** Where the LR pixels come from, a row segment at a time (an int[] image, a Bitmap, a region decoder). */
public interface ArgbSource {
    int width();

    int height();

    /** Copy pixels [x0, x0 + n) of row y (all inside the image) into dst[0 .. n). */
    void readRow(int y, int x0, int n, int[] dst);

    /** An in-memory image, row-major ARGB. */
    final class Array implements ArgbSource {
        private final int[] argb;
        private final int w, h;

        public Array(int[] argb, int w, int h) {
            if (argb.length != w * h) throw new IllegalArgumentException(argb.length + " pixels for " + w + "x" + h);
            this.argb = argb;
            this.w = w;
            this.h = h;
        }

        public int width() { return w; }

        public int height() { return h; }

        public void readRow(int y, int x0, int n, int[] dst) {
            System.arraycopy(argb, y * w + x0, dst, 0, n);
        }
    }
}
