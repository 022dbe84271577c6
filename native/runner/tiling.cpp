#include "tiling.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace hpun {

std::vector<Span> tile_spans(int64_t length, int64_t tile, int64_t overlap) {
  if (tile % 2 || tile <= 0)
    throw std::invalid_argument("tile size must be a positive even number (pixel_unshuffle), got " +
                                std::to_string(tile));
  if (overlap < 0 || tile <= 2 * overlap)
    throw std::invalid_argument("tile size " + std::to_string(tile) + " must exceed twice the overlap " +
                                std::to_string(overlap));
  if (length % 2)
    throw std::invalid_argument("length " + std::to_string(length) + " must be even (pad the image first)");
  if (length <= tile) return {Span{0, length, 0, length}};
  std::vector<Span> spans;
  int64_t start = 0, keep_start = 0;
  while (true) {
    const bool last = start + tile >= length;
    if (last) start = length - tile;
    const int64_t stop = start + tile;
    const int64_t keep_stop = last ? length : stop - overlap;
    spans.push_back(Span{start, stop, keep_start, keep_stop});
    if (last) return spans;
    keep_start = keep_stop;
    start += tile - 2 * overlap;
  }
}

static int64_t padded(int64_t n, int64_t tile) { return std::max(n + n % 2, tile); }

int64_t count_tiles(int64_t h, int64_t w, int64_t tile, int64_t overlap) {
  return static_cast<int64_t>(tile_spans(padded(h, tile), tile, overlap).size() *
                              tile_spans(padded(w, tile), tile, overlap).size());
}

Image tiled_forward(const Image& x, int64_t scale, int64_t tile, int64_t overlap, const TileForward& forward,
                    const std::function<void(int64_t)>& on_tile) {
  const int64_t C = x.c, h = x.h, w = x.w, s = scale;
  const int64_t H = padded(h, tile), W = padded(w, tile);  // Python: _pad_to(even) then _pad_to(>= tile)
  const auto sys = tile_spans(H, tile, overlap), sxs = tile_spans(W, tile, overlap);
  Image out;
  out.c = C, out.h = h * s, out.w = w * s;
  out.data.assign(static_cast<size_t>(C * out.h * out.w), 0.0f);
  std::vector<float> in(static_cast<size_t>(C * tile * tile));
  const int64_t ts = tile * s;
  int64_t index = 0;
  for (const Span& sy : sys) {
    for (const Span& sx : sxs) {
      // The tile of the padded image: replicate padding of the bottom/right edges = clamped indices.
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < tile; ++i) {
          const float* row = &x.data[static_cast<size_t>((c * h + std::min(sy.start + i, h - 1)) * w)];
          float* dst = &in[static_cast<size_t>((c * tile + i) * tile)];
          for (int64_t j = 0; j < tile; ++j) dst[j] = row[std::min(sx.start + j, w - 1)];
        }
      const float* y = forward(in.data());
      // Keep the core; rows/columns beyond the image (padding) are cropped away.
      const int64_t oy = (sy.keep_start - sy.start) * s, ox = (sx.keep_start - sx.start) * s;
      const int64_t y0 = sy.keep_start * s, y1 = std::min(sy.keep_stop * s, out.h);
      const int64_t x0 = sx.keep_start * s, x1 = std::min(sx.keep_stop * s, out.w);
      for (int64_t c = 0; c < C; ++c)
        for (int64_t r = y0; r < y1; ++r) {
          const float* src = y + (c * ts + (oy + r - y0)) * ts + ox;
          std::copy(src, src + (x1 - x0), &out.data[static_cast<size_t>((c * out.h + r) * out.w + x0)]);
        }
      if (on_tile) on_tile(index);
      ++index;
    }
  }
  return out;
}

}  // namespace hpun
