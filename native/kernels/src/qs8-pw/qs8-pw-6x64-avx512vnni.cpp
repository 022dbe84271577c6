// hpun_qs8_pw_ukernel_6x64__avx512vnni: the int8 1x1 conv on n NHWC pixels (ukernels.h) for C ==
// 64, AVX-512 VNNI intrinsics. The row is first quantized to bytes stored as q + 128 (0..255:
// vpdpbusd's unsigned operand; the zero point in_zp + 128 comes off once per output channel as
// corr). Then 6 pixels x 64 output channels accumulate in 24 int32 zmm registers: per group of four
// input channels, four weight vectors (16 output channels x 4 bytes) and one 32-bit broadcast per
// pixel feed 24 vpdpbusd (64 multiply-adds each). The epilogue converts to float, scales per output
// channel, adds the bias, then relu / the residual.
#include <immintrin.h>

#include <cstring>

#include "common.h"
#include "qs8-pw/qs8-quantize.h"
#include "ukernels.h"

#if !(defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__))
#error "compile with -mavx512f -mavx512bw -mavx512vnni"
#endif

namespace {

using hpun::kQuantLimit;

// count floats (a multiple of 64) to codes q + 128; MXCSR's default mode rounds half to even.
HPUN_NOINLINE void quantize_row(const float* HPUN_RESTRICT x, std::uint8_t* HPUN_RESTRICT u,
                                int64_t count, float inv, std::int32_t zp) {
  const __m512 vi = _mm512_set1_ps(inv), lo = _mm512_set1_ps(-kQuantLimit),
               hi = _mm512_set1_ps(kQuantLimit);
  const __m512i shift = _mm512_set1_epi32(zp + 128), zero = _mm512_setzero_si512(),
                top = _mm512_set1_epi32(255);
  for (int64_t i = 0; i < count; i += 16) {
    __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x + i), vi);
    v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);  // max(NaN, lo) is lo
    __m512i r = _mm512_add_epi32(_mm512_cvtps_epi32(v), shift);
    r = _mm512_min_epi32(_mm512_max_epi32(r, zero), top);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(u + i), _mm512_cvtepi32_epi8(r));
  }
}

template <int NP, bool RELU, bool RES>
HPUN_INLINE void block(const std::uint8_t* HPUN_RESTRICT u, const std::int8_t* HPUN_RESTRICT wp,
                       const std::int32_t* HPUN_RESTRICT corr, const float* HPUN_RESTRICT scale,
                       const float* HPUN_RESTRICT bias, const float* HPUN_RESTRICT res,
                       float* HPUN_RESTRICT out) {
  __m512i acc[NP][4];
  for (int k = 0; k < 4; ++k) {
    const __m512i c0 = _mm512_loadu_si512(corr + 16 * k);
    for (int i = 0; i < NP; ++i) acc[i][k] = c0;
  }
#pragma GCC unroll 4
  for (int g = 0; g < 16; ++g) {
    const std::int8_t* wg = wp + g * 256;
    const __m512i w0 = _mm512_loadu_si512(wg), w1 = _mm512_loadu_si512(wg + 64),
                  w2 = _mm512_loadu_si512(wg + 128), w3 = _mm512_loadu_si512(wg + 192);
#pragma GCC unroll 6
    for (int i = 0; i < NP; ++i) {
      std::int32_t four;
      std::memcpy(&four, u + i * 64 + 4 * g, 4);
      const __m512i a = _mm512_set1_epi32(four);
      acc[i][0] = _mm512_dpbusd_epi32(acc[i][0], a, w0);
      acc[i][1] = _mm512_dpbusd_epi32(acc[i][1], a, w1);
      acc[i][2] = _mm512_dpbusd_epi32(acc[i][2], a, w2);
      acc[i][3] = _mm512_dpbusd_epi32(acc[i][3], a, w3);
    }
  }
  for (int k = 0; k < 4; ++k) {
    const __m512 s = _mm512_loadu_ps(scale + 16 * k), b = _mm512_loadu_ps(bias + 16 * k);
    for (int i = 0; i < NP; ++i) {
      __m512 y = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[i][k]), s, b);
      if (RELU) y = _mm512_max_ps(y, _mm512_setzero_ps());
      if (RES) y = _mm512_add_ps(y, _mm512_loadu_ps(res + i * 64 + 16 * k));
      _mm512_storeu_ps(out + i * 64 + 16 * k, y);
    }
  }
}

// The weight pointers are read into locals once: the intrinsics' stores may alias anything, so
// reading them from q in the loop would reload them after every block (and GCC then unrolls
// the 6-pixel loop less: 1.7x slower).
template <bool RELU, bool RES>
HPUN_NOINLINE void row(const std::uint8_t* u, const hpun_qs8_pw_params& q, const float* res,
                       float* out, int64_t n) {
  const std::int8_t* wp = q.wp;
  const std::int32_t* corr = q.corr;
  const float *scale = q.scale, *bias = q.bias;
  int64_t p = 0;
  for (; p + 6 <= n; p += 6)
    block<6, RELU, RES>(u + p * 64, wp, corr, scale, bias, RES ? res + p * 64 : nullptr,
                        out + p * 64);
  for (; p < n; ++p)
    block<1, RELU, RES>(u + p * 64, wp, corr, scale, bias, RES ? res + p * 64 : nullptr,
                        out + p * 64);
}

}  // namespace

void hpun_qs8_pw_ukernel_6x64__avx512vnni(const float* x, const hpun_qs8_pw_params* params,
                                          const float* res, bool relu, float* out, int64_t n,
                                          uint8_t* scratch) {
  const hpun_qs8_pw_params& q = *params;
  quantize_row(x, scratch, n * 64, q.inv_in_scale, q.in_zp);
  if (res)
    relu ? row<true, true>(scratch, q, res, out, n) : row<false, true>(scratch, q, res, out, n);
  else
    relu ? row<true, false>(scratch, q, nullptr, out, n)
         : row<false, false>(scratch, q, nullptr, out, n);
}
