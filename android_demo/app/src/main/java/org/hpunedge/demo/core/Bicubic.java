package org.hpunedge.demo.core;

/**
 * Plain bicubic upscaling by an integer factor (Keys, a = -0.5, edge-clamped, pixel centres aligned),
 * the "before" of the before/after view. Not the MATLAB-antialiased kernel: for upscaling the two agree.
 */
public final class Bicubic {
    private Bicubic() {}

    static float cubic(float t) {
        t = Math.abs(t);
        if (t <= 1) return (1.5f * t - 2.5f) * t * t + 1;
        if (t < 2) return ((-0.5f * t + 2.5f) * t - 4) * t + 2;
        return 0;
    }

    public static int[] upscale(int[] argb, int w, int h, int s) {
        int W = w * s, H = h * s;
        // weights per output phase (the same for every source pixel): s phases x 4 taps
        float[] wt = new float[s * 4];
        int[] off = new int[s];
        for (int p = 0; p < s; p++) {
            float src = (p + 0.5f) / s - 0.5f;
            int f = (int) Math.floor(src);
            off[p] = f - 1;
            float sum = 0;
            for (int k = 0; k < 4; k++) sum += (wt[p * 4 + k] = cubic(src - (f - 1 + k)));
            for (int k = 0; k < 4; k++) wt[p * 4 + k] /= sum;
        }
        float[] tmp = new float[3 * W * h]; // horizontal pass, planar per row
        for (int y = 0; y < h; y++) {
            for (int X = 0; X < W; X++) {
                int p = X % s, base = X / s + off[p];
                float r = 0, g = 0, b = 0;
                for (int k = 0; k < 4; k++) {
                    int q = argb[y * w + Math.min(Math.max(base + k, 0), w - 1)];
                    float c = wt[p * 4 + k];
                    r += c * ((q >> 16) & 0xff);
                    g += c * ((q >> 8) & 0xff);
                    b += c * (q & 0xff);
                }
                int i = 3 * (y * W + X);
                tmp[i] = r;
                tmp[i + 1] = g;
                tmp[i + 2] = b;
            }
        }
        int[] out = new int[W * H];
        for (int Y = 0; Y < H; Y++) {
            int p = Y % s, base = Y / s + off[p];
            for (int X = 0; X < W; X++) {
                float r = 0, g = 0, b = 0;
                for (int k = 0; k < 4; k++) {
                    int i = 3 * (Math.min(Math.max(base + k, 0), h - 1) * W + X);
                    float c = wt[p * 4 + k];
                    r += c * tmp[i];
                    g += c * tmp[i + 1];
                    b += c * tmp[i + 2];
                }
                out[Y * W + X] = 0xff000000 | (clamp(r) << 16) | (clamp(g) << 8) | clamp(b);
            }
        }
        return out;
    }

    private static int clamp(float v) {
        int i = Math.round(v);
        return i < 0 ? 0 : Math.min(i, 255);
    }
}
