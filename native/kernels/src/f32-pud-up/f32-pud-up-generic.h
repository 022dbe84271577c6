// f32-pud-up, generic source: the PUD's bilinear x2 upsampling plus its input on half columns
// [j0, j1) of one NHWC output row, any C (ukernels.h), compiled once per ISA by
// f32-pud-up-generic-<isa>.cpp. The vertical blend v goes through scratch ((j1 - j0 + 2) * C
// floats).
#pragma once

#include "common.h"

namespace hpun {
namespace {

HPUN_INLINE void f32_pud_up_generic(const float* HPUN_RESTRICT far, const float* HPUN_RESTRICT near,
                                    const float* HPUN_RESTRICT xr, float* HPUN_RESTRICT t, i64 j0,
                                    i64 j1, i64 C, float* HPUN_RESTRICT v) {
  const float* HPUN_RESTRICT fp = far + j0 * C;
  const float* HPUN_RESTRICT np = near + j0 * C;
  for (i64 i = 0; i < (j1 - j0 + 2) * C; ++i) v[i] = 0.25f * fp[i] + 0.75f * np[i];
  for (i64 j = j0; j < j1; ++j) {
    const float* HPUN_RESTRICT vm = v + (j - j0) * C;
    const float* HPUN_RESTRICT v0 = vm + C;
    const float* HPUN_RESTRICT vp = v0 + C;
    const float* HPUN_RESTRICT xe = xr + 2 * j * C;
    float* HPUN_RESTRICT oe = t + 2 * (j - j0) * C;
    for (i64 c = 0; c < C; ++c) {
      oe[c] = xe[c] + (0.25f * vm[c] + 0.75f * v0[c]);
      oe[C + c] = xe[C + c] + (0.75f * v0[c] + 0.25f * vp[c]);
    }
  }
}

}  // namespace
}  // namespace hpun
