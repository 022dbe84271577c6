// hpun_f32_pud_chw_ukernel_generic__avx512f: hpun::fused_pud on one NCHW plane, compiled for
// AVX-512F (+VL, AVX2, FMA) (f32-pud-chw-generic.h; CMakeLists.txt sets this file's flags).
#include "f32-pud-chw/f32-pud-chw-generic.h"
#include "ukernels.h"

#if !(defined(__AVX512F__) && defined(__AVX512VL__) && defined(__AVX2__) && defined(__FMA__))
#error "compile with -mavx512f -mavx512vl -mavx2 -mfma"
#endif

void hpun_f32_pud_chw_ukernel_generic__avx512f(const float* x, float* out, int64_t height,
                                               int64_t width, const float* k36, float bias,
                                               float* scratch) {
  hpun::f32_pud_chw_generic(x, out, height, width, k36, bias, scratch);
}
