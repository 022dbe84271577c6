// f32-pud-chw, generic source: hpun::fused_pud on one H x W plane of an NCHW tensor (ukernels.h),
// compiled once per ISA by f32-pud-chw-generic-<isa>.cpp. Plain restrict-qualified loops that the
// compiler vectorises.
//
// With h = H/2, w = W/2 and sub-image s = 2 dy + dx (pixel_unshuffle's channel order), step k of
// the pipeline does
//   A  sub-image row k+3: horizontal max over columns j-1..j+1 of the four sub-images, read
//   straight
//      from full-resolution rows 2(k+3) and 2(k+3)+1 (a dilation-2 max; stride-2 loads). Columns
//      beyond the border are skipped, which is what -inf padding means.
//   B  pooled row k+2: vertical max of three A rows (rows beyond the border clamp onto the edge
//   row:
//      repeating a row already in the window leaves the max unchanged). Stored with one zero column
//      each side (the grouped conv's zero padding).
//   C  conv row k+1: bias + 36 taps over three pooled rows of the four sub-images; a row beyond the
//      border is a shared zero row. Stored with one replicated column each side.
//   D  output rows 2k and 2k+1: bilinear x2 (align_corners=False) weights 1/4, 3/4 of the clamped
//      neighbouring conv rows and columns, plus the input, written interleaved.
// Each stage keeps three rows in a ring: hpun::fused_pud_scratch_floats(W) floats in all.
#pragma once

#include "common.h"

