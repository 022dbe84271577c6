// int8 1x1 convolution (see pw_q8.h for what it computes).
//
// A row of pixels is first quantized to bytes, stored as q + 128 (0..255): the unsigned operand
// that VNNI's vpdpbusd multiplies with signed weights; the zero point (in_zp + 128) comes off once
// per output channel as `corr`. Then each pixel's C bytes meet the int8 weights:
//
// * C == 64 with AVX-512 VNNI: 6 pixels x 64 output channels in 24 int32 zmm accumulators; per
//   group of four input channels, four weight vectors (16 output channels x 4 bytes each) and one
//   32-bit broadcast per pixel feed 24 vpdpbusd (64 multiply-adds each). The epilogue converts
//   to float, scales per output channel, adds the bias, then relu / the residual.
// * C a multiple of 16 on AArch64 with the dot-product extension (Linux HWCAP_ASIMDDP; ARMv8.2+
//   cores, most phones since 2018): the row is quantized to signed codes, and 2 pixels x 16 output
//   channels accumulate with `sdot` by lane (16 int8 multiply-adds an instruction against 4 for an
//   fp32 FMA); the zero point comes off as -in_zp * sum_c qw[o][c].
// * otherwise plain loops over [C in][C out] int16 weights, which the compiler vectorises (on x86
//   compiled for AVX2 and for the SSE2 baseline, chosen at run time; NEON on AArch64).
#include "pw_q8.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HPUN_Q8_X86 1
#else
#define HPUN_Q8_X86 0
#endif

#if defined(__aarch64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
#include <arm_neon.h>
#include <sys/auxv.h>
#define HPUN_Q8_ARM_DOTPROD 1
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#else
#define HPUN_Q8_ARM_DOTPROD 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define HPUN_Q8_INLINE inline __attribute__((always_inline))
#define HPUN_Q8_RESTRICT __restrict__
#else
#define HPUN_Q8_INLINE inline
#define HPUN_Q8_RESTRICT
#endif

namespace hpun {
namespace kernels {
namespace {

using i64 = std::int64_t;

// Inputs scaled beyond +-512 quantize to the clamp either way (|in_zp| <= 128); clamping first
// keeps the rounding trick and the float->int conversion in range (and sends NaN to a bound).
constexpr float kQuantLimit = 512.f;

// round-half-even(v) for |v| <= 2^22 under the default rounding mode: adding and subtracting
// 1.5 * 2^23 leaves no fraction bits, so the add rounds as the FPU does (what torch.round does).
HPUN_Q8_INLINE float round_half_even(float v) {
  const float magic = 12582912.f;  // 1.5 * 2^23
  return (v + magic) - magic;
}

// clamp(round_half_even(x * inv) + zp, -128, 127), as quantized_decomposed.quantize_per_tensor.
HPUN_Q8_INLINE std::int32_t quantize_code(float x, float inv, std::int32_t zp) {
  float v = x * inv;
  v = v < -kQuantLimit ? -kQuantLimit : (v > kQuantLimit ? kQuantLimit : v);
  v = v == v ? v : -kQuantLimit;  // NaN
  const std::int32_t r = static_cast<std::int32_t>(round_half_even(v)) + zp;
  return r < -128 ? -128 : (r > 127 ? 127 : r);
}

// Codes stored as q + 128 (0..255, VNNI's unsigned operand); padding channels get 128 (zero weights).
HPUN_Q8_INLINE void quantize_row_plain(const float* HPUN_Q8_RESTRICT x, std::uint8_t* HPUN_Q8_RESTRICT u,
                                       i64 n, i64 C, i64 Cp, float inv, std::int32_t zp) {
  for (i64 p = 0; p < n; ++p) {
    const float* HPUN_Q8_RESTRICT xp = x + p * C;
    std::uint8_t* HPUN_Q8_RESTRICT up = u + p * Cp;
    for (i64 c = 0; c < C; ++c) up[c] = static_cast<std::uint8_t>(quantize_code(xp[c], inv, zp) + 128);
    for (i64 c = C; c < Cp; ++c) up[c] = 128;
  }
}

// Plain loops: acc[o] = corr[o] + sum_c u[c] * wt[c][o], then the epilogue; n pixels of a row.
HPUN_Q8_INLINE void row_plain_body(const float* x, const PointwiseQ8& q, const float* residual,
                                   bool relu, float* out, i64 n, std::uint8_t* scratch) {
  const i64 C = q.channels, Cp = q.padded;
  std::uint8_t* HPUN_Q8_RESTRICT u = scratch;
  std::int32_t* HPUN_Q8_RESTRICT acc =
      reinterpret_cast<std::int32_t*>(scratch + ((n * Cp + 63) / 64) * 64);
  const std::int16_t* HPUN_Q8_RESTRICT wt = q.wt.data();
  const std::int32_t* HPUN_Q8_RESTRICT corr = q.corr.data();
  const float* HPUN_Q8_RESTRICT scale = q.scale.data();
  const float* HPUN_Q8_RESTRICT bias = q.bias.data();
  quantize_row_plain(x, u, n, C, Cp, q.inv_in_scale, q.in_zp);
  for (i64 p = 0; p < n; ++p) {
    const std::uint8_t* HPUN_Q8_RESTRICT up = u + p * Cp;
    for (i64 o = 0; o < C; ++o) acc[o] = corr[o];
    for (i64 c = 0; c < C; ++c) {
      const std::int32_t uc = up[c];
      const std::int16_t* HPUN_Q8_RESTRICT wr = wt + c * C;
      for (i64 o = 0; o < C; ++o) acc[o] += uc * wr[o];
    }
    float* HPUN_Q8_RESTRICT op = out + p * C;
    const float* HPUN_Q8_RESTRICT rp = residual ? residual + p * C : nullptr;
    for (i64 o = 0; o < C; ++o) {
      float y = static_cast<float>(acc[o]) * scale[o] + bias[o];
      if (relu) y = y < 0.f ? 0.f : y;
      if (rp) y += rp[o];
      op[o] = y;
    }
  }
}

#if HPUN_Q8_X86
__attribute__((target("avx512f,avx512bw"), noinline)) void quantize_row_avx512(
    const float* HPUN_Q8_RESTRICT x, std::uint8_t* HPUN_Q8_RESTRICT u, i64 count, float inv,
    std::int32_t zp) {
  const __m512 vi = _mm512_set1_ps(inv), lo = _mm512_set1_ps(-kQuantLimit),
               hi = _mm512_set1_ps(kQuantLimit);
  const __m512i shift = _mm512_set1_epi32(zp + 128), zero = _mm512_setzero_si512(),
                top = _mm512_set1_epi32(255);
  for (i64 i = 0; i < count; i += 16) {  // count is a multiple of 64
    __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x + i), vi);
    v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);  // max(NaN, lo) is lo
    __m512i r = _mm512_add_epi32(_mm512_cvtps_epi32(v), shift);  // MXCSR: round half to even
    r = _mm512_min_epi32(_mm512_max_epi32(r, zero), top);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(u + i), _mm512_cvtepi32_epi8(r));
  }
}

