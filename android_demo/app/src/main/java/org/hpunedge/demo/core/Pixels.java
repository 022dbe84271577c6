package org.hpunedge.demo.core;

/**
 * ARGB_8888 pixels <-> float32 planar CHW in [0, 1], as {@code image_to_tensor} / {@code tensor_to_image}
 * do: v / 255 in, clamp(0, 1) * 255 + 0.5 floored out (NaN becomes 0). Alpha is ignored on the way in
 * and 255 on the way out.
 */
public final class Pixels {
    private Pixels() {}

    public static float toFloat(int v) {
        return (float) v / 255f;
    }

    public static int toUint8(float v) {
        if (v != v) return 0; // NaN
        float c = Math.min(Math.max(v, 0f), 1f);
        float s = c * 255f;
        s = s + 0.5f;
        return (int) Math.floor(s);
    }

    /** The output of a gray image: the mean of the three channels' floats, quantised. */
    public static int grayMean(float r, float g, float b) {
        float sum = r + g;
        sum = sum + b;
        return toUint8(sum / 3f);
    }

    /**
     * Fill {@code chw} (3 x th x tw) from the image rectangle at (x0, y0), replicating the edge pixels
     * for coordinates at or past {@code imgW} / {@code imgH}: the padding of tiled_forward.
     * {@code row} is a scratch buffer of at least {@code min(tw, imgW - x0)} ints.
     */
    public static void readTile(ArgbSource src, int x0, int y0, int tw, int th, float[] chw, int[] row) {
        int imgW = src.width(), imgH = src.height();
        int plane = tw * th;
        int inW = Math.min(tw, imgW - x0);
        for (int y = 0; y < th; y++) {
            int sy = Math.min(y0 + y, imgH - 1);
            src.readRow(sy, x0, inW, row);
            int o = y * tw;
            for (int x = 0; x < tw; x++) {
                int p = row[Math.min(x, inW - 1)];
                chw[o + x] = toFloat((p >> 16) & 0xff);
                chw[plane + o + x] = toFloat((p >> 8) & 0xff);
                chw[2 * plane + o + x] = toFloat(p & 0xff);
            }
        }
    }

    /** One output pixel from planar CHW floats at index i of a plane of {@code plane} pixels. */
    public static int toArgb(float[] chw, int plane, int i, boolean gray) {
        float r = chw[i], g = chw[plane + i], b = chw[2 * plane + i];
        if (gray) {
            int v = grayMean(r, g, b);
            return 0xff000000 | (v << 16) | (v << 8) | v;
        }
        return 0xff000000 | (toUint8(r) << 16) | (toUint8(g) << 8) | toUint8(b);
    }

    /** Planar CHW (3 x n x n) <-> interleaved HWC, for a LiteRT model made channel-last. */
    public static float[] chwToHwc(float[] chw, int n) {
        int plane = n * n;
        float[] hwc = new float[3 * plane];
        for (int i = 0; i < plane; i++) {
            hwc[3 * i] = chw[i];
            hwc[3 * i + 1] = chw[plane + i];
            hwc[3 * i + 2] = chw[2 * plane + i];
        }
        return hwc;
    }

    public static float[] hwcToChw(float[] hwc, int n) {
        int plane = n * n;
        float[] chw = new float[3 * plane];
        for (int i = 0; i < plane; i++) {
            chw[i] = hwc[3 * i];
            chw[plane + i] = hwc[3 * i + 1];
            chw[2 * plane + i] = hwc[3 * i + 2];
        }
        return chw;
    }
}
