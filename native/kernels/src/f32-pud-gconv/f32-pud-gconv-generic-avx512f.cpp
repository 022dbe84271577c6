// hpun_f32_pud_gconv_ukernel_generic__avx512f: the PUD's grouped 3x3 conv on one NHWC half row,
// compiled for AVX-512F (+VL, AVX2, FMA) (f32-pud-gconv-generic.h; CMakeLists.txt sets this file's
// flags).
#include "f32-pud-gconv/f32-pud-gconv-generic.h"
#include "ukernels.h"

#if !(defined(__AVX512F__) && defined(__AVX512VL__) && defined(__AVX2__) && defined(__FMA__))
#error "compile with -mavx512f -mavx512vl -mavx2 -mfma"
#endif

void hpun_f32_pud_gconv_ukernel_generic__avx512f(const float* const* rows, const float* kt,
                                                 const float* bias, float* dst, int64_t w,
                                                 int64_t channels) {
  hpun::f32_pud_gconv_generic(rows, kt, bias, dst, w, channels);
}
