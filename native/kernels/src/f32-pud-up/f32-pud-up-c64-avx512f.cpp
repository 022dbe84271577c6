// hpun_f32_pud_up_ukernel_c64__avx512f: the PUD's bilinear x2 plus input on half columns [j0, j1)
// of one NHWC row (ukernels.h) for C == 64, AVX-512F intrinsics: the vertical blend v of padded
// columns j, j + 1, j + 2 slides in registers (one new column per output pair), so v never goes
// through memory.
#include <immintrin.h>

#include "common.h"
#include "ukernels.h"

#if !defined(__AVX512F__)
#error "compile with -mavx512f"
#endif

namespace {

// v = 1/4 far + 3/4 near at padded column p, channels 16k .. 16k + 15.
HPUN_INLINE __m512 vertical_blend(const float* HPUN_RESTRICT far, const float* HPUN_RESTRICT near,
                                  int64_t p, int k) {
  const __m512 q1 = _mm512_set1_ps(0.25f), q3 = _mm512_set1_ps(0.75f);
  return _mm512_add_ps(_mm512_mul_ps(q1, _mm512_loadu_ps(far + p * 64 + 16 * k)),
                       _mm512_mul_ps(q3, _mm512_loadu_ps(near + p * 64 + 16 * k)));
}

}  // namespace

void hpun_f32_pud_up_ukernel_c64__avx512f(const float* HPUN_RESTRICT far,
                                          const float* HPUN_RESTRICT near,
                                          const float* HPUN_RESTRICT xr, float* HPUN_RESTRICT t,
                                          int64_t j0, int64_t j1, int64_t channels,
                                          float* scratch) {
  (void)channels;  // 64
  (void)scratch;
  const __m512 q1 = _mm512_set1_ps(0.25f), q3 = _mm512_set1_ps(0.75f);
  __m512 vm[4], v0[4];
  for (int k = 0; k < 4; ++k) {
    vm[k] = vertical_blend(far, near, j0, k);
    v0[k] = vertical_blend(far, near, j0 + 1, k);
  }
  for (int64_t j = j0; j < j1; ++j) {
    const float* HPUN_RESTRICT xe = xr + 2 * j * 64;
    float* HPUN_RESTRICT oe = t + 2 * (j - j0) * 64;
    for (int k = 0; k < 4; ++k) {
      const __m512 vp = vertical_blend(far, near, j + 2, k);
      const __m512 e = _mm512_add_ps(_mm512_mul_ps(q1, vm[k]), _mm512_mul_ps(q3, v0[k]));
      const __m512 o = _mm512_add_ps(_mm512_mul_ps(q3, v0[k]), _mm512_mul_ps(q1, vp));
      _mm512_storeu_ps(oe + 16 * k, _mm512_add_ps(_mm512_loadu_ps(xe + 16 * k), e));
      _mm512_storeu_ps(oe + 64 + 16 * k, _mm512_add_ps(_mm512_loadu_ps(xe + 64 + 16 * k), o));
      vm[k] = v0[k];
      v0[k] = vp;
    }
  }
}
