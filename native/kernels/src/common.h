// What every kernel source may use: the index type, the compiler hints and three row helpers.
//
// The helpers have internal linkage (an unnamed namespace): the same header is compiled into
// translation units with different instruction-set flags (-mavx512f, -mavx2, none), and an inline
// function with external linkage would be one symbol that the linker may take from any of them,
// e.g. AVX-512 code called on an AVX2-only CPU.
#pragma once

#include <cstdint>

#if defined(__GNUC__) || defined(__clang__)
#define HPUN_INLINE inline __attribute__((always_inline))
#define HPUN_NOINLINE __attribute__((noinline))
#define HPUN_RESTRICT __restrict__
#else
#define HPUN_INLINE inline
#define HPUN_NOINLINE
#define HPUN_RESTRICT
#endif

namespace hpun {

using i64 = std::int64_t;

namespace {

HPUN_INLINE float fmax2(float a, float b) {
  return a < b ? b : a;
}

HPUN_INLINE i64 clampi(i64 v, i64 lo, i64 hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

HPUN_INLINE i64 min_i64(i64 a, i64 b) {
  return a < b ? a : b;
}

// dst[j] = max(a[j], b[j], c[j]) for j < n.
HPUN_INLINE void vmax3(const float* HPUN_RESTRICT a, const float* HPUN_RESTRICT b,
                       const float* HPUN_RESTRICT c, float* HPUN_RESTRICT dst, i64 n) {
  for (i64 j = 0; j < n; ++j) dst[j] = fmax2(fmax2(a[j], b[j]), c[j]);
}

}  // namespace
}  // namespace hpun
