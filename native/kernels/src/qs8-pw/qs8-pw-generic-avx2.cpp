// hpun_qs8_pw_ukernel_generic__avx2: the int8 1x1 conv on n NHWC pixels, compiled for AVX2 + FMA
// (qs8-pw-generic.h; CMakeLists.txt sets this file's flags).
#include "qs8-pw/qs8-pw-generic.h"
#include "ukernels.h"

#if !(defined(__AVX2__) && defined(__FMA__))
#error "compile with -mavx2 -mfma"
#endif

void hpun_qs8_pw_ukernel_generic__avx2(const float* x, const hpun_qs8_pw_params* params,
                                       const float* res, bool relu, float* out, int64_t n,
                                       uint8_t* scratch) {
  hpun::qs8_pw_generic(x, *params, res, relu, out, n, scratch);
}
