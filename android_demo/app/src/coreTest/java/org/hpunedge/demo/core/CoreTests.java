package org.hpunedge.demo.core;

import java.io.File;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The core's tests on the host JVM, no JUnit needed: every {@code static void test*()} here and in
 * {@link BadInputTests} runs; exit status 1 on any failure. Argument: the golden-vector folder
 * (demo_golden/, written by python scripts/golden_vectors.py).
 */
public final class CoreTests {
    static File golden;

    public static void main(String[] args) throws Exception {
        List<String> failed = runAll(new File(args.length > 0 ? args[0] : "../demo_golden"));
        System.exit(failed.isEmpty() ? 0 : 1);
    }

    /** Run every test; print one line per failure and a summary; return the failures. */
    public static List<String> runAll(File goldenDir) throws Exception {
        golden = goldenDir;
        if (!new File(golden, "tiles.json").isFile()) {
            throw new IllegalStateException("no golden vectors in " + golden + " (python scripts/golden_vectors.py)");
        }
        int passed = 0;
        List<String> failed = new ArrayList<String>();
        for (Class<?> c : new Class<?>[] {CoreTests.class, BadInputTests.class}) {
            for (Method m : c.getDeclaredMethods()) {
                if (!m.getName().startsWith("test") || !Modifier.isStatic(m.getModifiers())) continue;
                try {
                    m.invoke(null);
                    passed++;
                } catch (InvocationTargetException e) {
                    Throwable t = e.getCause();
                    failed.add(c.getSimpleName() + "." + m.getName() + ": " + t);
                    t.printStackTrace();
                }
            }
        }
        for (String f : failed) System.out.println("FAIL " + f);
        System.out.println("java core tests: " + passed + " passed, " + failed.size() + " failed");
        return failed;
    }

