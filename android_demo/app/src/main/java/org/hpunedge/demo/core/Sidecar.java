package org.hpunedge.demo.core;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The artifact sidecar {@code <artifact>.json} ({@code hpun_edge.converters.Sidecar}, format
 * hpun-edge-artifact/1), parsed with the same checks and messages as {@code Sidecar.from_json}.
 */
public final class Sidecar {
    public static final String FORMAT = "hpun-edge-artifact/1";
    /** The fields without a default in hpun_edge.converters.Sidecar, in its order. */
    static final String[] REQUIRED = {"target", "artifact", "artifact_sha256", "artifact_bytes", "source",
            "source_sha256", "model", "scale", "precision", "tile", "input_shape", "output_shape"};

    public final String target, artifact, artifactSha256, model, precision, source;
    public final long artifactBytes;
    public final int scale, tile;
    public final List<Object> inputShape, outputShape;
    public final Map<String, Object> raw;

    private Sidecar(Map<String, Object> m) {
        raw = m;
        target = str(m.get("target"));
        artifact = str(m.get("artifact"));
        artifactSha256 = str(m.get("artifact_sha256"));
        model = str(m.get("model"));
        precision = str(m.get("precision"));
        source = str(m.get("source"));
        artifactBytes = (Long) m.get("artifact_bytes");
        long sc = (Long) m.get("scale"), t = (Long) m.get("tile");
        scale = sc > Integer.MAX_VALUE || sc < Integer.MIN_VALUE ? 0 : (int) sc;
        tile = t > Integer.MAX_VALUE || t < Integer.MIN_VALUE ? 0 : (int) t;
        inputShape = list(m.get("input_shape"));
        outputShape = list(m.get("output_shape"));
    }

    /** Parse; a {@link UpscaleException} with Python's message (JSON syntax errors: the parser's). */
    public static Sidecar parse(String text) throws UpscaleException {
        Object data;
        try {
            data = Json.parse(text);
        } catch (Json.ParseException e) {
            throw new UpscaleException("not valid JSON (" + e.getMessage() + ")");
        }
        if (!(data instanceof Map)) throw new UpscaleException("not a JSON object");
        @SuppressWarnings("unchecked")
        Map<String, Object> m = (Map<String, Object>) data;
        Object format = m.get("format");
        if (!FORMAT.equals(format)) {
            throw new UpscaleException("format " + repr(format) + ", expected " + repr(FORMAT));
        }
        List<String> missing = new ArrayList<String>();
        for (String k : REQUIRED) if (!m.containsKey(k)) missing.add(k);
        if (!missing.isEmpty()) throw new UpscaleException("missing field(s) " + join(missing, ", "));
        for (String k : new String[] {"scale", "tile", "artifact_bytes"}) {
            if (!(m.get(k) instanceof Long)) throw new UpscaleException(k + " is not an integer");
        }
        for (String k : new String[] {"input_shape", "output_shape"}) {
            Object v = m.get(k);
            if (!(v instanceof List) || ((List<?>) v).size() != 4) throw new UpscaleException(k + " is not a 4-d shape");
        }
        return new Sidecar(m);
    }

    private static String str(Object v) {
        return v instanceof String ? (String) v : repr(v);
    }

    @SuppressWarnings("unchecked")
    private static List<Object> list(Object v) {
        return (List<Object>) v;
    }

    /** The shape as ints, or null where an element is not a (32-bit) integer. */
    public static int[] ints(List<Object> shape) {
        int[] out = new int[shape.size()];
        for (int k = 0; k < out.length; k++) {
            Object v = shape.get(k);
            if (!(v instanceof Long) || (Long) v > Integer.MAX_VALUE || (Long) v < Integer.MIN_VALUE) return null;
            out[k] = (int) (long) (Long) v;
        }
        return out;
    }

    /** Python's repr() of a JSON value (for messages that match hpun_edge.converters.sidecar word for word). */
    public static String repr(Object v) {
        if (v == null || v == Json.NULL) return "None";
        if (v instanceof Boolean) return ((Boolean) v) ? "True" : "False";
        if (v instanceof String) {
            String s = (String) v;
            char q = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
            StringBuilder b = new StringBuilder().append(q);
            for (int k = 0; k < s.length(); k++) {
                char c = s.charAt(k);
                if (c == '\\' || c == q) b.append('\\').append(c);
                else if (c == '\n') b.append("\\n");
                else if (c == '\t') b.append("\\t");
                else if (c == '\r') b.append("\\r");
                else b.append(c);
            }
            return b.append(q).toString();
        }
        if (v instanceof List) {
            List<String> parts = new ArrayList<String>();
            for (Object o : (List<?>) v) parts.add(repr(o));
            return "[" + join(parts, ", ") + "]";
        }
        if (v instanceof Map) return "{...}";
        return String.valueOf(v);
    }

    static String join(List<String> parts, String sep) {
        StringBuilder b = new StringBuilder();
        for (int k = 0; k < parts.size(); k++) {
            if (k > 0) b.append(sep);
            b.append(parts.get(k));
        }
        return b.toString();
    }
}
