// hpun_f32_dwconv5x5_ukernel_1x8c64__avx512f: a 5x5 depthwise conv on one NHWC row (ukernels.h) for
// C == 64, AVX-512F intrinsics: 8 pixels per step and 16-channel slice, each kernel row's 12 input
// columns and 5 weight vectors feeding 40 FMAs (8 + 12 + 1 zmm live); the pixels whose window
// leaves the image one at a time. Same tap order as the generic kernel's k = 5 path.
#include <immintrin.h>

#include "common.h"
#include "f32-dwconv5x5/f32-dwconv5x5-c64-avx512f.h"
#include "ukernels.h"

#if !defined(__AVX512F__)
#error "compile with -mavx512f"
#endif

void hpun_f32_dwconv5x5_ukernel_1x8c64__avx512f(const float* const* rows, int64_t W,
                                                const float* HPUN_RESTRICT dwt,
                                                const float* HPUN_RESTRICT dwb,
                                                float* HPUN_RESTRICT dst) {
  using hpun::dw5_pixel64;
  int64_t j = 0;
  for (; j < hpun::min_i64(2, W); ++j) dw5_pixel64(rows, W, dwt, dwb, j, dst);
  for (; j + 10 <= W; j += 8) {
    for (int k = 0; k < 4; ++k) {
      __m512 acc[8];
      const __m512 b = _mm512_loadu_ps(dwb + 16 * k);
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) acc[i] = b;
      for (int64_t u = 0; u < 5; ++u) {
        if (!rows[u]) continue;
        const float* HPUN_RESTRICT p = rows[u] + (j - 2) * 64 + 16 * k;
        __m512 d[12];
#pragma GCC unroll 12
        for (int i = 0; i < 12; ++i) d[i] = _mm512_loadu_ps(p + i * 64);
#pragma GCC unroll 5
        for (int v = 0; v < 5; ++v) {
          const __m512 wv = _mm512_loadu_ps(dwt + (u * 5 + v) * 64 + 16 * k);
#pragma GCC unroll 8
          for (int i = 0; i < 8; ++i) acc[i] = _mm512_fmadd_ps(wv, d[i + v], acc[i]);
        }
      }
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) _mm512_storeu_ps(dst + (j + i) * 64 + 16 * k, acc[i]);
    }
  }
  for (; j < W; ++j) dw5_pixel64(rows, W, dwt, dwb, j, dst);
}
