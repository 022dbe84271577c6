// hpun_f32_pud_gconv_ukernel_c64__avx512f: the PUD's grouped 3x3 conv on one NHWC half row
// (ukernels.h) for C == 64, AVX-512F intrinsics. NP = 4 neighbouring output pixels of one
// 16-channel slice share the NP + 2 input columns and three weight vectors of each of the 12 kernel
// rows (4 sub-images x 3 rows), so 12 (NP + 5) loads feed 36 NP FMAs. The taps accumulate in the
// generic kernel's order within a sub-image row; the sums differ from it by rounding only.
#include <immintrin.h>

#include "common.h"
#include "ukernels.h"

#if !defined(__AVX512F__)
#error "compile with -mavx512f"
#endif

namespace {

template <int NP>
HPUN_INLINE void gconv_block(const float* const* rows, const float* HPUN_RESTRICT kt,
                             const float* HPUN_RESTRICT bias, float* HPUN_RESTRICT dst, int64_t j,
                             int k) {
  __m512 acc[NP];
  const __m512 b = _mm512_loadu_ps(bias + 16 * k);
  for (int i = 0; i < NP; ++i) acc[i] = b;
#pragma GCC unroll 12
  for (int r = 0; r < 12; ++r) {
    const float* HPUN_RESTRICT p = rows[r] + j * 64 + 16 * k;  // padded rows: column j - 1 first
    const float* HPUN_RESTRICT kr = kt + r * 3 * 64 + 16 * k;
    const __m512 w0 = _mm512_loadu_ps(kr), w1 = _mm512_loadu_ps(kr + 64),
                 w2 = _mm512_loadu_ps(kr + 128);
    __m512 d[NP + 2];
#pragma GCC unroll 6
    for (int i = 0; i < NP + 2; ++i) d[i] = _mm512_loadu_ps(p + i * 64);
#pragma GCC unroll 4
    for (int i = 0; i < NP; ++i) {
      acc[i] = _mm512_fmadd_ps(w0, d[i], acc[i]);
      acc[i] = _mm512_fmadd_ps(w1, d[i + 1], acc[i]);
      acc[i] = _mm512_fmadd_ps(w2, d[i + 2], acc[i]);
    }
  }
  for (int i = 0; i < NP; ++i) _mm512_storeu_ps(dst + (j + i) * 64 + 16 * k, acc[i]);
}

}  // namespace

void hpun_f32_pud_gconv_ukernel_c64__avx512f(const float* const* rows,
                                             const float* HPUN_RESTRICT kt,
                                             const float* HPUN_RESTRICT bias,
                                             float* HPUN_RESTRICT dst, int64_t w,
                                             int64_t channels) {
  (void)channels;  // 64
  int64_t j = 0;
  for (; j + 4 <= w; j += 4)
    for (int k = 0; k < 4; ++k) gconv_block<4>(rows, kt, bias, dst, j, k);
  for (; j < w; ++j)
    for (int k = 0; k < 4; ++k) gconv_block<1>(rows, kt, bias, dst, j, k);
}
