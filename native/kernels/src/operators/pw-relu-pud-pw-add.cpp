// hpun::pw_relu_pud_pw_add(_q8) (hpun/pw-relu-pud-pw-add.h): the PUD's row pipeline (pud-band.h) on
// L = relu(conv1x1(x, pre)), whose rows are made into a ring of kPreRing rows as the pooling first
// needs them: the pooling reads L rows up to 2k + 7 while stage D, at step k, re-reads rows 2k and
// 2k + 1, so eight rows span it. Each output row is blended, 1x1-convolved and added to x in
// L1-sized chunks; L never reaches memory, and x is read once plus once more for the residual.
#include "hpun/pw-relu-pud-pw-add.h"

#include <vector>

#include "hpun/fused-pud.h"
#include "operators/pud-band.h"

namespace hpun {
namespace {
constexpr i64 kPreRing = 8;
}  // namespace

std::size_t pw_relu_pud_pw_add_nhwc_scratch_floats(std::int64_t width, std::int64_t channels) {
  return static_cast<std::size_t>(PudBand::scratch_floats(width, channels) +
                                  (1 + kPreRing) * width * channels);
}

void pw_relu_pud_pw_add_nhwc_band(const float* x, const float* pre_t, const float* pre_b,
                                  const float* kt, const float* b, const float* pwt,
                                  const float* pwb, float* out, std::int64_t channels,
                                  std::int64_t height, std::int64_t width, std::int64_t row_begin,
                                  std::int64_t row_end, float* scratch, const PointwiseQ8* pre_q8,
                                  const PointwiseQ8* pw_q8) {
  const i64 rowF = width * channels;
  PudBand pud(kt, b, height, width, channels, row_begin, row_end, scratch);
  float* t = pud.scratch_end();  // one row
  float* ring = t + rowF;        // kPreRing rows of L
  PointwiseEpilogue pre, pw;
  if (pre_q8) {
    pre.q8 = pre_q8;
  } else {
    pre.pwt = pre_t;
    pre.pwb = pre_b;
  }
  if (pw_q8) {
    pw.q8 = pw_q8;
  } else {
    pw.pwt = pwt;
    pw.pwb = pwb;
  }
  const Conv1x1Row pre_conv(pre, channels), conv(pw, channels);
  const RowSource L{ring, rowF, kPreRing};
  i64 l_next = pud.first_input_row();  // L rows [.., l_next) are in the ring
  for (i64 k = pud.first_step(); k < row_end; ++k) {
    for (const i64 end = pud.input_rows_end(k); l_next < end; ++l_next)
      pre_conv(x + l_next * rowF, nullptr, /*relu=*/true, ring + (l_next % kPreRing) * rowF, width);
    pud.pool_and_conv(k, L);
    if (k < row_begin) continue;
    for (int dy = 0; dy < 2; ++dy) {
      const i64 r = 2 * k + dy, at = r * rowF;
      pud.blend_conv1x1(k, dy, L(r), conv, x + at, /*relu=*/false, out + at, t);
    }
  }
}

void pw_relu_pud_pw_add_nhwc(const float* x, const float* x_w, const float* x_b, const float* w,
                             const float* b, const float* pw_w, const float* pw_b, float* out,
                             std::int64_t batch, std::int64_t channels, std::int64_t height,
                             std::int64_t width) {
  std::vector<float> kt(36 * channels), pwt(channels * channels), xt(channels * channels),
      zeros(channels, 0.f);
  fused_pud_nhwc_transpose_weights(w, channels, kt.data());
  conv1x1_transpose_weights(pw_w, channels, pwt.data());
  conv1x1_transpose_weights(x_w, channels, xt.data());
  std::vector<float> scratch(pw_relu_pud_pw_add_nhwc_scratch_floats(width, channels));
  const i64 image = height * width * channels;
  for (i64 n = 0; n < batch; ++n)
    pw_relu_pud_pw_add_nhwc_band(x + n * image, xt.data(), x_b ? x_b : zeros.data(), kt.data(),
                                 b ? b : zeros.data(), pwt.data(), pw_b ? pw_b : zeros.data(),
                                 out + n * image, channels, height, width, 0, height / 2,
                                 scratch.data());
}

}  // namespace hpun
