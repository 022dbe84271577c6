package org.hpunedge.demo.core;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;

import static org.hpunedge.demo.core.CoreTests.check;
import static org.hpunedge.demo.core.CoreTests.eq;
import static org.hpunedge.demo.core.CoreTests.fake;

/** The bad inputs: huge photo, non-RGB / 16-bit image, model that does not load, missing runtime. */
final class BadInputTests {
    private BadInputTests() {}

    /** A virtual photo: pixels computed on demand, never held. */
    static ArgbSource virtual(final int w, final int h) {
        return new ArgbSource() {
            public int width() { return w; }
            public int height() { return h; }
            public void readRow(int y, int x0, int n, int[] dst) {
                check(y >= 0 && y < h && x0 >= 0 && x0 + n <= w, "read outside the image");
                for (int k = 0; k < n; k++) dst[k] = 0xff000000 | (((x0 + k) * 7 + y) & 0xff) << 8 | (y & 0xff);
            }
        };
    }

    // ---------------------------------------------------------------- photo larger than memory
    public static void testHugePhotoIsUpscaledBandByBandWithinBoundedMemory() throws Exception {
        final int w = 3001, h = 2001, s = 2, tile = 128;
        final long[] rows = {0}, maxBand = {0};
        final int[] sample = new int[1];
        ArgbSink counting = new ArgbSink() {
            public void band(int[] argb, int width, int y0, int n) {
                eq(w * s, width, "band width");
                eq((long) y0, rows[0], "bands in order");
                rows[0] += n;
                maxBand[0] = Math.max(maxBand[0], n);
                sample[0] ^= argb[(n - 1) * width + width - 1];
            }
        };
        TiledUpscaler.Stats st = TiledUpscaler.run(virtual(w, h), fake(tile, s), 16, false, counting, null);
        eq((long) h * s, rows[0], "all output rows delivered");
        check(maxBand[0] <= (long) tile * s, "a band is at most one tile high");
        long whole = 4L * w * h * s * s;
        check(st.bufferBytes * 10 < whole, "buffers " + st.bufferBytes + " B vs whole output " + whole + " B");
        eq(st.tiles, st.tileNanos.length, "a time per tile");
        // what the app decides for such a photo on a 64 MB budget: stream the output to a file
        MemoryPlan p = MemoryPlan.plan(w, h, s, tile, 64L << 20, true);
        eq(MemoryPlan.Mode.STREAM_TO_FILE, p.mode, "plan: " + p.message);
        check(p.message.contains("written tile row by tile row"), p.message);
        MemoryPlan big = MemoryPlan.plan(40000, 30000, 4, tile, 256L << 20, true);
        check(big.sampleSize > 1 && big.mode != MemoryPlan.Mode.REFUSE, "subsampled: " + big.message);
        MemoryPlan none = MemoryPlan.plan(4000, 3000, 4, tile, 1L << 20, true);
        eq(MemoryPlan.Mode.REFUSE, none.mode, "refused");
        check(none.message.contains("too large"), none.message);
        eq(MemoryPlan.Mode.IN_MEMORY, MemoryPlan.plan(640, 480, 2, tile, 256L << 20, true).mode, "small photo");
    }

    public static void testStreamedPngEqualsTheInMemoryResult() throws Exception {
        for (boolean gray : new boolean[] {false, true}) {
            int w = 301, h = 117, s = 3;
            ArgbSink.Array whole = new ArgbSink.Array(w * s, h * s);
            TiledUpscaler.run(virtual(w, h), fake(32, s), 6, gray, whole, null);
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            PngSink png = new PngSink(bytes, w * s, h * s, gray);
            TiledUpscaler.run(virtual(w, h), fake(32, s), 6, gray, png, null);
            png.finish();
            BufferedImage img = javax.imageio.ImageIO.read(new ByteArrayInputStream(bytes.toByteArray()));
            eq(w * s, img.getWidth(), "png width");
            int bad = 0;
            for (int y = 0; y < h * s; y++) {
                for (int x = 0; x < w * s; x++) {
                    int want = whole.argb[y * w * s + x];
                    int got = gray ? img.getRaster().getSample(x, y, 0) : img.getRGB(x, y) & 0xffffff;
                    bad += gray ? (got == (want & 0xff) ? 0 : 1) : (got == (want & 0xffffff) ? 0 : 1);
                }
            }
            eq(0, bad, "png pixels (gray=" + gray + ")");
        }
    }

