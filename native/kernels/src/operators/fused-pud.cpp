// hpun::fused_pud (hpun/fused-pud.h): NCHW plane by plane through the f32-pud-chw micro-kernel;
// NHWC band by band through the PUD's row pipeline (pud-band.h), each output row written as it is
// blended.
#include "hpun/fused-pud.h"

#include <vector>

#include "operators/pud-band.h"

namespace hpun {

std::size_t fused_pud_scratch_floats(std::int64_t width) {
  const i64 w = width / 2, wp = w + 2;
  return static_cast<std::size_t>(12 * w + 12 * wp + wp + 3 * wp + wp);
}

void fused_pud_plane(const float* x, float* out, std::int64_t height, std::int64_t width,
                     const float* w9x4, float bias, float* scratch) {
  f32_pud_config().chw(x, out, height, width, w9x4, bias, scratch);
}

void fused_pud_planes(const float* x, const float* w, const float* b, float* out,
                      std::int64_t channels, std::int64_t height, std::int64_t width,
                      std::int64_t plane_begin, std::int64_t plane_end) {
  std::vector<float> scratch(fused_pud_scratch_floats(width));
  const i64 plane = height * width;
  for (i64 p = plane_begin; p < plane_end; ++p) {
    const i64 c = p % channels;
    fused_pud_plane(x + p * plane, out + p * plane, height, width, w + 36 * c, b ? b[c] : 0.f,
                    scratch.data());
  }
}

std::size_t fused_pud_nhwc_scratch_floats(std::int64_t width, std::int64_t channels) {
  return static_cast<std::size_t>(PudBand::scratch_floats(width, channels));
}

void fused_pud_nhwc_transpose_weights(const float* w, std::int64_t channels, float* kt) {
  for (i64 c = 0; c < channels; ++c)
    for (int t = 0; t < 36; ++t) kt[t * channels + c] = w[c * 36 + t];
}

void fused_pud_nhwc_band(const float* x, const float* kt, const float* b, float* out,
                         std::int64_t channels, std::int64_t height, std::int64_t width,
                         std::int64_t row_begin, std::int64_t row_end, float* scratch) {
  const i64 rowF = width * channels;
  PudBand pud(kt, b, height, width, channels, row_begin, row_end, scratch);
  const RowSource L{x, rowF};
  for (i64 k = pud.first_step(); k < row_end; ++k) {
    pud.pool_and_conv(k, L);
    if (k < row_begin) continue;
    for (int dy = 0; dy < 2; ++dy) {
      const i64 r = 2 * k + dy;
      pud.blend(k, dy, L(r), 0, width / 2, out + r * rowF);
    }
  }
}

void fused_pud_nhwc(const float* x, const float* w, const float* b, float* out, std::int64_t batch,
                    std::int64_t channels, std::int64_t height, std::int64_t width) {
  std::vector<float> kt(36 * channels), zeros;
  fused_pud_nhwc_transpose_weights(w, channels, kt.data());
  if (!b) {
    zeros.assign(channels, 0.f);
    b = zeros.data();
  }
  std::vector<float> scratch(fused_pud_nhwc_scratch_floats(width, channels));
  const i64 image = height * width * channels;
  for (i64 n = 0; n < batch; ++n)
    fused_pud_nhwc_band(x + n * image, kt.data(), b, out + n * image, channels, height, width, 0,
                        height / 2, scratch.data());
}

const char* fused_pud_isa() {
  return f32_pud_config().isa;
}

}  // namespace hpun
