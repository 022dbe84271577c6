// hpun_f32_pw_ukernel_generic__avx2: a 1x1 conv on n NHWC pixels, compiled for AVX2 + FMA, plain
// loops (f32-pw-generic.h; CMakeLists.txt sets this file's flags).
#include "f32-pw/f32-pw-generic.h"
#include "ukernels.h"

#if !(defined(__AVX2__) && defined(__FMA__))
#error "compile with -mavx2 -mfma"
#endif

void hpun_f32_pw_ukernel_generic__avx2(const float* t, const float* pwt, const float* pwb,
                                       const float* res, bool relu, float* out, int64_t n,
                                       int64_t channels) {
  hpun::f32_pw_generic<0>(t, pwt, pwb, res, relu, out, n, channels);
}
