// hpun_f32_dwconv_ukernel_generic__avx512f: a depthwise k x k conv on one NHWC row, compiled for
// AVX-512F (+VL, AVX2, FMA) (f32-dwconv-generic.h; CMakeLists.txt sets this file's flags).
#include "f32-dwconv/f32-dwconv-generic.h"
#include "ukernels.h"

#if !(defined(__AVX512F__) && defined(__AVX512VL__) && defined(__AVX2__) && defined(__FMA__))
#error "compile with -mavx512f -mavx512vl -mavx2 -mfma"
#endif

void hpun_f32_dwconv_ukernel_generic__avx512f(const float* const* rows, int64_t width,
                                              int64_t channels, const float* dwt, const float* dwb,
                                              int64_t k, float* dst) {
  hpun::f32_dwconv_generic(rows, width, channels, dwt, dwb, k, dst);
}
