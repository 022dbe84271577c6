package org.hpunedge.demo;

import org.hpunedge.demo.core.UpscaleException;
import org.pytorch.executorch.EValue;
import org.pytorch.executorch.Module;
import org.pytorch.executorch.Tensor;

/**
 * An ExecuTorch .pte (XNNPACK) through org.pytorch:executorch-android's Java API. Compiled against
 * that API in every build; the CI-built APK does not contain it, so {@link Models} probes first.
 */
final class ExecuTorchModel implements LoadedModel {
    private final Module module;
    private final int tile, scale;
    private final long[] shape;
    private int[] outShape;

    ExecuTorchModel(String path, int tile, int scale) throws UpscaleException {
        this.module = Module.load(path);
        this.tile = tile;
        this.scale = scale;
        this.shape = new long[] {1, 3, tile, tile};
        // ExecuTorch's Java API reports no shapes before running: run one blank tile to learn the output
        Tensor probe = forward(new float[3 * tile * tile]);
        long[] s = probe.shape();
        outShape = new int[s.length];
        for (int k = 0; k < s.length; k++) outShape[k] = (int) s[k];
    }

    private Tensor forward(float[] chw) throws UpscaleException {
        EValue[] out = module.forward(EValue.from(Tensor.fromBlob(chw, shape)));
        if (out == null || out.length == 0 || !out[0].isTensor()) {
            throw new UpscaleException("the .pte returned no tensor (it is not an hpun-edge export)");
        }
        return out[0].toTensor();
    }

    public int tile() { return tile; }

    public int scale() { return scale; }

    public float[] run(float[] chw) throws UpscaleException {
        return forward(chw).getDataAsFloatArray();
    }

    public int[] runtimeInputShape() { return null; } // a wrong input shape fails the probe run

    public int[] runtimeOutputShape() { return outShape; }

    public String runtimeName() { return "ExecuTorch (XNNPACK)"; }

    public void close() { module.destroy(); }
}
