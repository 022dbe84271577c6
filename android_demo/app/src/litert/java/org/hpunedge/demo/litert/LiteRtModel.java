package org.hpunedge.demo.litert;

import java.io.FileInputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.FileChannel;

import org.hpunedge.demo.LoadedModel;
import org.hpunedge.demo.core.Pixels;
import org.tensorflow.lite.Interpreter;

/**
 * A LiteRT .tflite (hpun-edge's litert target: NCHW in, NCHW out; an NHWC model is permuted).
 * Only the Gradle build compiles this source set (no LiteRT jar can be fetched for the CI build);
 * the app finds it by name and says so when it is absent.
 */
public final class LiteRtModel implements LoadedModel {
    private final Interpreter interpreter;
    private final int tile, scale;
    private final boolean nhwc;
    private final int[] in, out;
    private final FloatBuffer input, output;

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
        input = ByteBuffer.allocateDirect(4 * 3 * tile * tile).order(ByteOrder.nativeOrder()).asFloatBuffer();
        int ts = tile * scale;
        output = ByteBuffer.allocateDirect(4 * 3 * ts * ts).order(ByteOrder.nativeOrder()).asFloatBuffer();
    }

    public int tile() { return tile; }

    public int scale() { return scale; }

    public float[] run(float[] chw) {
        input.rewind();
        input.put(nhwc ? Pixels.chwToHwc(chw, tile) : chw);
        input.rewind();
        output.rewind();
        interpreter.run(input, output);
        output.rewind();
        float[] y = new float[output.capacity()];
        output.get(y);
        return nhwc ? Pixels.hwcToChw(y, tile * scale) : y;
    }

    public int[] runtimeInputShape() { return in; }

    public int[] runtimeOutputShape() { return out; }

    public String runtimeName() { return "LiteRT"; }

    public void close() { interpreter.close(); }
}
