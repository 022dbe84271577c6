// hpun::fused_pud_pw(_add) (hpun/fused-pud-pw.h): the PUD's row pipeline (pud-band.h), each output
// row blended and 1x1-convolved in L1-sized chunks, so the PUD's own output never reaches memory.
#include "hpun/fused-pud-pw.h"

#include <vector>

#include "hpun/fused-pud.h"
#include "operators/pud-band.h"

namespace hpun {

std::size_t fused_pud_pw_nhwc_scratch_floats(std::int64_t width, std::int64_t channels) {
  return static_cast<std::size_t>(PudBand::scratch_floats(width, channels) + width * channels);
}

void fused_pud_pw_nhwc_band(const float* x, const float* kt, const float* b,
                            const PointwiseEpilogue& pw, float* out, std::int64_t channels,
                            std::int64_t height, std::int64_t width, std::int64_t row_begin,
                            std::int64_t row_end, float* scratch) {
  const i64 rowF = width * channels;
  PudBand pud(kt, b, height, width, channels, row_begin, row_end, scratch);
  float* t = pud.scratch_end();  // one row
  const Conv1x1Row conv(pw, channels);
  const RowSource L{x, rowF};
  for (i64 k = pud.first_step(); k < row_end; ++k) {
    pud.pool_and_conv(k, L);
    if (k < row_begin) continue;
    for (int dy = 0; dy < 2; ++dy) {
      const i64 at = (2 * k + dy) * rowF;
      pud.blend_conv1x1(k, dy, x + at, conv, pw.residual ? pw.residual + at : nullptr, pw.relu,
                        out + at, t);
    }
  }
}

void fused_pud_pw_nhwc(const float* x, const float* w, const float* b, const float* pw_w,
                       const float* pw_b, const float* residual, bool relu, float* out,
                       std::int64_t batch, std::int64_t channels, std::int64_t height,
                       std::int64_t width) {
  std::vector<float> kt(36 * channels), pwt(channels * channels), zeros(channels, 0.f);
  fused_pud_nhwc_transpose_weights(w, channels, kt.data());
  conv1x1_transpose_weights(pw_w, channels, pwt.data());
  std::vector<float> scratch(fused_pud_pw_nhwc_scratch_floats(width, channels));
  const i64 image = height * width * channels;
  for (i64 n = 0; n < batch; ++n) {
    PointwiseEpilogue pw;
    pw.pwt = pwt.data();
    pw.pwb = pw_b ? pw_b : zeros.data();
    pw.residual = residual ? residual + n * image : nullptr;
    pw.relu = relu;
    fused_pud_pw_nhwc_band(x + n * image, kt.data(), b ? b : zeros.data(), pw, out + n * image,
                           channels, height, width, 0, height / 2, scratch.data());
  }
}

}  // namespace hpun
