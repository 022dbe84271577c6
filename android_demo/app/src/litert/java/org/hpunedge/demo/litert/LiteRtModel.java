package org.hpunedge.demo.litert;

import java.io.FileInputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;

import org.hpunedge.demo.LoadedModel;
import org.hpunedge.demo.core.Pixels;
import org.tensorflow.lite.DataType;
import org.tensorflow.lite.Interpreter;
import org.tensorflow.lite.Tensor;

/**
 * A LiteRT .tflite (hpun-edge's litert target: NCHW in, NCHW out; an NHWC model is permuted).
 * Only the Gradle build compiles this source set (no LiteRT jar can be fetched for the CI build);
 * the app finds it by name and says so when it is absent. An int8 model (hpun-edge's litert int8)
 * takes and returns int8 tensors: input is quantized and output dequantized with the tensors' own
 * scale and zero point, as the Python runner does.
 */
public final class LiteRtModel implements LoadedModel {
    private final Interpreter interpreter;
    private final int tile, scale;
    private final boolean nhwc;
    private final int[] in, out;
    private final ByteBuffer input, output;
    private final Tensor.QuantizationParams inQ, outQ;
    private final boolean int8In, int8Out;

    public LiteRtModel(String path, int tile, int scale, int threads) throws Exception {
        FileInputStream f = new FileInputStream(path);
        ByteBuffer model;
        try {
            FileChannel ch = f.getChannel();
            model = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size());
        } finally {
            f.close();
        }
        Interpreter.Options opts = new Interpreter.Options();
        opts.setNumThreads(threads);
        interpreter = new Interpreter(model, opts);
        this.tile = tile;
        this.scale = scale;
        int[] is = interpreter.getInputTensor(0).shape(), os = interpreter.getOutputTensor(0).shape();
        nhwc = is.length == 4 && is[3] == 3 && is[1] != 3;
        in = nhwc ? new int[] {is[0], is[3], is[1], is[2]} : is;
        out = nhwc && os.length == 4 ? new int[] {os[0], os[3], os[1], os[2]} : os;
        Tensor it = interpreter.getInputTensor(0), ot = interpreter.getOutputTensor(0);
        int8In = it.dataType() == DataType.INT8;
        int8Out = ot.dataType() == DataType.INT8;
        inQ = it.quantizationParams();
        outQ = ot.quantizationParams();
        int ts = tile * scale;
        input = ByteBuffer.allocateDirect((int8In ? 1 : 4) * 3 * tile * tile).order(ByteOrder.nativeOrder());
        output = ByteBuffer.allocateDirect((int8Out ? 1 : 4) * 3 * ts * ts).order(ByteOrder.nativeOrder());
    }

    public int tile() { return tile; }

    public int scale() { return scale; }

    public float[] run(float[] chw) {
        float[] x = nhwc ? Pixels.chwToHwc(chw, tile) : chw;
        input.rewind();
        if (int8In) {
            for (float v : x) {
                long q = Math.round(v / inQ.getScale()) + inQ.getZeroPoint();
                input.put((byte) Math.max(-128, Math.min(127, q)));
            }
        } else {
            input.asFloatBuffer().put(x);
        }
        input.rewind();
        output.rewind();
        interpreter.run(input, output);
        output.rewind();
        int n = 3 * tile * scale * tile * scale;
        float[] y = new float[n];
        if (int8Out) {
            for (int i = 0; i < n; i++) y[i] = (output.get(i) - outQ.getZeroPoint()) * outQ.getScale();
        } else {
            output.asFloatBuffer().get(y);
        }
        return nhwc ? Pixels.hwcToChw(y, tile * scale) : y;
    }

    public int[] runtimeInputShape() { return in; }

    public int[] runtimeOutputShape() { return out; }

    public String runtimeName() { return "LiteRT"; }

    public void close() { interpreter.close(); }
}