    // ------------------------------------------------------------------------------ helpers
    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    static void eq(Object want, Object got, String what) {
        if (want == null ? got != null : !want.equals(got)) {
            throw new AssertionError(what + ": expected <" + want + "> got <" + got + ">");
        }
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> load(String name) throws Exception {
        String text = new String(Files.readAllBytes(new File(golden, name).toPath()), StandardCharsets.UTF_8);
        return (Map<String, Object>) Json.parse(text);
    }

    @SuppressWarnings("unchecked")
    static List<Object> list(Object o) {
        return (List<Object>) o;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> map(Object o) {
        return (Map<String, Object>) o;
    }

    static int i(Object o) {
        return (int) (long) (Long) o;
    }

    static byte[] hex(String s) {
        byte[] b = new byte[s.length() / 2];
        for (int k = 0; k < b.length; k++) b[k] = (byte) Integer.parseInt(s.substring(2 * k, 2 * k + 2), 16);
        return b;
    }

    /** The golden vectors' fake model (scripts/golden_vectors.py: fake_model), float for float. */
    static TileModel fake(final int tile, final int scale) {
        return new TileModel() {
            public int tile() { return tile; }
            public int scale() { return scale; }
            public float[] run(float[] in) {
                int ts = tile * scale, plane = ts * ts;
                float[] out = new float[3 * plane];
                for (int c = 0; c < 3; c++) {
                    for (int y = 0; y < ts; y++) {
                        for (int x = 0; x < ts; x++) {
                            float v = in[c * tile * tile + (y / scale) * tile + x / scale] * 0.5f;
                            float pattern = (float) ((y * 3 + x * 5 + c * 7) % 32) / 64f;
                            out[c * plane + y * ts + x] = v + pattern;
                        }
                    }
                }
                return out;
            }
        };
    }

    // -------------------------------------------------------------------------------- tests
    public static void testTileSpansMatchPython() throws Exception {
        int n = 0;
        for (Object o : list(load("tiles.json").get("cases"))) {
            Map<String, Object> c = map(o);
            int length = i(c.get("length")), tile = i(c.get("tile")), overlap = i(c.get("overlap"));
            String what = "tile_spans(" + length + ", " + tile + ", " + overlap + ")";
            if (c.containsKey("error")) {
                try {
                    Tiling.tileSpans(length, tile, overlap);
                    throw new AssertionError(what + " did not raise");
                } catch (IllegalArgumentException e) {
                    eq(c.get("error"), e.getMessage(), what);
                }
            } else {
                List<Tiling.Span> got = Tiling.tileSpans(length, tile, overlap);
                eq(c.get("spans").toString(), got.toString(), what);
            }
            n++;
        }
        check(n > 50, "too few tile cases: " + n);
    }

    public static void testStitchedOutputsMatchPython() throws Exception {
        for (Object o : list(load("stitch.json").get("cases"))) {
            Map<String, Object> c = map(o);
            int h = i(c.get("height")), w = i(c.get("width")), s = i(c.get("scale"));
            int tile = i(c.get("tile")), overlap = i(c.get("overlap"));
            boolean gray = (Boolean) c.get("gray");
            byte[] in = hex((String) c.get("input")), want = hex((String) c.get("output"));
            int[] argb = new int[w * h];
            for (int k = 0; k < w * h; k++) {
                int r, g, b;
                if (gray) r = g = b = in[k] & 0xff;
                else { r = in[3 * k] & 0xff; g = in[3 * k + 1] & 0xff; b = in[3 * k + 2] & 0xff; }
                argb[k] = 0xff000000 | (r << 16) | (g << 8) | b;
            }
            ArgbSink.Array sink = new ArgbSink.Array(w * s, h * s);
            TiledUpscaler.Stats st = TiledUpscaler.run(new ArgbSource.Array(argb, w, h), fake(tile, s), overlap, gray, sink, null);
            String what = h + "x" + w + " gray=" + gray + " x" + s + " tile " + tile + "/" + overlap;
            eq(i(c.get("tiles")), st.tiles, what + " tile count");
            int bad = 0;
            for (int k = 0; k < sink.argb.length; k++) {
                int p = sink.argb[k];
                if (gray) bad += (want[k] & 0xff) == (p & 0xff) && ((p >> 16) & 0xff) == (p & 0xff) ? 0 : 1;
                else bad += (want[3 * k] & 0xff) == ((p >> 16) & 0xff) && (want[3 * k + 1] & 0xff) == ((p >> 8) & 0xff)
                        && (want[3 * k + 2] & 0xff) == (p & 0xff) ? 0 : 1;
            }
            eq(0, bad, what + ": pixels that differ from Python");
        }
    }

    public static void testPixelConversionsMatchPython() throws Exception {
        Map<String, Object> p = load("pixels.json");
        Map<String, Object> tf = map(p.get("to_float"));
        List<Object> planes = list(tf.get("planes"));
        for (int k = 0; k < 256; k++) {
            int[] u = {k, 255 - k, (k % 16) * 16 + k / 16};
            for (int c = 0; c < 3; c++) {
                float want = (float) (double) (Double) list(planes.get(c)).get(k);
                eq(Float.floatToIntBits(want), Float.floatToIntBits(Pixels.toFloat(u[c])), "to_float(" + u[c] + ")");
            }
        }
        Map<String, Object> tu = map(p.get("to_uint8"));
        List<Object> values = list(tu.get("values")), expected = list(tu.get("expected"));
        for (int k = 0; k < values.size(); k++) {
            float v = ((Number) values.get(k)).floatValue();
            eq(i(expected.get(k)), Pixels.toUint8(v), "to_uint8(" + v + ")");
        }
        Map<String, Object> gm = map(p.get("gray_mean"));
        List<Object> rgb = list(gm.get("rgb")), gexp = list(gm.get("expected"));
        for (int k = 0; k < rgb.size(); k++) {
            List<Object> t = list(rgb.get(k));
            float r = ((Number) t.get(0)).floatValue(), g = ((Number) t.get(1)).floatValue(), b = ((Number) t.get(2)).floatValue();
            eq(i(gexp.get(k)), Pixels.grayMean(r, g, b), "gray_mean" + t);
        }
        check(Pixels.toUint8(Float.NaN) == 0, "NaN -> 0");
        float[] chw = new float[48];
        for (int k = 0; k < 48; k++) chw[k] = k;
        check(java.util.Arrays.equals(chw, Pixels.hwcToChw(Pixels.chwToHwc(chw, 4), 4)), "chw <-> hwc");
        eq(16f, Pixels.chwToHwc(chw, 4)[1], "hwc order");
    }

    public static void testSidecarsParseAsPythonDoes() throws Exception {
        Map<String, Object> doc = load("sidecars.json");
        for (Object o : list(doc.get("parse"))) {
            Map<String, Object> c = map(o);
            String name = (String) c.get("name");
            try {
                Sidecar sc = Sidecar.parse((String) c.get("text"));
                check(c.containsKey("fields"), name + ": parsed, Python says " + c.get("error"));
                Map<String, Object> f = map(c.get("fields"));
                eq(f.get("target"), sc.target, name);
                eq(f.get("artifact"), sc.artifact, name);
                eq(f.get("artifact_sha256"), sc.artifactSha256, name);
                eq(f.get("artifact_bytes"), sc.artifactBytes, name);
                eq(f.get("model"), sc.model, name);
                eq(f.get("precision"), sc.precision, name);
                eq(i(f.get("scale")), sc.scale, name);
                eq(i(f.get("tile")), sc.tile, name);
                eq(f.get("input_shape"), sc.inputShape, name);
                eq(f.get("output_shape"), sc.outputShape, name);
            } catch (UpscaleException e) {
                check(c.containsKey("error"), name + ": refused (" + e.getMessage() + "), Python parses it");
                if ("json".equals(c.get("error"))) check(e.getMessage().startsWith("not valid JSON"), name + ": " + e.getMessage());
                else eq(c.get("error"), e.getMessage(), name);
            }
        }
    }

    public static void testArtifactChecksMatchPython() throws Exception {
        Map<String, Object> doc = load("sidecars.json");
        for (Object o : list(doc.get("checks"))) {
            Map<String, Object> c = map(o);
            String text = null;
            for (Object p : list(doc.get("parse"))) if (map(p).get("name").equals(c.get("sidecar"))) text = (String) map(p).get("text");
            Sidecar sc = Sidecar.parse(text);
            Object sha = c.get("sha256");
            String got = ArtifactCheck.problem(sc, (String) c.get("file"), (Long) c.get("bytes"),
                    sha == Json.NULL ? null : (String) sha, shape(c.get("runtime_input")), shape(c.get("runtime_output")));
            Object want = c.get("problem");
            eq(want == Json.NULL ? null : want, got, (String) c.get("name"));
        }
    }

    static int[] shape(Object o) {
        if (o == Json.NULL) return null;
        List<Object> l = list(o);
        int[] s = new int[l.size()];
        for (int k = 0; k < s.length; k++) s[k] = i(l.get(k));
        return s;
    }

    public static void testJsonParserEdgeCases() throws Exception {
        Map<String, Object> m = map(Json.parse(" {\"a\": [1, -2.5e1, true, null, \"\\u00e9\\n\"], \"b\": {}} "));
        List<Object> a = list(m.get("a"));
        eq(1L, a.get(0), "int");
        eq(-25.0, a.get(1), "float");
        eq(Boolean.TRUE, a.get(2), "true");
        check(a.get(3) == Json.NULL, "null");
        eq("\u00e9\n", a.get(4), "escapes");
        for (String bad : new String[] {"", "{", "[1,]", "{\"a\" 1}", "01", "1.", "\"a", "nul", "{} x", "\"\t\"", "NaN"}) {
            try {
                Json.parse(bad);
                throw new AssertionError("parsed bad JSON " + bad);
            } catch (Json.ParseException expected) {
                check(expected.getMessage().contains("at char"), expected.getMessage());
            }
        }
    }

    public static void testBicubicKeepsFlatImagesAndSize() {
        int[] img = new int[5 * 3];
        java.util.Arrays.fill(img, 0xff336699);
        int[] up = Bicubic.upscale(img, 5, 3, 3);
        eq(15 * 9, up.length, "size");
        for (int p : up) eq(0xff336699, p, "flat stays flat");
    }
}
