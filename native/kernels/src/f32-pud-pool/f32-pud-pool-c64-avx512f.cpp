// hpun_f32_pud_pool_ukernel_c64__avx512f: the PUD's max pool on one NHWC half row (ukernels.h) for
// C == 64, AVX-512F intrinsics, in one pass: the vertical max of the three rows is taken column by
// column as the horizontal window slides, so no vertical-max row goes through memory. Columns
// 2j-2 .. 2j+1 stay in registers from the previous step (16 zmm); each step loads columns 2j+2 and
// 2j+3 of the three rows. A column beyond the border is -inf, which is what skipping it means.
#include <immintrin.h>

#include "common.h"
#include "ukernels.h"

#if !defined(__AVX512F__)
#error "compile with -mavx512f"
#endif

namespace {

// The vertical max of the three rows' column q, channels 16k .. 16k + 15.
HPUN_INLINE __m512 column_max(const float* HPUN_RESTRICT ra, const float* HPUN_RESTRICT rb,
                              const float* HPUN_RESTRICT rc, int64_t q, int k) {
  return _mm512_max_ps(
      _mm512_max_ps(_mm512_loadu_ps(ra + q * 64 + 16 * k), _mm512_loadu_ps(rb + q * 64 + 16 * k)),
      _mm512_loadu_ps(rc + q * 64 + 16 * k));
}

}  // namespace

void hpun_f32_pud_pool_ukernel_c64__avx512f(const float* HPUN_RESTRICT ra,
                                            const float* HPUN_RESTRICT rb,
                                            const float* HPUN_RESTRICT rc, float* HPUN_RESTRICT e,
                                            float* HPUN_RESTRICT o, int64_t w, int64_t channels,
                                            float* scratch) {
  (void)channels;  // 64
  (void)scratch;
  const __m512 ninf = _mm512_set1_ps(-__builtin_inff());
  __m512 p0[4], p1[4], q0[4], q1[4];
  for (int k = 0; k < 4; ++k) {
    p0[k] = p1[k] = ninf;
    q0[k] = column_max(ra, rb, rc, 0, k);
    q1[k] = column_max(ra, rb, rc, 1, k);
  }
  for (int64_t j = 0; j < w; ++j) {
    const bool in = j + 1 < w;  // columns 2j+2, 2j+3 exist
    for (int k = 0; k < 4; ++k) {
      const __m512 r0 = in ? column_max(ra, rb, rc, 2 * j + 2, k) : ninf;
      const __m512 r1 = in ? column_max(ra, rb, rc, 2 * j + 3, k) : ninf;
      _mm512_storeu_ps(e + j * 64 + 16 * k, _mm512_max_ps(_mm512_max_ps(p0[k], q0[k]), r0));
      _mm512_storeu_ps(o + j * 64 + 16 * k, _mm512_max_ps(_mm512_max_ps(p1[k], q1[k]), r1));
      p0[k] = q0[k];
      p1[k] = q1[k];
      q0[k] = r0;
      q1[k] = r1;
    }
  }
}
