// hpun_f32_dwconv5x5_ukernel_2x8c64__avx512f: a 5x5 depthwise conv on two NHWC rows at once
// (ukernels.h) for C == 64, AVX-512F intrinsics. rows[0..5] are input rows r - 2 .. r + 3: each is
// loaded once for both output rows r and r + 1 (12 columns of a 16-channel slice feed up to 80 FMAs
// into 16 accumulators), 6 row loads where two single rows take 10: what the depthwise conv costs
// here is mostly moving its input rows from L2. Columns [ja, jb) only, written from dst0[0] /
// dst1[0] on (fused_pub takes a row in chunks that stay in L1 for the 1x1 conv after it). Same
// taps, same order per output as f32-dwconv5x5-1x8c64-avx512f.cpp.
#include <immintrin.h>

#include "common.h"
#include "f32-dwconv5x5/f32-dwconv5x5-c64-avx512f.h"
#include "ukernels.h"

#if !defined(__AVX512F__)
#error "compile with -mavx512f"
#endif

void hpun_f32_dwconv5x5_ukernel_2x8c64__avx512f(const float* const* rows, int64_t W,
                                                const float* HPUN_RESTRICT dwt,
                                                const float* HPUN_RESTRICT dwb,
                                                float* HPUN_RESTRICT dst0,
                                                float* HPUN_RESTRICT dst1, int64_t ja, int64_t jb) {
  using hpun::dw5_pixel64;
  dst0 -= ja * 64;
  dst1 -= ja * 64;
  int64_t j = ja;
  for (; j < hpun::min_i64(2, jb); ++j) {
    dw5_pixel64(rows, W, dwt, dwb, j, dst0);
    dw5_pixel64(rows + 1, W, dwt, dwb, j, dst1);
  }
  for (; j + 10 <= W && j + 8 <= jb; j += 8) {
    for (int k = 0; k < 4; ++k) {
      __m512 a0[8], a1[8];
      const __m512 b = _mm512_loadu_ps(dwb + 16 * k);
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) a0[i] = a1[i] = b;
      for (int64_t u = 0; u < 6; ++u) {  // input row r + u - 2: kernel row u of r, u - 1 of r + 1
        if (!rows[u]) continue;
        const float* HPUN_RESTRICT p = rows[u] + (j - 2) * 64 + 16 * k;
        __m512 d[12];
#pragma GCC unroll 12
        for (int i = 0; i < 12; ++i) d[i] = _mm512_loadu_ps(p + i * 64);
        if (u < 5) {
#pragma GCC unroll 5
          for (int v = 0; v < 5; ++v) {
            const __m512 wv = _mm512_loadu_ps(dwt + (u * 5 + v) * 64 + 16 * k);
#pragma GCC unroll 8
            for (int i = 0; i < 8; ++i) a0[i] = _mm512_fmadd_ps(wv, d[i + v], a0[i]);
          }
        }
        if (u > 0) {
#pragma GCC unroll 5
          for (int v = 0; v < 5; ++v) {
            const __m512 wv = _mm512_loadu_ps(dwt + ((u - 1) * 5 + v) * 64 + 16 * k);
#pragma GCC unroll 8
            for (int i = 0; i < 8; ++i) a1[i] = _mm512_fmadd_ps(wv, d[i + v], a1[i]);
          }
        }
      }
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) {
        _mm512_storeu_ps(dst0 + (j + i) * 64 + 16 * k, a0[i]);
        _mm512_storeu_ps(dst1 + (j + i) * 64 + 16 * k, a1[i]);
      }
    }
  }
  for (; j < jb; ++j) {
    dw5_pixel64(rows, W, dwt, dwb, j, dst0);
    dw5_pixel64(rows + 1, W, dwt, dwb, j, dst1);
  }
}
