// f32-dwconv, generic source: a depthwise k x k conv on one NHWC row, any C and odd k (ukernels.h),
// compiled once per ISA by f32-dwconv-generic-<isa>.cpp. k = 5 with C a multiple of 16 takes
// 16-float vector blocks of four pixels (where the compiler has vector extensions); everything else
// plain loops.
#pragma once

#include "common.h"
#include "v16.h"

namespace hpun {
namespace {

HPUN_INLINE void dw_row_plain(const float* const* rows, i64 W, i64 C,
                              const float* HPUN_RESTRICT dwt, const float* HPUN_RESTRICT dwb, i64 k,
                              float* HPUN_RESTRICT dst) {
  const i64 hk = k / 2;
  for (i64 j = 0; j < W; ++j) {
    float* d = dst + j * C;
    for (i64 c = 0; c < C; ++c) d[c] = dwb[c];
    for (i64 u = 0; u < k; ++u) {
      if (!rows[u]) continue;
      for (i64 v = 0; v < k; ++v) {
        const i64 jj = j + v - hk;
        if (jj < 0 || jj >= W) continue;
        const float* HPUN_RESTRICT xp = rows[u] + jj * C;
        const float* HPUN_RESTRICT wp = dwt + (u * k + v) * C;
        for (i64 c = 0; c < C; ++c) d[c] += wp[c] * xp[c];
      }
    }
  }
}

#if HPUN_V16
// k = 5, C % 16 == 0: four pixels per step share the eight input columns and five weight vectors of
// each kernel row, for one 16-channel slice at a time (the slices of a pixel block are taken one
// after another, so the input is read a whole pixel, C contiguous floats, at a time); pixels whose
// window leaves the image take the one-pixel path.
HPUN_INLINE void dw5_row_v16(const float* const* rows, i64 W, i64 C, const float* HPUN_RESTRICT dwt,
                             const float* HPUN_RESTRICT dwb, float* HPUN_RESTRICT dst) {
  i64 j = 0;
  while (j < W) {
    if (j >= 2 && j + 6 <= W) {
      for (i64 cb = 0; cb < C; cb += 16) {
        const v16 bv = ld16(dwb + cb);
        v16 a[4] = {bv, bv, bv, bv};
        for (i64 u = 0; u < 5; ++u) {
          if (!rows[u]) continue;
          const float* p = rows[u] + (j - 2) * C + cb;
          v16 d[8];
#pragma GCC unroll 8
          for (int i = 0; i < 8; ++i) d[i] = ld16(p + i * C);
#pragma GCC unroll 5
          for (int v = 0; v < 5; ++v) {
            const v16 wv = ld16(dwt + (u * 5 + v) * C + cb);
#pragma GCC unroll 4
            for (int i = 0; i < 4; ++i) a[i] += wv * d[i + v];
          }
        }
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) st16(dst + (j + i) * C + cb, a[i]);
      }
      j += 4;
    } else {
      for (i64 cb = 0; cb < C; cb += 16) {
        v16 a = ld16(dwb + cb);
        for (i64 u = 0; u < 5; ++u) {
          if (!rows[u]) continue;
          for (i64 v = 0; v < 5; ++v) {
            const i64 jj = j + v - 2;
            if (jj < 0 || jj >= W) continue;
            a += ld16(dwt + (u * 5 + v) * C + cb) * ld16(rows[u] + jj * C + cb);
          }
        }
        st16(dst + j * C + cb, a);
      }
      ++j;
    }
  }
}
#endif

HPUN_INLINE void f32_dwconv_generic(const float* const* rows, i64 W, i64 C,
                                    const float* HPUN_RESTRICT dwt, const float* HPUN_RESTRICT dwb,
                                    i64 k, float* HPUN_RESTRICT dst) {
#if HPUN_V16
  if (k == 5 && C % 16 == 0) return dw5_row_v16(rows, W, C, dwt, dwb, dst);
#endif
  dw_row_plain(rows, W, C, dwt, dwb, k, dst);
}

}  // namespace
}  // namespace hpun
