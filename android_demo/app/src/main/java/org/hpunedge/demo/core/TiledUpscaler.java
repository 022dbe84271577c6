package org.hpunedge.demo.core;

import java.util.List;

/**
 * Runs a fixed-tile model over a whole image, crop-and-stitch ({@link Tiling}), writing the output to an
 * {@link ArgbSink} one band (row of tiles) at a time. Memory besides source and sink: one input tile,
 * one output tile and one band of output rows (output width x tile x scale ints).
 */
public final class TiledUpscaler {
    /** Progress and timing per tile; return false from {@link #onTile} to cancel. */
    public interface Listener {
        boolean onTile(int index, int count, long nanos);
    }

    /** What a run cost. */
    public static final class Stats {
        public final int tiles;
        public final long[] tileNanos;
        public final long totalNanos;
        public final long bufferBytes;

        Stats(int tiles, long[] tileNanos, long totalNanos, long bufferBytes) {
            this.tiles = tiles;
            this.tileNanos = tileNanos;
            this.totalNanos = totalNanos;
            this.bufferBytes = bufferBytes;
        }

        public double meanTileMillis() {
            long sum = 0;
            for (long t : tileNanos) sum += t;
            return tiles == 0 ? 0 : sum / 1e6 / tiles;
        }
    }

    private TiledUpscaler() {}

    /** Bytes of the buffers {@link #run} allocates for an image of this width. */
    public static long bufferBytes(int width, int tile, int scale) {
        long ts = (long) tile * scale;
        long outW = (long) (Math.max(width + width % 2, tile)) * scale;
        return 4L * (3L * tile * tile + tile + outW * ts) + 4L * 3L * ts * ts;
    }

    /**
     * Upscale {@code src} into {@code sink}. {@code gray}: the source is a one-channel image replicated to
     * RGB; its output is the mean of the three channels (as hpun_edge.inference.upscale does).
     */
    public static Stats run(ArgbSource src, TileModel model, int overlap, boolean gray, ArgbSink sink,
                            Listener listener) throws UpscaleException {
        int tile = model.tile(), s = model.scale();
        Tiling.Plan plan;
        try {
            plan = new Tiling.Plan(src.width(), src.height(), tile, overlap);
        } catch (IllegalArgumentException e) {
            throw new UpscaleException("cannot tile: " + e.getMessage());
        }
        int outW = src.width() * s, outH = src.height() * s, ts = tile * s;
        int count = plan.tileCount();
        float[] in = new float[3 * tile * tile];
        int[] row = new int[tile];
        int[] band = new int[outW * ts];
        long[] times = new long[count];
        long t0 = System.nanoTime();
        int index = 0;
        List<Tiling.Span> rows = plan.rows, cols = plan.cols;
        for (Tiling.Span sy : rows) {
            int by0 = sy.keepStart * s, by1 = Math.min(sy.keepStop * s, outH);
            for (Tiling.Span sx : cols) {
                long ti = System.nanoTime();
                Pixels.readTile(src, sx.start, sy.start, tile, tile, in, row);
                float[] out;
                try {
                    out = model.run(in);
                } catch (UpscaleException e) {
                    throw e;
                } catch (Throwable e) { // a runtime's exception or error: message, not a crash
                    throw new UpscaleException("the model failed on tile " + (index + 1) + " of " + count + ": "
                            + e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage()), e);
                }
                if (out == null || out.length != 3 * ts * ts) {
                    throw new UpscaleException("the model returned " + (out == null ? "nothing" : out.length + " values")
                            + " for a tile, expected 3 x " + ts + " x " + ts + " (scale x" + s + ", tile " + tile + ")");
                }
                int oy = (sy.keepStart - sy.start) * s, ox = (sx.keepStart - sx.start) * s;
                int bx0 = sx.keepStart * s, bx1 = Math.min(sx.keepStop * s, outW);
                int plane = ts * ts;
                for (int y = by0; y < by1; y++) {
                    int srcRow = (oy + y - by0) * ts + ox;
                    int dst = (y - by0) * outW;
                    for (int x = bx0; x < bx1; x++) {
                        band[dst + x] = Pixels.toArgb(out, plane, srcRow + x - bx0, gray);
                    }
                }
                times[index] = System.nanoTime() - ti;
                index++;
                if (listener != null && !listener.onTile(index, count, times[index - 1])) {
                    throw new UpscaleException("cancelled after " + index + " of " + count + " tiles");
                }
            }
            if (by1 > by0) {
                try {
                    sink.band(band, outW, by0, by1 - by0);
                } catch (java.io.IOException e) {
                    throw new UpscaleException("cannot write the result: " + e.getMessage(), e);
                }
            }
        }
        return new Stats(count, times, System.nanoTime() - t0, bufferBytes(src.width(), tile, s));
    }
}
