package org.hpunedge.demo.core;

/**
 * How to fit a photo's upscaling into the memory the app may use. Tiling bounds the model's memory to
 * one tile; what remains is the images: the decoded input (4 bytes per pixel), and the output, held
 * whole only when it fits (for the before/after view) and otherwise streamed band by band into a PNG
 * file ({@link PngSink}). An input too large to decode at all is decoded subsampled (1/2, 1/4, ...).
 */
public final class MemoryPlan {
    public enum Mode { IN_MEMORY, STREAM_TO_FILE, REFUSE }

    public final Mode mode;
    /** Decode the input at 1/sampleSize of its size (BitmapFactory.Options.inSampleSize). */
    public final int sampleSize;
    public final int width, height; // the input as decoded
    public final long neededBytes;
    public final String message;

    private MemoryPlan(Mode mode, int sampleSize, int width, int height, long neededBytes, String message) {
        this.mode = mode;
        this.sampleSize = sampleSize;
        this.width = width;
        this.height = height;
        this.neededBytes = neededBytes;
        this.message = message;
    }

    static long mb(long bytes) {
        return (bytes + (1 << 20) - 1) >> 20;
    }

    /**
     * {@code budget}: bytes the app may still allocate (on Android: maxMemory - used, less a margin).
     * {@code compare}: the before/after view also wants a bicubic image of the output's size.
     */
    public static MemoryPlan plan(int width, int height, int scale, int tile, long budget, boolean compare) {
        if (width <= 0 || height <= 0) {
            return new MemoryPlan(Mode.REFUSE, 1, width, height, 0, "the photo has no pixels (" + width + "x" + height + ")");
        }
        for (int sample = 1; sample <= 64; sample *= 2) {
            int w = (width + sample - 1) / sample, h = (height + sample - 1) / sample;
            long input = 4L * w * h;
            long buffers = TiledUpscaler.bufferBytes(w, tile, scale);
            long output = 4L * w * h * scale * scale;
            String decoded = sample == 1 ? "" : "decoded at 1/" + sample + " (" + w + "x" + h + ") to fit memory; ";
            long inMem = input + buffers + output * (compare ? 2 : 1);
            if (inMem <= budget) {
                return new MemoryPlan(Mode.IN_MEMORY, sample, w, h, inMem,
                        sample == 1 ? null : "the photo is " + width + "x" + height + ": " + decoded.replace("; ", ""));
            }
            long stream = input + buffers + PngSink.bufferBytes(w * scale);
            if (stream <= budget) {
                return new MemoryPlan(Mode.STREAM_TO_FILE, sample, w, h, stream, "the photo is " + width + "x" + height
                        + ": " + decoded + "the " + (w * scale) + "x" + (h * scale) + " result (" + mb(output)
                        + " MB) is written tile row by tile row to a PNG file instead of shown");
            }
        }
        return new MemoryPlan(Mode.REFUSE, 64, width, height, 0, "the photo is " + width + "x" + height
                + ": too large for the " + mb(budget) + " MB this app may use, even decoded at 1/64");
    }
}
