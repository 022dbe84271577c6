// qs8-pw, generic source: the int8 1x1 conv on n NHWC pixels, any C (ukernels.h), compiled once per
// ISA by qs8-pw-generic-<isa>.cpp. The row is quantized to codes stored as q + 128 (0..255; padding
// channels 128) in scratch, then acc[o] = corr[o] + sum_c u[c] * wt[c][o] in int32 (plain loops
// over int16 weights that the compiler vectorises), then the float epilogue.
#pragma once

#include <cstdint>

#include "common.h"
#include "qs8-pw/qs8-quantize.h"
#include "ukernels.h"

namespace hpun {
namespace {

HPUN_INLINE void quantize_row_plain(const float* HPUN_RESTRICT x, std::uint8_t* HPUN_RESTRICT u,
                                    i64 n, i64 C, i64 Cp, float inv, std::int32_t zp) {
  for (i64 p = 0; p < n; ++p) {
    const float* HPUN_RESTRICT xp = x + p * C;
    std::uint8_t* HPUN_RESTRICT up = u + p * Cp;
    for (i64 c = 0; c < C; ++c)
      up[c] = static_cast<std::uint8_t>(quantize_code(xp[c], inv, zp) + 128);
    for (i64 c = C; c < Cp; ++c) up[c] = 128;
  }
}

// scratch: the n * Cp codes (rounded up to 64 bytes), then C int32 accumulators.
HPUN_INLINE void qs8_pw_generic(const float* x, const hpun_qs8_pw_params& q, const float* residual,
                                bool relu, float* out, i64 n, std::uint8_t* scratch) {
  const i64 C = q.channels, Cp = q.padded;
  std::uint8_t* HPUN_RESTRICT u = scratch;
  std::int32_t* HPUN_RESTRICT acc =
      reinterpret_cast<std::int32_t*>(scratch + ((n * Cp + 63) / 64) * 64);
  const std::int16_t* HPUN_RESTRICT wt = q.wt;
  const std::int32_t* HPUN_RESTRICT corr = q.corr;
  const float* HPUN_RESTRICT scale = q.scale;
  const float* HPUN_RESTRICT bias = q.bias;
  quantize_row_plain(x, u, n, C, Cp, q.inv_in_scale, q.in_zp);
  for (i64 p = 0; p < n; ++p) {
    const std::uint8_t* HPUN_RESTRICT up = u + p * Cp;
    for (i64 o = 0; o < C; ++o) acc[o] = corr[o];
    for (i64 c = 0; c < C; ++c) {
      const std::int32_t uc = up[c];
      const std::int16_t* HPUN_RESTRICT wr = wt + c * C;
      for (i64 o = 0; o < C; ++o) acc[o] += uc * wr[o];
    }
    float* HPUN_RESTRICT op = out + p * C;
    const float* HPUN_RESTRICT rp = residual ? residual + p * C : nullptr;
    for (i64 o = 0; o < C; ++o) {
      float y = static_cast<float>(acc[o]) * scale[o] + bias[o];
      if (relu) y = y < 0.f ? 0.f : y;
      if (rp) y += rp[o];
      op[o] = y;
    }
  }
}

}  // namespace
}  // namespace hpun
