// hpun_f32_pud_pool_ukernel_generic__avx512f: the PUD's max pool on one NHWC half row, compiled for
// AVX-512F (+VL, AVX2, FMA) (f32-pud-pool-generic.h; CMakeLists.txt sets this file's flags).
#include "f32-pud-pool/f32-pud-pool-generic.h"
#include "ukernels.h"

#if !(defined(__AVX512F__) && defined(__AVX512VL__) && defined(__AVX2__) && defined(__FMA__))
#error "compile with -mavx512f -mavx512vl -mavx2 -mfma"
#endif

void hpun_f32_pud_pool_ukernel_generic__avx512f(const float* ra, const float* rb, const float* rc,
                                                float* e, float* o, int64_t w, int64_t channels,
                                                float* scratch) {
  hpun::f32_pud_pool_generic(ra, rb, rc, e, o, w, channels, scratch);
}
