// Shared by the 5x5 depthwise conv kernels for C == 64 on AVX-512F
// (f32-dwconv5x5-1x8c64-avx512f.cpp, f32-dwconv5x5-2x8c64-avx512f.cpp): the one-pixel path for
// pixels whose window leaves the image.
#pragma once

#include <immintrin.h>

#include "common.h"

namespace hpun {
namespace {

// dst pixel j = dwb + the 5x5 taps of rows[0..4] inside the image (zero padding; null rows
// skipped).
HPUN_NOINLINE void dw5_pixel64(const float* const* rows, i64 W, const float* HPUN_RESTRICT dwt,
                               const float* HPUN_RESTRICT dwb, i64 j, float* HPUN_RESTRICT dst) {
  for (int k = 0; k < 4; ++k) {
    __m512 a = _mm512_loadu_ps(dwb + 16 * k);
    for (i64 u = 0; u < 5; ++u) {
      if (!rows[u]) continue;
      for (i64 v = 0; v < 5; ++v) {
        const i64 jj = j + v - 2;
        if (jj < 0 || jj >= W) continue;
        a = _mm512_fmadd_ps(_mm512_loadu_ps(dwt + (u * 5 + v) * 64 + 16 * k),
                            _mm512_loadu_ps(rows[u] + jj * 64 + 16 * k), a);
      }
    }
    _mm512_storeu_ps(dst + j * 64 + 16 * k, a);
  }
}

}  // namespace
}  // namespace hpun
