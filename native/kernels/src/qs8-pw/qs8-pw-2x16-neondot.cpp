// hpun_qs8_pw_ukernel_2x16__neondot: the int8 1x1 conv on n NHWC pixels (ukernels.h) for C a
// multiple of 16, AArch64 with the dot-product extension (ARMv8.2+ cores; compiled with
// -march=armv8.2-a+dotprod). The row is quantized to signed codes, then 2 pixels x 16 output
// channels accumulate with sdot by lane (16 int8 multiply-adds an instruction against 4 for an fp32
// FMA); the zero point comes off as corr_signed = -in_zp * sum_c qw[o][c].
#include <arm_neon.h>

#include <cstdint>

#include "common.h"
#include "qs8-pw/qs8-quantize.h"
#include "ukernels.h"

#if !defined(__ARM_FEATURE_DOTPROD)
#error "compile with -march=armv8.2-a+dotprod"
#endif

namespace {

// Lane L of the pixels' 16 codes (input channels cb + 4L .. cb + 4L + 3) against the weights of
// those four input channels for output channels ob .. ob + 15 (wg: their [C out][4] bytes from ob
// on).
template <int NP, int L>
HPUN_INLINE void dot_lane(int32x4_t (&acc)[NP][4], const std::int8_t* wg,
                          const int8x16_t (&a)[NP]) {
  const int8x16_t w0 = vld1q_s8(wg), w1 = vld1q_s8(wg + 16), w2 = vld1q_s8(wg + 32),
                  w3 = vld1q_s8(wg + 48);
  for (int i = 0; i < NP; ++i) {
    acc[i][0] = vdotq_laneq_s32(acc[i][0], w0, a[i], L);
    acc[i][1] = vdotq_laneq_s32(acc[i][1], w1, a[i], L);
    acc[i][2] = vdotq_laneq_s32(acc[i][2], w2, a[i], L);
    acc[i][3] = vdotq_laneq_s32(acc[i][3], w3, a[i], L);
  }
}

template <int NP, bool RELU, bool RES>
HPUN_INLINE void block(const std::int8_t* HPUN_RESTRICT s, const hpun_qs8_pw_params& q, int64_t C,
                       int64_t ob, const float* HPUN_RESTRICT res, float* HPUN_RESTRICT out) {
  int32x4_t acc[NP][4];
  for (int k = 0; k < 4; ++k) {
    const int32x4_t c0 = vld1q_s32(q.corr_signed + ob + 4 * k);
    for (int i = 0; i < NP; ++i) acc[i][k] = c0;
  }
  for (int64_t cb = 0; cb < C; cb += 16) {
    int8x16_t a[NP];
    for (int i = 0; i < NP; ++i) a[i] = vld1q_s8(s + i * C + cb);
    const std::int8_t* wg = q.wp + (cb / 4) * C * 4 + ob * 4;  // lane L: wg + L * C * 4
    dot_lane<NP, 0>(acc, wg, a);
    dot_lane<NP, 1>(acc, wg + C * 4, a);
    dot_lane<NP, 2>(acc, wg + 2 * C * 4, a);
    dot_lane<NP, 3>(acc, wg + 3 * C * 4, a);
  }
  for (int k = 0; k < 4; ++k) {
    const float32x4_t sc = vld1q_f32(q.scale + ob + 4 * k), b = vld1q_f32(q.bias + ob + 4 * k);
    for (int i = 0; i < NP; ++i) {
      float32x4_t y = vmlaq_f32(b, vcvtq_f32_s32(acc[i][k]), sc);
      if (RELU) y = vmaxq_f32(y, vdupq_n_f32(0.f));
      if (RES) y = vaddq_f32(y, vld1q_f32(res + i * C + ob + 4 * k));
      vst1q_f32(out + i * C + ob + 4 * k, y);
    }
  }
}

template <bool RELU, bool RES>
void row(const float* x, const hpun_qs8_pw_params& q, const float* res, float* out, int64_t n,
         std::uint8_t* scratch) {
  const int64_t C = q.channels;
  std::int8_t* s = reinterpret_cast<std::int8_t*>(scratch);
  for (int64_t i = 0; i < n * C; ++i)  // signed codes (sdot multiplies s8 x s8)
    s[i] = static_cast<std::int8_t>(hpun::quantize_code(x[i], q.inv_in_scale, q.in_zp));
  int64_t p = 0;
  for (; p + 2 <= n; p += 2)
    for (int64_t ob = 0; ob < C; ob += 16)
      block<2, RELU, RES>(s + p * C, q, C, ob, RES ? res + p * C : nullptr, out + p * C);
  for (; p < n; ++p)
    for (int64_t ob = 0; ob < C; ob += 16)
      block<1, RELU, RES>(s + p * C, q, C, ob, RES ? res + p * C : nullptr, out + p * C);
}

}  // namespace

void hpun_qs8_pw_ukernel_2x16__neondot(const float* x, const hpun_qs8_pw_params* params,
                                       const float* res, bool relu, float* out, int64_t n,
                                       uint8_t* scratch) {
  const hpun_qs8_pw_params& q = *params;
  if (res)
    relu ? row<true, true>(x, q, res, out, n, scratch)
         : row<false, true>(x, q, res, out, n, scratch);
  else
    relu ? row<true, false>(x, q, nullptr, out, n, scratch)
         : row<false, false>(x, q, nullptr, out, n, scratch);
}
