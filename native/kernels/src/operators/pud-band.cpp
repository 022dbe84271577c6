// The PUD's row pipeline over one NHWC band (pud-band.h).
#include "operators/pud-band.h"

namespace hpun {

i64 PudBand::scratch_floats(i64 W, i64 C) {
  const i64 wp = W / 2 + 2;
  return (12 * wp + wp + 3 * wp + wp + W) * C;
}

PudBand::PudBand(const float* kt, const float* bias, i64 H, i64 W, i64 C, i64 o0, i64 o1,
                 float* scratch)
    : kt_(kt),
      bias_(bias),
      H_(H),
      C_(C),
      h_(H / 2),
      w_(W / 2),
      rowP_((W / 2 + 2) * C),
      rowF_(W * C),
      o0_(o0),
      uk_(f32_pud_config().for_channels(C)) {
  b_lo_ = o0 - 2 < 0 ? 0 : o0 - 2;
  b_hi_ = min_i64(h_, o1 + 2);
  c_lo_ = o0 - 1 < 0 ? 0 : o0 - 1;
  c_hi_ = min_i64(h_, o1 + 1);
  B_ = scratch;
  zero_ = B_ + 12 * rowP_;
  G_ = zero_ + rowP_;
  v_ = G_ + 3 * rowP_;
  vm_ = v_ + rowP_;
  for (i64 i = 0; i < rowP_; ++i) zero_[i] = 0.f;
}

i64 PudBand::first_input_row() const {
  return 2 * b_lo_ - 2 < 0 ? 0 : 2 * b_lo_ - 2;
}

i64 PudBand::input_rows_end(i64 k) const {
  const i64 rb = k + 2;
  if (rb < b_lo_ || rb >= b_hi_) return 0;
  return min_i64(H_, 2 * clampi(rb + 1, 0, h_ - 1) + 2);
}

void PudBand::pool_and_conv(i64 k, const RowSource& L) {
  const i64 C = C_, w = w_;
  const i64 rb = k + 2;
  if (rb >= b_lo_ && rb < b_hi_) {
    const i64 up = clampi(rb - 1, 0, h_ - 1), dn = clampi(rb + 1, 0, h_ - 1);
    for (int dy = 0; dy < 2; ++dy) {
      float* be = pooled_row(rb, 2 * dy);
      float* bo = pooled_row(rb, 2 * dy + 1);
      uk_.pool(L(2 * up + dy), L(2 * rb + dy), L(2 * dn + dy), be + C, bo + C, w, C, vm_);
      for (i64 c = 0; c < C; ++c) be[c] = be[(w + 1) * C + c] = bo[c] = bo[(w + 1) * C + c] = 0.f;
    }
  }
  const i64 rc = k + 1;
  if (rc >= c_lo_ && rc < c_hi_) {
    const float* rows[12];
    for (int s = 0; s < 4; ++s)
      for (int u = 0; u < 3; ++u) {
        const i64 r = rc + u - 1;
        rows[s * 3 + u] = (r < 0 || r >= h_) ? zero_ : pooled_row(r, s);
      }
    float* dst = conv_row(rc);
    uk_.gconv(rows, kt_, bias_, dst + C, w, C);
    for (i64 c = 0; c < C; ++c) {
      dst[c] = dst[C + c];
      dst[(w + 1) * C + c] = dst[w * C + c];
    }
  }
}

void PudBand::blend(i64 k, int dy, const float* l_row, i64 j0, i64 j1, float* dst) const {
  const float* far = conv_row(clampi(dy ? k + 1 : k - 1, 0, h_ - 1));
  uk_.up(far, conv_row(k), l_row, dst, j0, j1, C_, v_);
}

void PudBand::blend_conv1x1(i64 k, int dy, const float* l_row, const Conv1x1Row& conv,
                            const float* residual_row, bool relu, float* out_row, float* t) const {
  for (i64 j0 = 0; j0 < w_; j0 += kBlendChunk) {
    const i64 j1 = min_i64(w_, j0 + kBlendChunk), at = 2 * j0 * C_;
    blend(k, dy, l_row, j0, j1, t);
    conv(t, residual_row ? residual_row + at : nullptr, relu, out_row + at, 2 * (j1 - j0));
  }
}

}  // namespace hpun
