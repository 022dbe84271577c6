// hpun_f32_dwconv_ukernel_generic__avx2: a depthwise k x k conv on one NHWC row, compiled for AVX2
// + FMA (f32-dwconv-generic.h; CMakeLists.txt sets this file's flags).
#include "f32-dwconv/f32-dwconv-generic.h"
#include "ukernels.h"

#if !(defined(__AVX2__) && defined(__FMA__))
#error "compile with -mavx2 -mfma"
#endif

void hpun_f32_dwconv_ukernel_generic__avx2(const float* const* rows, int64_t width,
                                           int64_t channels, const float* dwt, const float* dwb,
                                           int64_t k, float* dst) {
  hpun::f32_dwconv_generic(rows, width, channels, dwt, dwb, k, dst);
}
