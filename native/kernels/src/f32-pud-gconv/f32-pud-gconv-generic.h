// f32-pud-gconv, generic source: the PUD's grouped 3x3 conv on one half row of an NHWC tensor, any
// C (ukernels.h), compiled once per ISA by f32-pud-gconv-generic-<isa>.cpp. All 36 taps of an
// output pixel accumulate in registers for a vector of channels (one store per output).
#pragma once

#include "common.h"

namespace hpun {
namespace {

// Three taps of one kernel row: kt[t], kt[t + 1], kt[t + 2] (C floats each) against the padded
// row's pixels j - 1, j, j + 1 (r points at pixel j - 1). No restrict on these parameters: GCC 12
// then no longer vectorises the caller's loop (the restrict pointers are the caller's).
HPUN_INLINE float gconv_taps3(const float* kt, const float* r, i64 t, i64 c, i64 C) {
  return kt[t * C + c] * r[c] + kt[(t + 1) * C + c] * r[c + C] + kt[(t + 2) * C + c] * r[c + 2 * C];
}

HPUN_INLINE void f32_pud_gconv_generic(const float* const* rows, const float* HPUN_RESTRICT kt,
                                       const float* HPUN_RESTRICT bias, float* HPUN_RESTRICT dst,
                                       i64 w, i64 C) {
  for (i64 j = 0; j < w; ++j) {
    const float* HPUN_RESTRICT r0 = rows[0] + j * C;
    const float* HPUN_RESTRICT r1 = rows[1] + j * C;
    const float* HPUN_RESTRICT r2 = rows[2] + j * C;
    const float* HPUN_RESTRICT r3 = rows[3] + j * C;
    const float* HPUN_RESTRICT r4 = rows[4] + j * C;
    const float* HPUN_RESTRICT r5 = rows[5] + j * C;
    const float* HPUN_RESTRICT r6 = rows[6] + j * C;
    const float* HPUN_RESTRICT r7 = rows[7] + j * C;
    const float* HPUN_RESTRICT r8 = rows[8] + j * C;
    const float* HPUN_RESTRICT r9 = rows[9] + j * C;
    const float* HPUN_RESTRICT r10 = rows[10] + j * C;
    const float* HPUN_RESTRICT r11 = rows[11] + j * C;
    float* HPUN_RESTRICT d = dst + j * C;
    for (i64 c = 0; c < C; ++c) {  // one partial sum per sub-image
      float a0 = gconv_taps3(kt, r0, 0, c, C) + gconv_taps3(kt, r1, 3, c, C) +
                 gconv_taps3(kt, r2, 6, c, C);
      float a1 = gconv_taps3(kt, r3, 9, c, C) + gconv_taps3(kt, r4, 12, c, C) +
                 gconv_taps3(kt, r5, 15, c, C);
      float a2 = gconv_taps3(kt, r6, 18, c, C) + gconv_taps3(kt, r7, 21, c, C) +
                 gconv_taps3(kt, r8, 24, c, C);
      float a3 = gconv_taps3(kt, r9, 27, c, C) + gconv_taps3(kt, r10, 30, c, C) +
                 gconv_taps3(kt, r11, 33, c, C);
      d[c] = bias[c] + ((a0 + a1) + (a2 + a3));
    }
  }
}

}  // namespace
}  // namespace hpun