template <int NP, bool RELU, bool RES>
__attribute__((target("avx512f,avx512bw,avx512vnni"), always_inline)) inline void block64_vnni(
    const std::uint8_t* HPUN_Q8_RESTRICT u, const std::int8_t* HPUN_Q8_RESTRICT wp,
    const std::int32_t* HPUN_Q8_RESTRICT corr, const float* HPUN_Q8_RESTRICT scale,
    const float* HPUN_Q8_RESTRICT bias, const float* HPUN_Q8_RESTRICT res,
    float* HPUN_Q8_RESTRICT out) {
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

template <bool RELU, bool RES>
__attribute__((target("avx512f,avx512bw,avx512vnni"), noinline)) void row64_vnni(
    const std::uint8_t* u, const PointwiseQ8& q, const float* res, float* out, i64 n) {
  const std::int8_t* wp = q.wp.data();
  const std::int32_t* corr = q.corr.data();
  const float *scale = q.scale.data(), *bias = q.bias.data();
  i64 p = 0;
  for (; p + 6 <= n; p += 6)
    block64_vnni<6, RELU, RES>(u + p * 64, wp, corr, scale, bias, RES ? res + p * 64 : nullptr,
                               out + p * 64);
  for (; p < n; ++p)
    block64_vnni<1, RELU, RES>(u + p * 64, wp, corr, scale, bias, RES ? res + p * 64 : nullptr,
                               out + p * 64);
}

void row_vnni(const float* x, const PointwiseQ8& q, const float* res, bool relu, float* out,
              i64 n, std::uint8_t* scratch) {
  quantize_row_avx512(x, scratch, n * 64, q.inv_in_scale, q.in_zp);
  if (res)
    relu ? row64_vnni<true, true>(scratch, q, res, out, n)
         : row64_vnni<false, true>(scratch, q, res, out, n);
  else
    relu ? row64_vnni<true, false>(scratch, q, nullptr, out, n)
         : row64_vnni<false, false>(scratch, q, nullptr, out, n);
}

__attribute__((target("avx2,fma"))) void row_avx2(const float* x, const PointwiseQ8& q,
                                                  const float* res, bool relu, float* out, i64 n,
                                                  std::uint8_t* scratch) {
  row_plain_body(x, q, res, relu, out, n, scratch);
}
#endif

#if HPUN_Q8_ARM_DOTPROD
#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+dotprod")
template <int NP, bool RELU, bool RES>
inline void block16_dotprod(const std::int8_t* HPUN_Q8_RESTRICT s, const PointwiseQ8& q, i64 C, i64 ob,
                            const float* HPUN_Q8_RESTRICT res, float* HPUN_Q8_RESTRICT out) {
  int32x4_t acc[NP][4];
  for (int k = 0; k < 4; ++k) {
    const int32x4_t c0 = vld1q_s32(q.corr_signed.data() + ob + 4 * k);
    for (int i = 0; i < NP; ++i) acc[i][k] = c0;
  }
  const std::int8_t* wp = q.wp.data();
  for (i64 cb = 0; cb < C; cb += 16) {
    int8x16_t a[NP];
    for (int i = 0; i < NP; ++i) a[i] = vld1q_s8(s + i * C + cb);
#define HPUN_Q8_LANE(L)                                                               \
  {                                                                                   \
    const std::int8_t* wg = wp + (cb / 4 + (L)) * C * 4 + ob * 4;                     \
    const int8x16_t w0 = vld1q_s8(wg), w1 = vld1q_s8(wg + 16), w2 = vld1q_s8(wg + 32), \
                    w3 = vld1q_s8(wg + 48);                                           \
    for (int i = 0; i < NP; ++i) {                                                    \
      acc[i][0] = vdotq_laneq_s32(acc[i][0], w0, a[i], L);                            \
      acc[i][1] = vdotq_laneq_s32(acc[i][1], w1, a[i], L);                            \
      acc[i][2] = vdotq_laneq_s32(acc[i][2], w2, a[i], L);                            \
      acc[i][3] = vdotq_laneq_s32(acc[i][3], w3, a[i], L);                            \
    }                                                                                 \
  }
    HPUN_Q8_LANE(0)
    HPUN_Q8_LANE(1)
    HPUN_Q8_LANE(2)
    HPUN_Q8_LANE(3)
#undef HPUN_Q8_LANE
  }
  for (int k = 0; k < 4; ++k) {
    const float32x4_t sc = vld1q_f32(q.scale.data() + ob + 4 * k), b = vld1q_f32(q.bias.data() + ob + 4 * k);
    for (int i = 0; i < NP; ++i) {
      float32x4_t y = vmlaq_f32(b, vcvtq_f32_s32(acc[i][k]), sc);
      if (RELU) y = vmaxq_f32(y, vdupq_n_f32(0.f));
      if (RES) y = vaddq_f32(y, vld1q_f32(res + i * C + ob + 4 * k));
      vst1q_f32(out + i * C + ob + 4 * k, y);
    }
  }
}

template <bool RELU, bool RES>
void row_dotprod_t(const float* x, const PointwiseQ8& q, const float* res, float* out, i64 n,
                   std::uint8_t* scratch) {
  const i64 C = q.channels;
  std::int8_t* s = reinterpret_cast<std::int8_t*>(scratch);
  for (i64 i = 0; i < n * C; ++i)  // signed codes (sdot multiplies s8 x s8)
    s[i] = static_cast<std::int8_t>(quantize_code(x[i], q.inv_in_scale, q.in_zp));
  i64 p = 0;
  for (; p + 2 <= n; p += 2)
    for (i64 ob = 0; ob < C; ob += 16)
      block16_dotprod<2, RELU, RES>(s + p * C, q, C, ob, RES ? res + p * C : nullptr, out + p * C);
  for (; p < n; ++p)
    for (i64 ob = 0; ob < C; ob += 16)
      block16_dotprod<1, RELU, RES>(s + p * C, q, C, ob, RES ? res + p * C : nullptr, out + p * C);
}

void row_dotprod(const float* x, const PointwiseQ8& q, const float* res, bool relu, float* out, i64 n,
                 std::uint8_t* scratch) {
  if (res)
    relu ? row_dotprod_t<true, true>(x, q, res, out, n, scratch)
         : row_dotprod_t<false, true>(x, q, res, out, n, scratch);
  else
    relu ? row_dotprod_t<true, false>(x, q, nullptr, out, n, scratch)
         : row_dotprod_t<false, false>(x, q, nullptr, out, n, scratch);
}
#pragma GCC pop_options
#endif

void row_plain(const float* x, const PointwiseQ8& q, const float* res, bool relu, float* out,
               i64 n, std::uint8_t* scratch) {
  row_plain_body(x, q, res, relu, out, n, scratch);
}

using RowFn = void (*)(const float*, const PointwiseQ8&, const float*, bool, float*, i64,
                       std::uint8_t*);
struct Choice {
  RowFn fn;
  const char* isa;
};

// The fastest code this CPU has for C channels (HPUN_KERNELS_ISA caps it: avx2 / sse2 on x86, neon on
// AArch64 for the plain loops).
Choice choose(i64 channels) {
  const bool wide = channels == 64;
#if HPUN_Q8_X86
  static const int level = [] {  // 2: VNNI, 1: AVX2, 0: baseline
    const char* cap = std::getenv("HPUN_KERNELS_ISA");
    const bool allow512 = !cap || !std::strcmp(cap, "avx512f");
    const bool allow2 = allow512 || !std::strcmp(cap, "avx2");
    __builtin_cpu_init();
    if (allow512 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vnni"))
      return 2;
    return allow2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
  }();
  if (level == 2 && wide) return {row_vnni, "avx512vnni"};
  if (level >= 1) return {row_avx2, "avx2"};
  return {row_plain, "sse2"};
#elif HPUN_Q8_ARM_DOTPROD
  (void)wide;
  static const bool dotprod = [] {
    const char* cap = std::getenv("HPUN_KERNELS_ISA");
    return (!cap || std::strcmp(cap, "neon") != 0) && (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
  }();
  if (dotprod && channels % 16 == 0) return {row_dotprod, "neon-dotprod"};
  return {row_plain, "neon"};
#elif defined(__ARM_NEON) || defined(__ARM_NEON__)
  (void)wide;
  return {row_plain, "neon"};
#else
  (void)wide;
  return {row_plain, "generic"};
#endif
}

}  // namespace

PointwiseQ8 pw_q8_prepare(const std::int8_t* qw, const float* w_scale, const float* b,
                          double in_scale, std::int64_t in_zp, std::int64_t channels) {
  PointwiseQ8 q;
  const i64 C = channels, Cp = (C + 3) / 4 * 4;
  q.channels = C;
  q.padded = Cp;
  q.inv_in_scale = static_cast<float>(1.0 / in_scale);
  q.in_zp = static_cast<std::int32_t>(in_zp);
  q.wp.assign(Cp * C, 0);
  q.wt.assign(C * C, 0);
  q.corr.assign(C, 0);
  q.corr_signed.assign(C, 0);
  q.scale.assign(C, 0.f);
  q.bias.assign(C, 0.f);
  const float s = static_cast<float>(in_scale);
  for (i64 o = 0; o < C; ++o) {
    std::int32_t sum = 0;
    for (i64 c = 0; c < C; ++c) {
      const std::int8_t w = qw[o * C + c];
      q.wp[(c / 4) * C * 4 + o * 4 + c % 4] = w;
      q.wt[c * C + o] = w;
      sum += w;
    }
    q.corr[o] = -(q.in_zp + 128) * sum;
    q.corr_signed[o] = -q.in_zp * sum;
    q.scale[o] = s * w_scale[o];
    q.bias[o] = b ? b[o] : 0.f;
  }
  return q;
}

std::size_t pw_q8_scratch_bytes(std::int64_t width, std::int64_t channels) {
  const i64 Cp = (channels + 3) / 4 * 4;
  return static_cast<std::size_t>((width * Cp + 63) / 64 * 64 + 4 * channels);
}

void pw_q8_nhwc_rows(const float* x, const PointwiseQ8& q, const float* residual, bool relu,
                     float* out, std::int64_t width, std::int64_t r0, std::int64_t r1,
                     std::uint8_t* scratch) {
  const RowFn fn = choose(q.channels).fn;
  const i64 rowF = width * q.channels;
  for (i64 r = r0; r < r1; ++r)
    fn(x + r * rowF, q, residual ? residual + r * rowF : nullptr, relu, out + r * rowF, width,
       scratch);
}

void pw_q8_row(const float* x, const PointwiseQ8& q, const float* residual, bool relu, float* out,
               std::int64_t n) {
  thread_local std::vector<std::uint8_t> scratch;
  const std::size_t need = pw_q8_scratch_bytes(n, q.channels);
  if (scratch.size() < need) scratch.resize(need);
  choose(q.channels).fn(x, q, residual, relu, out, n, scratch.data());
}

void pw_q8_nhwc(const float* x, const PointwiseQ8& q, const float* residual, bool relu, float* out,
                std::int64_t batch, std::int64_t height, std::int64_t width) {
  std::vector<std::uint8_t> scratch(pw_q8_scratch_bytes(width, q.channels));
  const i64 image = height * width * q.channels;
  for (i64 n = 0; n < batch; ++n)
    pw_q8_nhwc_rows(x + n * image, q, residual ? residual + n * image : nullptr, relu,
                    out + n * image, width, 0, height, scratch.data());
}

const char* pw_q8_isa(std::int64_t channels) { return choose(channels).isa; }

}  // namespace kernels
}  // namespace hpun
