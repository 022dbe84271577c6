// f32-pud-pool, generic source: the PUD's max pool on one pooled half row of an NHWC tensor, any C
// (ukernels.h), compiled once per ISA by f32-pud-pool-generic-<isa>.cpp. The vertical max of the
// three input rows goes to a full-width row (scratch), then its horizontal 3-max is taken and split
// into the even and odd columns' sub-images; every inner loop runs across the C channels.
#pragma once

#include "common.h"

namespace hpun {
namespace {

// e[j] = max of vm's pixels 2j-2, 2j, 2j+2 and o[j] = max of pixels 2j-1, 2j+1, 2j+3 (C floats
// each), skipping pixels outside the row.
HPUN_INLINE void nhwc_hmax_deinterleave(const float* HPUN_RESTRICT xr, float* HPUN_RESTRICT e,
                                        float* HPUN_RESTRICT o, i64 w, i64 C) {
  for (i64 j = 0; j < w; ++j) {
    const float* ce = xr + 2 * j * C;  // column 2j
    const float* co = ce + C;          // column 2j + 1
    float* de = e + j * C;
    float* dout = o + j * C;
    if (j > 0 && j < w - 1) {
      for (i64 c = 0; c < C; ++c) {
        de[c] = fmax2(fmax2(ce[c - 2 * C], ce[c]), ce[c + 2 * C]);
        dout[c] = fmax2(fmax2(co[c - 2 * C], co[c]), co[c + 2 * C]);
      }
    } else {
      for (i64 c = 0; c < C; ++c) {
        float me = ce[c], mo = co[c];
        if (j > 0) {
          me = fmax2(me, ce[c - 2 * C]);
          mo = fmax2(mo, co[c - 2 * C]);
        }
        if (j < w - 1) {
          me = fmax2(me, ce[c + 2 * C]);
          mo = fmax2(mo, co[c + 2 * C]);
        }
        de[c] = me;
        dout[c] = mo;
      }
    }
  }
}

HPUN_INLINE void f32_pud_pool_generic(const float* ra, const float* rb, const float* rc, float* e,
                                      float* o, i64 w, i64 C, float* vm) {
  vmax3(ra, rb, rc, vm, 2 * w * C);
  nhwc_hmax_deinterleave(vm, e, o, w, C);
}

}  // namespace
}  // namespace hpun
