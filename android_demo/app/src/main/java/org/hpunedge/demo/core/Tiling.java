package org.hpunedge.demo.core;

import java.util.ArrayList;
import java.util.List;

/**
 * Crop-and-stitch tiling, exactly as {@code hpun_edge.inference.tile_spans} / {@code tiled_forward}
 * with {@code fixed_size=True}: the image is edge-padded (replicate) to even sides and up to the tile,
 * every tile reads {@code overlap} pixels of context on each inner side and only its core is kept.
 * Tiles start at even LR coordinates. No blending: the kept cores abut.
 */
public final class Tiling {
    private Tiling() {}

    /** One tile along one axis, in LR pixels: it reads [start, stop) and keeps [keepStart, keepStop). */
    public static final class Span {
        public final int start, stop, keepStart, keepStop;

        public Span(int start, int stop, int keepStart, int keepStop) {
            this.start = start;
            this.stop = stop;
            this.keepStart = keepStart;
            this.keepStop = keepStop;
        }

        @Override
        public String toString() {
            return "[" + start + ", " + stop + ", " + keepStart + ", " + keepStop + "]";
        }
    }

    /** Cover [0, length) with tiles of {@code tile} pixels whose kept cores abut; length must be even. */
    public static List<Span> tileSpans(int length, int tile, int overlap) {
        if (tile % 2 != 0 || tile <= 0) {
            throw new IllegalArgumentException(
                    "tile size must be a positive even number (pixel_unshuffle), got " + tile);
        }
        if (overlap < 0 || tile <= 2 * overlap) {
            throw new IllegalArgumentException("tile size " + tile + " must exceed twice the overlap " + overlap);
        }
        if (length % 2 != 0) {
            throw new IllegalArgumentException("length " + length + " must be even (pad the image first)");
        }
        List<Span> spans = new ArrayList<Span>();
        if (length <= tile) {
            spans.add(new Span(0, length, 0, length));
            return spans;
        }
        int start = 0, keepStart = 0;
        while (true) {
            boolean last = start + tile >= length;
            if (last) start = length - tile;
            int stop = start + tile;
            int keepStop = last ? length : stop - overlap;
            spans.add(new Span(start, stop, keepStart, keepStop));
            if (last) return spans;
            keepStart = keepStop;
            start += tile - 2 * overlap;
        }
    }

    /** The tiles of a whole image: sides padded to even, then up to the tile (fixed-size graphs). */
    public static final class Plan {
        public final int width, height, paddedWidth, paddedHeight, tile, overlap;
        public final List<Span> rows, cols;

        public Plan(int width, int height, int tile, int overlap) {
            if (width <= 0 || height <= 0) {
                throw new IllegalArgumentException("image of " + width + "x" + height + " pixels");
            }
            this.width = width;
            this.height = height;
            this.tile = tile;
            this.overlap = overlap;
            this.paddedWidth = Math.max(width + width % 2, tile);
            this.paddedHeight = Math.max(height + height % 2, tile);
            this.rows = tileSpans(paddedHeight, tile, overlap);
            this.cols = tileSpans(paddedWidth, tile, overlap);
        }

        public int tileCount() {
            return rows.size() * cols.size();
        }
    }
}
