// hpun_f32_pud_pool_ukernel_generic__avx2: the PUD's max pool on one NHWC half row, compiled for
// AVX2 + FMA (f32-pud-pool-generic.h; CMakeLists.txt sets this file's flags).
#include "f32-pud-pool/f32-pud-pool-generic.h"
#include "ukernels.h"

#if !(defined(__AVX2__) && defined(__FMA__))
#error "compile with -mavx2 -mfma"
#endif

void hpun_f32_pud_pool_ukernel_generic__avx2(const float* ra, const float* rb, const float* rc,
                                             float* e, float* o, int64_t w, int64_t channels,
                                             float* scratch) {
  hpun::f32_pud_pool_generic(ra, rb, rc, e, o, w, channels, scratch);
}