    // ---------------------------------------------------------------- non-RGB or 16-bit image
    static byte[] pngHead(int w, int h, int depth, int type) {
        byte[] b = new byte[33];
        byte[] sig = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
        System.arraycopy(sig, 0, b, 0, sig.length);
        b[16] = (byte) (w >>> 24); b[17] = (byte) (w >>> 16); b[18] = (byte) (w >>> 8); b[19] = (byte) w;
        b[20] = (byte) (h >>> 24); b[21] = (byte) (h >>> 16); b[22] = (byte) (h >>> 8); b[23] = (byte) h;
        b[24] = (byte) depth;
        b[25] = (byte) type;
        return b;
    }

    static byte[] jpegHead(int depth, int components) {
        return new byte[] {(byte) 0xff, (byte) 0xd8, (byte) 0xff, (byte) 0xe0, 0, 4, 0, 0,
                (byte) 0xff, (byte) 0xc0, 0, 11, (byte) depth, 0x01, 0x00, 0x02, 0x00, (byte) components, 1, 0x11, 0};
    }

    public static void testNonRgbAnd16BitImagesGetAPolicyOrAMessage() throws Exception {
        ImageInfo rgb = ImageInfo.sniff(pngHead(640, 480, 8, 2), 33);
        check(rgb.problem == null && rgb.notes.isEmpty() && rgb.width == 640 && rgb.height == 480, "plain RGB png");
        ImageInfo g16 = ImageInfo.sniff(pngHead(64, 48, 16, 0), 33);
        check(g16.problem == null && g16.gray && g16.bitDepth == 16, "16-bit gray png accepted");
        check(String.join(" ", g16.notes).contains("16-bit") && String.join(" ", g16.notes).contains("gray"), g16.notes.toString());
        ImageInfo rgba16 = ImageInfo.sniff(pngHead(64, 48, 16, 6), 33);
        check(rgba16.problem == null && rgba16.alpha && String.join(" ", rgba16.notes).contains("transparency"), "rgba16");
        check(ImageInfo.sniff(pngHead(64, 48, 8, 3), 33).palette, "palette");
        check(ImageInfo.sniff(pngHead(64, 48, 8, 5), 33).problem.contains("colour type 5"), "bad colour type");
        check(ImageInfo.sniff(pngHead(0, 48, 8, 2), 33).problem != null, "zero width");
        check(ImageInfo.sniff(pngHead(64, 48, 8, 2), 20).problem.contains("truncated"), "truncated png");
        ImageInfo cmyk = ImageInfo.sniff(jpegHead(8, 4), 21);
        check(cmyk.cmyk && cmyk.problem.contains("CMYK"), "cmyk jpeg refused");
        check(ImageInfo.sniff(jpegHead(12, 3), 21).problem.contains("12-bit"), "12-bit jpeg refused");
        ImageInfo gj = ImageInfo.sniff(jpegHead(8, 1), 21);
        check(gj.problem == null && gj.gray && gj.width == 512 && gj.height == 256, "gray jpeg " + gj.width + "x" + gj.height);
        check(ImageInfo.sniff(new byte[0], 0).problem.contains("empty"), "empty");
        check(ImageInfo.sniff("%PDF-1.4 hello".getBytes("US-ASCII"), 14).problem.contains("25 50 44 46"), "pdf");
        // a gray image's output is gray: the mean of the three outputs (golden cases cover the values)
        ArgbSink.Array out = new ArgbSink.Array(8, 8);
        TiledUpscaler.run(virtual(4, 4), fake(8, 2), 2, true, out, null);
        for (int p : out.argb) check(((p >> 16) & 0xff) == (p & 0xff) && ((p >> 8) & 0xff) == (p & 0xff), "gray out");
    }

