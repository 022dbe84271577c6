// hpun_f32_pud_up_ukernel_generic__avx2: the PUD's bilinear x2 plus input on part of one NHWC row,
// compiled for AVX2 + FMA (f32-pud-up-generic.h; CMakeLists.txt sets this file's flags).
#include "f32-pud-up/f32-pud-up-generic.h"
#include "ukernels.h"

#if !(defined(__AVX2__) && defined(__FMA__))
#error "compile with -mavx2 -mfma"
#endif

void hpun_f32_pud_up_ukernel_generic__avx2(const float* far, const float* near, const float* xr,
                                           float* t, int64_t j0, int64_t j1, int64_t channels,
                                           float* scratch) {
  hpun::f32_pud_up_generic(far, near, xr, t, j0, j1, channels, scratch);
}
