// hpun_f32_pud_pool_ukernel_generic__baseline: the PUD's max pool on one NHWC half row, compiled
// for the target's default instruction set (SSE2 on x86-64, NEON on AArch64)
// (f32-pud-pool-generic.h; CMakeLists.txt sets this file's flags).
#include "f32-pud-pool/f32-pud-pool-generic.h"
#include "ukernels.h"

void hpun_f32_pud_pool_ukernel_generic__baseline(const float* ra, const float* rb, const float* rc,
                                                 float* e, float* o, int64_t w, int64_t channels,
                                                 float* scratch) {
  hpun::f32_pud_pool_generic(ra, rb, rc, e, o, w, channels, scratch);
}
