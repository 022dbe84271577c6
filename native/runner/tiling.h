// Crop-and-stitch tiling with a fixed tile size: the C++ twin of hpun_edge/inference.py
// (`tile_spans`, `tiled_forward(..., fixed_size=True)`); the same spans, the same edge padding, so the
// stitched output equals the Python path's for the same per-tile forward.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace hpun {

// One tile along one axis, in LR pixels: it reads [start, stop) and keeps [keep_start, keep_stop).
struct Span {
  int64_t start, stop, keep_start, keep_stop;
};

// Cover [0, length) with tiles of `tile` pixels whose kept cores abut; `length` must be even.
// Throws std::invalid_argument with the Python function's message on bad arguments.
std::vector<Span> tile_spans(int64_t length, int64_t tile, int64_t overlap);

// Tiles a forward runs for an h x w image (after the even and fixed-size padding).
int64_t count_tiles(int64_t h, int64_t w, int64_t tile, int64_t overlap);

// A planar float image, C x H x W (the N = 1 of NCHW dropped).
struct Image {
  int64_t c = 0, h = 0, w = 0;
  std::vector<float> data;
};

// forward(tile_in) -> pointer to the C x (tile*scale) x (tile*scale) output, valid until the next call.
// tile_in is C x tile x tile. It may throw; the exception passes through.
using TileForward = std::function<const float*(const float* tile_in)>;

// The whole image through the fixed-size tiling: x is edge-padded (replicate, bottom/right) to even
// sizes and at least tile x tile, every tile is run, the kept cores are stitched, and the result is
// cropped back to (h*scale, w*scale). `on_tile` (may be empty) is called after each tile with its index.
Image tiled_forward(const Image& x, int64_t scale, int64_t tile, int64_t overlap, const TileForward& forward,
                    const std::function<void(int64_t)>& on_tile = {});

}  // namespace hpun