namespace hpun {
namespace {

// Stage A for one full-resolution row xr (W = 2w floats): e[j] = max of xr[2j-2], xr[2j], xr[2j+2]
// and o[j] = max of xr[2j-1], xr[2j+1], xr[2j+3], skipping indices outside the row.
HPUN_INLINE void chw_hmax_deinterleave(const float* HPUN_RESTRICT xr, float* HPUN_RESTRICT e,
                                       float* HPUN_RESTRICT o, i64 w) {
  if (w == 1) {
    e[0] = xr[0];
    o[0] = xr[1];
    return;
  }
  e[0] = fmax2(xr[0], xr[2]);
  o[0] = fmax2(xr[1], xr[3]);
  for (i64 j = 1; j < w - 1; ++j) {
    e[j] = fmax2(fmax2(xr[2 * j - 2], xr[2 * j]), xr[2 * j + 2]);
    o[j] = fmax2(fmax2(xr[2 * j - 1], xr[2 * j + 1]), xr[2 * j + 3]);
  }
  e[w - 1] = fmax2(xr[2 * w - 4], xr[2 * w - 2]);
  o[w - 1] = fmax2(xr[2 * w - 3], xr[2 * w - 1]);
}

// Stage C: dst[j] = bias + sum over s, u, v of k[s][u][v] * rows[s][u][j + v] (rows carry one zero
// column on each side, so j + v spans the padded columns j-1..j+1).
HPUN_INLINE void chw_conv_row(const float* const* rows, const float* HPUN_RESTRICT k, float bias,
                              float* HPUN_RESTRICT dst, i64 w) {
  const float* HPUN_RESTRICT r00 = rows[0];
  const float* HPUN_RESTRICT r01 = rows[1];
  const float* HPUN_RESTRICT r02 = rows[2];
  const float* HPUN_RESTRICT r10 = rows[3];
  const float* HPUN_RESTRICT r11 = rows[4];
  const float* HPUN_RESTRICT r12 = rows[5];
  const float* HPUN_RESTRICT r20 = rows[6];
  const float* HPUN_RESTRICT r21 = rows[7];
  const float* HPUN_RESTRICT r22 = rows[8];
  const float* HPUN_RESTRICT r30 = rows[9];
  const float* HPUN_RESTRICT r31 = rows[10];
  const float* HPUN_RESTRICT r32 = rows[11];
  float kk[36];
  for (int i = 0; i < 36; ++i) kk[i] = k[i];
  for (i64 j = 0; j < w; ++j) {
    // One partial sum per sub-image keeps four independent FMA chains.
    float a0 = kk[0] * r00[j] + kk[1] * r00[j + 1] + kk[2] * r00[j + 2];
    float a1 = kk[9] * r10[j] + kk[10] * r10[j + 1] + kk[11] * r10[j + 2];
    float a2 = kk[18] * r20[j] + kk[19] * r20[j + 1] + kk[20] * r20[j + 2];
    float a3 = kk[27] * r30[j] + kk[28] * r30[j + 1] + kk[29] * r30[j + 2];
    a0 += kk[3] * r01[j] + kk[4] * r01[j + 1] + kk[5] * r01[j + 2];
    a1 += kk[12] * r11[j] + kk[13] * r11[j + 1] + kk[14] * r11[j + 2];
    a2 += kk[21] * r21[j] + kk[22] * r21[j + 1] + kk[23] * r21[j + 2];
    a3 += kk[30] * r31[j] + kk[31] * r31[j + 1] + kk[32] * r31[j + 2];
    a0 += kk[6] * r02[j] + kk[7] * r02[j + 1] + kk[8] * r02[j + 2];
    a1 += kk[15] * r12[j] + kk[16] * r12[j + 1] + kk[17] * r12[j + 2];
    a2 += kk[24] * r22[j] + kk[25] * r22[j + 1] + kk[26] * r22[j + 2];
    a3 += kk[33] * r32[j] + kk[34] * r32[j + 1] + kk[35] * r32[j + 2];
    dst[j] = bias + ((a0 + a1) + (a2 + a3));
  }
}

// Stage D for one output row: v = 1/4 * far + 3/4 * near (the vertical blend, v padded with one
// replicated column each side), then columns 2j, 2j+1 = 1/4, 3/4 blends of v[j-1], v[j], v[j+1],
// plus the input row.
HPUN_INLINE void chw_up_row(const float* HPUN_RESTRICT far, const float* HPUN_RESTRICT near,
                            float* HPUN_RESTRICT v, const float* HPUN_RESTRICT xr,
                            float* HPUN_RESTRICT outr, i64 w) {
  for (i64 j = 1; j <= w; ++j) v[j] = 0.25f * far[j] + 0.75f * near[j];
  v[0] = v[1];
  v[w + 1] = v[w];
  for (i64 j = 0; j < w; ++j) {
    outr[2 * j] = xr[2 * j] + (0.25f * v[j] + 0.75f * v[j + 1]);
    outr[2 * j + 1] = xr[2 * j + 1] + (0.75f * v[j + 1] + 0.25f * v[j + 2]);
  }
}

HPUN_INLINE void f32_pud_chw_generic(const float* HPUN_RESTRICT x, float* HPUN_RESTRICT out, i64 H,
                                     i64 W, const float* HPUN_RESTRICT k, float bias,
                                     float* HPUN_RESTRICT scratch) {
  const i64 h = H / 2, w = W / 2, wp = w + 2;
  // Scratch layout (floats): A ring 3 x 4 x w | B ring 3 x 4 x wp | zero row wp | C ring 3 x wp |
  // v wp.
  float* A = scratch;
  float* B = A + 12 * w;
  float* zero = B + 12 * wp;
  float* G = zero + wp;
  float* v = G + 3 * wp;
  auto a_row = [&](i64 r, int s) { return A + ((r % 3) * 4 + s) * w; };
  auto b_row = [&](i64 r, int s) { return B + ((r % 3) * 4 + s) * wp; };
  auto g_row = [&](i64 r) { return G + (r % 3) * wp; };
  for (i64 j = 0; j < wp; ++j) zero[j] = 0.f;

  for (i64 kstep = -3; kstep < h; ++kstep) {
    const i64 ra = kstep + 3;  // stage A row
    if (ra < h) {
      for (int dy = 0; dy < 2; ++dy)
        chw_hmax_deinterleave(x + (2 * ra + dy) * W, a_row(ra, 2 * dy), a_row(ra, 2 * dy + 1), w);
    }
    const i64 rb = kstep + 2;  // stage B row
    if (rb >= 0 && rb < h) {
      const i64 up = clampi(rb - 1, 0, h - 1), dn = clampi(rb + 1, 0, h - 1);
      for (int s = 0; s < 4; ++s) {
        float* dst = b_row(rb, s);
        dst[0] = 0.f;
        dst[w + 1] = 0.f;
        vmax3(a_row(up, s), a_row(rb, s), a_row(dn, s), dst + 1, w);
      }
    }
    const i64 rc = kstep + 1;  // stage C row
    if (rc >= 0 && rc < h) {
      const float* rows[12];
      for (int s = 0; s < 4; ++s)
        for (int u = 0; u < 3; ++u) {
          const i64 r = rc + u - 1;
          rows[s * 3 + u] = (r < 0 || r >= h) ? zero : b_row(r, s);
        }
      float* dst = g_row(rc);
      chw_conv_row(rows, k, bias, dst + 1, w);
      dst[0] = dst[1];
      dst[w + 1] = dst[w];
    }
    const i64 ro = kstep;  // stage D: output rows 2*ro, 2*ro + 1
    if (ro >= 0) {
      const float* g0 = g_row(ro);
      const float* gm = g_row(clampi(ro - 1, 0, h - 1));
      const float* gp = g_row(clampi(ro + 1, 0, h - 1));
      chw_up_row(gm, g0, v, x + 2 * ro * W, out + 2 * ro * W, w);
      chw_up_row(gp, g0, v, x + (2 * ro + 1) * W, out + (2 * ro + 1) * W, w);
    }
  }
}

}  // namespace
}  // namespace hpun
