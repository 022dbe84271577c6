package org.hpunedge.demo.core;

import java.io.IOException;
import java.io.OutputStream;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

/**
 * An {@link ArgbSink} that encodes a PNG (8-bit RGB, or gray) as the bands arrive: the whole output is
 * never in memory, only one band. Call {@link #finish} after the run; it writes IEND (not close).
 */
public final class PngSink implements ArgbSink {
    private final OutputStream out;
    private final int width, height;
    private final boolean gray;
    private final Deflater deflater = new Deflater(6);
    private final byte[] chunk = new byte[1 << 16];
    private int rowsWritten;

    public PngSink(OutputStream out, int width, int height, boolean gray) throws IOException {
        this.out = out;
        this.width = width;
        this.height = height;
        this.gray = gray;
        out.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        byte[] ihdr = new byte[13];
        be32(ihdr, 0, width);
        be32(ihdr, 4, height);
        ihdr[8] = 8;
        ihdr[9] = (byte) (gray ? 0 : 2);
        writeChunk("IHDR", ihdr, 13);
    }

    /** Bytes this sink holds besides the band: one filtered row and a deflate chunk. */
    public static long bufferBytes(int width) {
        return 3L * width + 1 + (1 << 16) + (256 << 10); // + deflater state
    }

    public void band(int[] argb, int w, int y0, int rows) throws IOException {
        if (w != width || y0 != rowsWritten) throw new IOException("bands out of order: row " + y0 + ", expected " + rowsWritten);
        int bpp = gray ? 1 : 3;
        byte[] line = new byte[1 + bpp * w];
        for (int y = 0; y < rows; y++) {
            int o = y * w, k = 1;
            for (int x = 0; x < w; x++) {
                int p = argb[o + x];
                if (gray) {
                    line[k++] = (byte) (p & 0xff);
                } else {
                    line[k++] = (byte) (p >> 16);
                    line[k++] = (byte) (p >> 8);
                    line[k++] = (byte) p;
                }
            }
            deflater.setInput(line);
            while (!deflater.needsInput()) drain(Deflater.NO_FLUSH);
        }
        rowsWritten += rows;
    }

    public void finish() throws IOException {
        if (rowsWritten != height) throw new IOException("PNG has " + rowsWritten + " of " + height + " rows");
        deflater.finish();
        while (!deflater.finished()) drain(Deflater.NO_FLUSH);
        deflater.end();
        writeChunk("IEND", new byte[0], 0);
        out.flush();
    }

    private void drain(int flush) throws IOException {
        int n = deflater.deflate(chunk, 0, chunk.length, flush);
        if (n > 0) writeChunk("IDAT", chunk, n);
    }

    private void writeChunk(String type, byte[] data, int n) throws IOException {
        byte[] len = new byte[4];
        be32(len, 0, n);
        out.write(len);
        byte[] t = type.getBytes("US-ASCII");
        out.write(t);
        out.write(data, 0, n);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data, 0, n);
        be32(len, 0, (int) crc.getValue());
        out.write(len);
    }

    private static void be32(byte[] b, int i, int v) {
        b[i] = (byte) (v >>> 24);
        b[i + 1] = (byte) (v >>> 16);
        b[i + 2] = (byte) (v >>> 8);
        b[i + 3] = (byte) v;
    }
}
