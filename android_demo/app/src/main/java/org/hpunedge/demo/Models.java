package org.hpunedge.demo;

import android.content.Context;
import android.content.res.AssetManager;

import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.InvocationTargetException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.hpunedge.demo.core.ArtifactCheck;
import org.hpunedge.demo.core.RuntimeProbe;
import org.hpunedge.demo.core.Sidecar;
import org.hpunedge.demo.core.UpscaleException;

/**
 * The bundled models (assets/models/*.pte, *.tflite, each with its .json sidecar, put there by
 * scripts/copy_artifacts.sh) and their loading: sidecar parsed and checked against the file, runtime
 * probed, model loaded, the runtime's shapes checked against the sidecar. Every failure is an
 * {@link UpscaleException} with a message; nothing here throws anything else.
 */
final class Models {
    static final String DIR = "models";
    static final String LITERT_RUNNER = "org.hpunedge.demo.litert.LiteRtModel";

    private Models() {}

    /** Model file names in the assets for a runtime ("executorch": .pte, "litert": .tflite). */
    static List<String> list(Context ctx, String target) {
        List<String> out = new ArrayList<String>();
        try {
            String[] names = ctx.getAssets().list(DIR);
            if (names == null) return out;
            Arrays.sort(names);
            for (String n : names) {
                if (!n.endsWith(".json") && target.equals(ArtifactCheck.targetOf(n))) out.add(n);
            }
        } catch (IOException ignored) {
            // no models folder: an empty list, the UI says how to add models
        }
        return out;
    }

    static Sidecar sidecar(Context ctx, String name) throws UpscaleException {
        String text;
        try {
            text = new String(readAll(ctx.getAssets().open(DIR + "/" + name + ".json")), "UTF-8");
        } catch (IOException e) {
            throw new UpscaleException(name + ": no sidecar " + name + ".json beside it (copy both with scripts/copy_artifacts.sh)");
        }
        try {
            return Sidecar.parse(text);
        } catch (UpscaleException e) {
            throw new UpscaleException(name + ": sidecar " + name + ".json is not usable (" + e.getMessage() + ")");
        }
    }

    /** Load, refusing any disagreement between file, sidecar and runtime. */
    static LoadedModel open(Context ctx, String name, int threads) throws UpscaleException {
        Sidecar sc = sidecar(ctx, name);
        String target = ArtifactCheck.targetOf(name);
        String runtime = "executorch".equals(target) ? "ExecuTorch" : "LiteRT";
        String missing = "executorch".equals(target)
                ? RuntimeProbe.missing(RuntimeProbe.EXECUTORCH_CLASS, runtime, Models.class.getClassLoader())
                : RuntimeProbe.missing(RuntimeProbe.LITERT_CLASS, runtime, Models.class.getClassLoader());
        if (missing == null && !"executorch".equals(target)) {
            missing = RuntimeProbe.missing(LITERT_RUNNER, runtime, Models.class.getClassLoader());
        }
        File file = copyOut(ctx, name);
        String sha;
        try {
            sha = ArtifactCheck.sha256(new FileInputStream(file));
        } catch (IOException e) {
            throw new UpscaleException(name + ": cannot read it (" + e.getMessage() + ")");
        }
        String problem = ArtifactCheck.problem(sc, name, file.length(), sha, null, null);
        if (problem != null) throw new UpscaleException(problem);
        if (missing != null) throw new UpscaleException(missing);
        LoadedModel m;
        try {
            if ("executorch".equals(target)) {
                m = new ExecuTorchModel(file.getPath(), sc.tile, sc.scale);
            } else {
                m = (LoadedModel) Class.forName(LITERT_RUNNER).getConstructor(String.class, int.class, int.class, int.class)
                        .newInstance(file.getPath(), sc.tile, sc.scale, threads);
            }
        } catch (InvocationTargetException e) {
            throw new UpscaleException(RuntimeProbe.loadFailure(runtime, name, e.getCause()));
        } catch (UpscaleException e) {
            throw e;
        } catch (Throwable e) { // UnsatisfiedLinkError, NoClassDefFoundError, the runtime's own exceptions
            throw new UpscaleException(RuntimeProbe.loadFailure(runtime, name, e));
        }
        problem = ArtifactCheck.problem(sc, name, file.length(), sha, m.runtimeInputShape(), m.runtimeOutputShape());
        if (problem != null) {
            m.close();
            throw new UpscaleException(problem);
        }
        return m;
    }

    /** Runtimes want a file path: the asset is copied to the app's files once (again if its size changed). */
    private static File copyOut(Context ctx, String name) throws UpscaleException {
        File dir = new File(ctx.getFilesDir(), DIR);
        File f = new File(dir, name);
        AssetManager am = ctx.getAssets();
        try {
            if (!dir.isDirectory() && !dir.mkdirs()) throw new IOException("cannot create " + dir);
            long size = -1;
            try {
                size = am.openFd(DIR + "/" + name).getLength();
            } catch (IOException compressed) {
                // compressed assets have no fd; copy every time
            }
            if (f.isFile() && f.length() == size) return f;
            File tmp = new File(dir, name + ".tmp");
            InputStream in = am.open(DIR + "/" + name);
            OutputStream out = new FileOutputStream(tmp);
            try {
                byte[] buf = new byte[1 << 16];
                for (int n; (n = in.read(buf)) > 0; ) out.write(buf, 0, n);
            } finally {
                in.close();
                out.close();
            }
            if (!tmp.renameTo(f)) throw new IOException("cannot rename " + tmp);
            return f;
        } catch (IOException e) {
            throw new UpscaleException(name + ": cannot copy it out of the app (" + e.getMessage() + ")");
        }
    }

    static byte[] readAll(InputStream in) throws IOException {
        try {
            java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
            byte[] buf = new byte[1 << 14];
            for (int n; (n = in.read(buf)) > 0; ) b.write(buf, 0, n);
            return b.toByteArray();
        } finally {
            in.close();
        }
    }
}
