// hpun_qs8_pw_ukernel_generic__baseline: the int8 1x1 conv on n NHWC pixels, compiled for the
// target's default instruction set (qs8-pw-generic.h; SSE2 on x86-64, NEON on AArch64).
#include "qs8-pw/qs8-pw-generic.h"
#include "ukernels.h"

void hpun_qs8_pw_ukernel_generic__baseline(const float* x, const hpun_qs8_pw_params* params,
                                           const float* res, bool relu, float* out, int64_t n,
                                           uint8_t* scratch) {
  hpun::qs8_pw_generic(x, *params, res, relu, out, n, scratch);
}
