// hpun_f32_pw_ukernel_6x64__avx512f: a 1x1 conv with its epilogue on n NHWC pixels (ukernels.h) for
// C == 64, AVX-512F intrinsics: 6 pixels x 64 output channels in 24 zmm accumulators; per input
// channel, four weight vectors (the 16 KB of transposed weights stay in L1) and one broadcast per
// pixel feed 24 FMAs. relu and the residual are template flags. (In pw_relu at 368x368x64 on 2
// threads the compiler's code for the generic 4x64 block reached 43% of the FMA peak, this 72%.)
#include <immintrin.h>

#include "common.h"
#include "ukernels.h"

#if !defined(__AVX512F__)
#error "compile with -mavx512f"
#endif

namespace {

template <int NP, bool RELU, bool RES>
HPUN_INLINE void pw_block(const float* HPUN_RESTRICT t, const float* HPUN_RESTRICT pwt,
                          const float* HPUN_RESTRICT pwb, const float* HPUN_RESTRICT res,
                          float* HPUN_RESTRICT out) {
  __m512 acc[NP][4];
  for (int k = 0; k < 4; ++k) {
    const __m512 bk = _mm512_loadu_ps(pwb + 16 * k);
    for (int i = 0; i < NP; ++i) acc[i][k] = bk;
  }
#pragma GCC unroll 2
  for (int c = 0; c < 64; ++c) {
    const float* wr = pwt + c * 64;
    const __m512 w0 = _mm512_loadu_ps(wr), w1 = _mm512_loadu_ps(wr + 16),
                 w2 = _mm512_loadu_ps(wr + 32), w3 = _mm512_loadu_ps(wr + 48);
#pragma GCC unroll 6
    for (int i = 0; i < NP; ++i) {
      const __m512 s = _mm512_set1_ps(t[i * 64 + c]);
      acc[i][0] = _mm512_fmadd_ps(s, w0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(s, w1, acc[i][1]);
      acc[i][2] = _mm512_fmadd_ps(s, w2, acc[i][2]);
      acc[i][3] = _mm512_fmadd_ps(s, w3, acc[i][3]);
    }
  }
  for (int i = 0; i < NP; ++i)
    for (int k = 0; k < 4; ++k) {
      __m512 y = acc[i][k];
      if (RELU) y = _mm512_max_ps(y, _mm512_setzero_ps());
      if (RES) y = _mm512_add_ps(y, _mm512_loadu_ps(res + i * 64 + 16 * k));
      _mm512_storeu_ps(out + i * 64 + 16 * k, y);
    }
}

template <bool RELU, bool RES>
HPUN_NOINLINE void pw_row(const float* HPUN_RESTRICT t, const float* HPUN_RESTRICT pwt,
                          const float* HPUN_RESTRICT pwb, const float* HPUN_RESTRICT res,
                          float* HPUN_RESTRICT out, int64_t n) {
  int64_t p = 0;
  for (; p + 6 <= n; p += 6)
    pw_block<6, RELU, RES>(t + p * 64, pwt, pwb, RES ? res + p * 64 : nullptr, out + p * 64);
  for (; p < n; ++p)
    pw_block<1, RELU, RES>(t + p * 64, pwt, pwb, RES ? res + p * 64 : nullptr, out + p * 64);
}

}  // namespace

void hpun_f32_pw_ukernel_6x64__avx512f(const float* t, const float* pwt, const float* pwb,
                                       const float* res, bool relu, float* out, int64_t n,
                                       int64_t channels) {
  (void)channels;  // 64
  if (res)
    relu ? pw_row<true, true>(t, pwt, pwb, res, out, n)
         : pw_row<false, true>(t, pwt, pwb, res, out, n);
  else
    relu ? pw_row<true, false>(t, pwt, pwb, res, out, n)
         : pw_row<false, false>(t, pwt, pwb, res, out, n);
}
