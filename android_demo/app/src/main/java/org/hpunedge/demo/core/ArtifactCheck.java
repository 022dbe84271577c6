package org.hpunedge.demo.core;

import java.util.Arrays;

/**
 * The check of a model file against its sidecar, before and after loading: the reference is
 * {@code scripts/golden_vectors.py: artifact_problem} (same order, same words). A model whose tile or
 * scale disagrees with its sidecar (or with the shapes its runtime reports) is refused.
 */
public final class ArtifactCheck {
    private ArtifactCheck() {}

    /** The target a file name's suffix says, or null. */
    public static String targetOf(String fileName) {
        if (fileName.endsWith(".pte")) return "executorch";
        if (fileName.endsWith(".tflite")) return "litert";
        if (fileName.endsWith(".mlpackage")) return "coreml";
        if (fileName.endsWith(".onnx")) return "onnx";
        return null;
    }

    /**
     * The problem, or null. {@code sha256} (lowercase hex), {@code runtimeInput} and {@code runtimeOutput}
     * may be null where not known (not computed yet, or the runtime does not report shapes).
     */
    public static String problem(Sidecar sc, String fileName, long fileBytes, String sha256,
                                 int[] runtimeInput, int[] runtimeOutput) {
        String target = targetOf(fileName);
        if (target == null) return fileName + ": not a model file (.pte, .tflite, .mlpackage)";
        if (!target.equals(sc.target)) {
            return fileName + ": the sidecar is for a " + sc.target + " artifact, the file is " + target;
        }
        if (sc.tile <= 0 || sc.tile % 2 != 0 || sc.scale < 2 || sc.scale > 4) {
            return fileName + ": the sidecar's tile " + sc.tile + " / scale " + sc.scale + " is not usable";
        }
        int[] wantIn = {1, 3, sc.tile, sc.tile};
        int[] wantOut = {1, 3, sc.tile * sc.scale, sc.tile * sc.scale};
        if (!Arrays.equals(Sidecar.ints(sc.inputShape), wantIn) || !Arrays.equals(Sidecar.ints(sc.outputShape), wantOut)) {
            return fileName + ": the sidecar's shapes " + Sidecar.repr(sc.inputShape) + " -> " + Sidecar.repr(sc.outputShape)
                    + " disagree with its tile " + sc.tile + " and scale x" + sc.scale;
        }
        if (fileBytes != sc.artifactBytes) {
            String what = fileBytes < sc.artifactBytes ? "truncated" : "not the exported file";
            return fileName + ": " + what + ": " + fileBytes + " bytes, the sidecar records " + sc.artifactBytes;
        }
        if (sha256 != null && !sha256.equals(sc.artifactSha256)) {
            return fileName + ": contents differ from the exported file (sha256 " + sha256.substring(0, Math.min(12, sha256.length())) + "...)";
        }
        if (runtimeInput != null && !Arrays.equals(runtimeInput, wantIn)) {
            return fileName + ": the model takes " + shape(runtimeInput) + ", the sidecar says " + shape(wantIn)
                    + " (tile " + sc.tile + ")";
        }
        if (runtimeOutput != null && !Arrays.equals(runtimeOutput, wantOut)) {
            return fileName + ": the model returns " + shape(runtimeOutput) + ", the sidecar says " + shape(wantOut)
                    + " (scale x" + sc.scale + ")";
        }
        return null;
    }

    public static String shape(int[] s) {
        StringBuilder b = new StringBuilder("[");
        for (int k = 0; k < s.length; k++) b.append(k > 0 ? ", " : "").append(s[k]);
        return b.append(']').toString();
    }

    /** Lowercase hex sha256 of a stream (the sidecar's artifact_sha256). */
    public static String sha256(java.io.InputStream in) throws java.io.IOException {
        java.security.MessageDigest md;
        try {
            md = java.security.MessageDigest.getInstance("SHA-256");
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new java.io.IOException("no SHA-256 on this platform");
        }
        byte[] buf = new byte[1 << 16];
        for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
        StringBuilder b = new StringBuilder();
        for (byte x : md.digest()) b.append(String.format("%02x", x & 0xff));
        return b.toString();
    }

}
