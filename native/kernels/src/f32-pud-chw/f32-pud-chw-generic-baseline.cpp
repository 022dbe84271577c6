// hpun_f32_pud_chw_ukernel_generic__baseline: hpun::fused_pud on one NCHW plane, compiled for the
// target's default instruction set (SSE2 on x86-64, NEON on AArch64) (f32-pud-chw-generic.h;
// CMakeLists.txt sets this file's flags).
#include "f32-pud-chw/f32-pud-chw-generic.h"
#include "ukernels.h"

void hpun_f32_pud_chw_ukernel_generic__baseline(const float* x, float* out, int64_t height,
                                                int64_t width, const float* k36, float bias,
                                                float* scratch) {
  hpun::f32_pud_chw_generic(x, out, height, width, k36, bias, scratch);
}