    // ---------------------------------------------------------------- model that does not load / run
    public static void testModelFailuresBecomeMessages() throws Exception {
        final int[] calls = {0};
        TileModel throwing = new TileModel() {
            public int tile() { return 16; }
            public int scale() { return 2; }
            public float[] run(float[] in) throws Exception {
                if (++calls[0] == 3) throw new IllegalStateException("Execution failed with status 0x12\nmore lines");
                return fake(16, 2).run(in);
            }
        };
        try {
            TiledUpscaler.run(virtual(60, 40), throwing, 4, false, new ArgbSink.Array(120, 80), null);
            throw new AssertionError("no error");
        } catch (UpscaleException e) {
            check(e.getMessage().startsWith("the model failed on tile 3 of "), e.getMessage());
        }
        TileModel shortOut = new TileModel() {
            public int tile() { return 16; }
            public int scale() { return 2; }
            public float[] run(float[] in) { return new float[3 * 48 * 48]; }
        };
        try {
            TiledUpscaler.run(virtual(20, 20), shortOut, 4, false, new ArgbSink.Array(40, 40), null);
            throw new AssertionError("no error");
        } catch (UpscaleException e) {
            check(e.getMessage().contains("expected 3 x 32 x 32 (scale x2, tile 16)"), e.getMessage());
        }
        String m = RuntimeProbe.loadFailure("ExecuTorch", "m.pte", new RuntimeException("Failed to load\ndetails"));
        eq("m.pte: the ExecuTorch runtime cannot load it (RuntimeException: Failed to load)", m, "load failure");
        try {
            Sidecar.parse("{\"format\": \"hpun-edge-artifact/1\"");
            throw new AssertionError("no error");
        } catch (UpscaleException e) {
            check(e.getMessage().startsWith("not valid JSON"), e.getMessage());
        }
        // a cancelled run stops with a message
        try {
            TiledUpscaler.run(virtual(60, 40), fake(16, 2), 4, false, new ArgbSink.Array(120, 80), new TiledUpscaler.Listener() {
                public boolean onTile(int index, int count, long nanos) { return index < 2; }
            });
            throw new AssertionError("no cancel");
        } catch (UpscaleException e) {
            check(e.getMessage().startsWith("cancelled after 2 of"), e.getMessage());
        }
        // a sink that cannot write (disk full) is a message too
        try {
            PngSink png = new PngSink(new OutputStream() {
                int n;
                public void write(int b) throws java.io.IOException { if (++n > 100) throw new java.io.IOException("No space left on device"); }
            }, 120, 80, false);
            TiledUpscaler.run(virtual(60, 40), fake(16, 2), 4, false, png, null);
            throw new AssertionError("no error");
        } catch (UpscaleException e) {
            check(e.getMessage().contains("No space left"), e.getMessage());
        }
    }

    // ---------------------------------------------------------------- missing runtime
    public static void testMissingRuntimeIsDetectedNotACrash() throws Exception {
        ClassLoader cl = BadInputTests.class.getClassLoader();
        String m = RuntimeProbe.missing(RuntimeProbe.LITERT_CLASS, "LiteRT", cl);
        check(m != null && m.contains("LiteRT is not in this build"), String.valueOf(m));
        check(RuntimeProbe.missing("java.lang.String", "Java", cl) == null, "present class");
        String nat = RuntimeProbe.loadFailure("ExecuTorch", "m.pte", new UnsatisfiedLinkError("dlopen failed: libexecutorch.so not found"));
        check(nat.contains("native library is missing"), nat);
        TileModel noClass = new TileModel() {
            public int tile() { return 8; }
            public int scale() { return 2; }
            public float[] run(float[] in) { throw new NoClassDefFoundError("org/pytorch/executorch/Tensor"); }
        };
        try {
            TiledUpscaler.run(virtual(10, 10), noClass, 2, false, new ArgbSink.Array(20, 20), null);
            throw new AssertionError("no error");
        } catch (UpscaleException e) {
            check(e.getMessage().contains("NoClassDefFoundError"), e.getMessage());
        }
    }
}
