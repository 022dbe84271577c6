// hpun_f32_pud_gconv_ukernel_generic__baseline: the PUD's grouped 3x3 conv on one NHWC half row,
// compiled for the target's default instruction set (SSE2 on x86-64, NEON on AArch64)
// (f32-pud-gconv-generic.h; CMakeLists.txt sets this file's flags).
#include "f32-pud-gconv/f32-pud-gconv-generic.h"
#include "ukernels.h"

void hpun_f32_pud_gconv_ukernel_generic__baseline(const float* const* rows, const float* kt,
                                                  const float* bias, float* dst, int64_t w,
                                                  int64_t channels) {
  hpun::f32_pud_gconv_generic(rows, kt, bias, dst, w, channels);
}
