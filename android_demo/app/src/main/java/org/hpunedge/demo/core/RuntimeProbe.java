package org.hpunedge.demo.core;

/**
 * Whether a runtime's Java API is in this build. The CI-built APK compiles against ExecuTorch's API
 * but does not bundle it, and has no LiteRT code at all: the app asks here first and says so.
 */
public final class RuntimeProbe {
    private RuntimeProbe() {}

    public static final String EXECUTORCH_CLASS = "org.pytorch.executorch.Module";
    public static final String LITERT_CLASS = "org.tensorflow.lite.Interpreter";

    /** null when {@code className} loads, else a message for the user. */
    public static String missing(String className, String runtime, ClassLoader loader) {
        try {
            Class.forName(className, false, loader);
            return null;
        } catch (ClassNotFoundException e) {
            return runtime + " is not in this build of the app (" + className + " not found). "
                    + "The APK built without Gradle leaves the runtimes out; build with Gradle (android_demo/README.md).";
        } catch (LinkageError e) {
            return runtime + " cannot be loaded in this build (" + e + ")";
        }
    }

    /** A message for a Throwable a runtime raised while loading (native library missing, bad file). */
    public static String loadFailure(String runtime, String fileName, Throwable e) {
        if (e instanceof UnsatisfiedLinkError) {
            return runtime + "'s native library is missing from this build (" + e.getMessage() + ")";
        }
        if (e instanceof NoClassDefFoundError) {
            return runtime + " is not in this build of the app (" + e.getMessage() + " missing)";
        }
        String m = e.getMessage();
        return fileName + ": the " + runtime + " runtime cannot load it (" + e.getClass().getSimpleName()
                + (m == null ? "" : ": " + m.split("\n", 2)[0]) + ")";
    }
}
