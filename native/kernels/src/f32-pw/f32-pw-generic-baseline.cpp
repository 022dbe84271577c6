// hpun_f32_pw_ukernel_generic__baseline: a 1x1 conv on n NHWC pixels, compiled for the target's
// default instruction set (f32-pw-generic.h): plain loops on x86-64 (SSE2), 1 pixel x 64 channels
// per block for C a multiple of 64 elsewhere (NEON on AArch64).
#include "f32-pw/f32-pw-generic.h"
#include "ukernels.h"

void hpun_f32_pw_ukernel_generic__baseline(const float* t, const float* pwt, const float* pwb,
                                           const float* res, bool relu, float* out, int64_t n,
                                           int64_t channels) {
#if defined(__x86_64__) || defined(_M_X64)
  hpun::f32_pw_generic<0>(t, pwt, pwb, res, relu, out, n, channels);
#else
  hpun::f32_pw_generic<1>(t, pwt, pwb, res, relu, out, n, channels);
#endif
}
