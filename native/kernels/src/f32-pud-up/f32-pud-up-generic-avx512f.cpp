// hpun_f32_pud_up_ukernel_generic__avx512f: the PUD's bilinear x2 plus input on part of one NHWC
// row, compiled for AVX-512F (+VL, AVX2, FMA) (f32-pud-up-generic.h; CMakeLists.txt sets this
// file's flags).
#include "f32-pud-up/f32-pud-up-generic.h"
#include "ukernels.h"

#if !(defined(__AVX512F__) && defined(__AVX512VL__) && defined(__AVX2__) && defined(__FMA__))
#error "compile with -mavx512f -mavx512vl -mavx2 -mfma"
#endif

void hpun_f32_pud_up_ukernel_generic__avx512f(const float* far, const float* near, const float* xr,
                                              float* t, int64_t j0, int64_t j1, int64_t channels,
                                              float* scratch) {
  hpun::f32_pud_up_generic(far, near, xr, t, j0, j1, channels, scratch);
}
