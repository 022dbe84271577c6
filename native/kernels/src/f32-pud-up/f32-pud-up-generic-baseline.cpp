// hpun_f32_pud_up_ukernel_generic__baseline: the PUD's bilinear x2 plus input on part of one NHWC
// row, compiled for the target's default instruction set (SSE2 on x86-64, NEON on AArch64)
// (f32-pud-up-generic.h; CMakeLists.txt sets this file's flags).
#include "f32-pud-up/f32-pud-up-generic.h"
#include "ukernels.h"

void hpun_f32_pud_up_ukernel_generic__baseline(const float* far, const float* near, const float* xr,
                                               float* t, int64_t j0, int64_t j1, int64_t channels,
                                               float* scratch) {
  hpun::f32_pud_up_generic(far, near, xr, t, j0, j1, channels, scratch);
}
