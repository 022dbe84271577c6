// Quantizing float32 to int8 codes exactly as torch.ops.quantized_decomposed.quantize_per_tensor
// does (x times the float32 reciprocal of the scale, rounded half to even), scalar: shared by the
// qs8-pw kernels that quantize a row element by element.
#pragma once

#include <cstdint>

#include "common.h"

namespace hpun {
namespace {

// Inputs scaled beyond +-512 quantize to the clamp either way (|in_zp| <= 128); clamping first
// keeps the rounding trick and the float->int conversion in range (and sends NaN to a bound).
constexpr float kQuantLimit = 512.f;

// round-half-even(v) for |v| <= 2^22 under the default rounding mode: adding and subtracting
// 1.5 * 2^23 leaves no fraction bits, so the add rounds as the FPU does (what torch.round does).
HPUN_INLINE float round_half_even(float v) {
  const float magic = 12582912.f;  // 1.5 * 2^23
  return (v + magic) - magic;
}

// clamp(round_half_even(x * inv) + zp, -128, 127).
HPUN_INLINE std::int32_t quantize_code(float x, float inv, std::int32_t zp) {
  float v = x * inv;
  v = v < -kQuantLimit ? -kQuantLimit : (v > kQuantLimit ? kQuantLimit : v);
  v = v == v ? v : -kQuantLimit;  // NaN
  const std::int32_t r = static_cast<std::int32_t>(round_half_even(v)) + zp;
  return r < -128 ? -128 : (r > 127 ? 127 : r);
}

}  // namespace
}  // namespace hpun
