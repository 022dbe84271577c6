// hpun_f32_dwconv_ukernel_generic__baseline: a depthwise k x k conv on one NHWC row, compiled for
// the target's default instruction set (SSE2 on x86-64, NEON on AArch64) (f32-dwconv-generic.h;
// CMakeLists.txt sets this file's flags).
#include "f32-dwconv/f32-dwconv-generic.h"
#include "ukernels.h"

void hpun_f32_dwconv_ukernel_generic__baseline(const float* const* rows, int64_t width,
                                               int64_t channels, const float* dwt, const float* dwb,
                                               int64_t k, float* dst) {
  hpun::f32_dwconv_generic(rows, width, channels, dwt, dwb, k, dst);
}
