// f32-pw, generic source: a 1x1 conv with its epilogue on n NHWC pixels, any C (ukernels.h),
// compiled once per ISA by f32-pw-generic-<isa>.cpp with P, the pixels per register block:
//
// * P > 0 and C a multiple of 64: P pixels x 64 output channels accumulate in 16-float vectors (the
//   AVX-512 file: P = 4; the baseline file on AArch64: P = 1, a 16-float vector is four NEON
//   registers there);
// * otherwise (P = 0: the AVX2 and SSE2 files, whose registers are narrower than 16 floats and
// where
//   such vectors ran 10x slower, MEASUREMENTS.md; or C not a multiple of 64): plain loops that the
//   compiler vectorises at the registers' width.
#pragma once

#include "common.h"
#include "v16.h"

namespace hpun {
namespace {

#if HPUN_V16
template <int P>
HPUN_INLINE void pw_block_v16(const float* HPUN_RESTRICT t, const float* HPUN_RESTRICT pwt,
                              const float* HPUN_RESTRICT pwb, const float* HPUN_RESTRICT res,
                              bool relu, float* HPUN_RESTRICT out, i64 C, i64 ob) {
  v16 acc[P][4];
  for (int k = 0; k < 4; ++k) {
    const v16 bk = ld16(pwb + ob + 16 * k);
    for (int i = 0; i < P; ++i) acc[i][k] = bk;
  }
  for (i64 c = 0; c < C; ++c) {
    const float* wr = pwt + c * C + ob;
    const v16 w0 = ld16(wr), w1 = ld16(wr + 16), w2 = ld16(wr + 32), w3 = ld16(wr + 48);
#pragma GCC unroll 4
    for (int i = 0; i < P; ++i) {
      const v16 s = v16{} + t[i * C + c];
      acc[i][0] += s * w0;
      acc[i][1] += s * w1;
      acc[i][2] += s * w2;
      acc[i][3] += s * w3;
    }
  }
  for (int i = 0; i < P; ++i)
    for (int k = 0; k < 4; ++k) {
      v16 y = acc[i][k];
      if (relu) y = y < v16{} ? v16{} : y;
      if (res) y += ld16(res + i * C + ob + 16 * k);
      st16(out + i * C + ob + 16 * k, y);
    }
}
#endif

template <int P>
HPUN_INLINE void f32_pw_generic(const float* HPUN_RESTRICT t, const float* HPUN_RESTRICT pwt,
                                const float* HPUN_RESTRICT pwb, const float* HPUN_RESTRICT res,
                                bool relu, float* HPUN_RESTRICT out, i64 n, i64 C) {
#if HPUN_V16
  if (P > 0 && C % 64 == 0) {
    constexpr int kP = P > 0 ? P : 1;
    for (i64 ob = 0; ob < C; ob += 64) {
      i64 p = 0;
      for (; p + kP <= n; p += kP)
        pw_block_v16<kP>(t + p * C, pwt, pwb, res ? res + p * C : nullptr, relu, out + p * C, C,
                         ob);
      for (; p < n; ++p)
        pw_block_v16<1>(t + p * C, pwt, pwb, res ? res + p * C : nullptr, relu, out + p * C, C, ob);
    }
    return;
  }
#endif
  for (i64 p = 0; p < n; ++p) {
    const float* tp = t + p * C;
    float* op = out + p * C;
    for (i64 o = 0; o < C; ++o) op[o] = pwb[o];
    for (i64 c = 0; c < C; ++c) {
      const float s = tp[c];
      const float* HPUN_RESTRICT wr = pwt + c * C;
      for (i64 o = 0; o < C; ++o) op[o] += s * wr[o];
    }
    for (i64 o = 0; o < C; ++o) {
      float y = op[o];
      if (relu) y = y < 0.f ? 0.f : y;
      if (res) y += res[p * C + o];
      op[o] = y;
    }
  }
}

}  // namespace
}  // namespace hpun
