// One depthwise-conv row by the micro-kernel the hardware config chose (the k = 5, C == 64 one
// where the CPU has it, the generic one otherwise), and the input rows it reads.
#pragma once

#include "common.h"
#include "configs/config.h"

namespace hpun {

HPUN_INLINE void dwconv_row(const F32DwconvConfig& dw, const float* const* rows, i64 W, i64 C,
                            const float* dwt, const float* dwb, i64 k, float* dst) {
  if (C == 64 && k == 5 && dw.k5_c64) return dw.k5_c64(rows, W, dwt, dwb, dst);
  dw.generic(rows, W, C, dwt, dwb, k, dst);
}

// rows[u] = input row r - k/2 + u of x for u < k + extra (null outside the image).
HPUN_INLINE void dwconv_input_rows(const float* x, i64 H, i64 row_floats, i64 k, i64 r, i64 extra,
                                   const float** rows) {
  for (i64 u = 0; u < k + extra; ++u) {
    const i64 rr = r + u - k / 2;
    rows[u] = (rr < 0 || rr >= H) ? nullptr : x + rr * row_floats;
  }
}

}  // namespace hpun
