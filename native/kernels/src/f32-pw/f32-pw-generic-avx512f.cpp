// hpun_f32_pw_ukernel_generic__avx512f: a 1x1 conv on n NHWC pixels, compiled for AVX-512F (+VL,
// AVX2, FMA), 4 pixels x 64 channels per block for C a multiple of 64 (f32-pw-generic.h;
// CMakeLists.txt sets this file's flags). C == 64 has its own kernel, f32-pw-6x64-avx512f.cpp.
#include "f32-pw/f32-pw-generic.h"
#include "ukernels.h"

#if !(defined(__AVX512F__) && defined(__AVX512VL__) && defined(__AVX2__) && defined(__FMA__))
#error "compile with -mavx512f -mavx512vl -mavx2 -mfma"
#endif

void hpun_f32_pw_ukernel_generic__avx512f(const float* t, const float* pwt, const float* pwb,
                                          const float* res, bool relu, float* out, int64_t n,
                                          int64_t channels) {
  hpun::f32_pw_generic<4>(t, pwt, pwb, res, relu, out, n, channels);
}
