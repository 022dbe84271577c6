// The micro-kernels: one function type per op (what it computes, its layout), then every variant.
//
// Naming: hpun_<dtype>_<op>_ukernel_<tile>__<isa>, defined in
// src/<dtype>-<op>/<dtype>-<op>-<tile>-<isa>.cpp.
//   dtype  f32 (float32 in and out) or qs8 (int8 products, float32 in and out)
//   tile   generic: any channel count C; c64: C == 64 only; MxN: M pixels x N channels per register
//          block (1x1 convs; for the depthwise conv rows x pixels, with the channel count after c)
//   isa    what the file is compiled for: avx512f (-mavx512f -mavx512vl -mavx2 -mfma for the
//   generic
//          sources, -mavx512f for the c64 intrinsics), avx2 (-mavx2 -mfma), avx512vnni, neondot
//          (-march=armv8.2-a+dotprod), or baseline: the target's default flags (SSE2 on x86-64,
//          NEON on AArch64). A "generic" kernel is one source (<dtype>-<op>-generic.h) compiled
//          once per isa by thin files that name it.
// src/configs/ picks one variant per op for the CPU at run time.
//
// Channels-last (NHWC) rows: a row of W pixels is W * C contiguous floats; "padded" rows carry one
// extra pixel (C floats) each side, and a padded row pointer points at that left pad.
#pragma once

#include <cstdint>

extern "C" {

// ---- f32-pud-chw: hpun::fused_pud on one H x W plane of an NCHW tensor -------------------------
// out = bilinear_x2(grouped_conv3x3(max_pool3x3(pixel_unshuffle(x, 2)), k36, bias)) + x for one
// channel: x, out H*W floats (not aliasing), k36 the channel's 36 weights [sub-image][kh][kw], H
// and W even. The whole plane streams through three-row rings in scratch
// (hpun::fused_pud_scratch_floats(W)).
typedef void (*hpun_f32_pud_chw_ukernel_fn)(const float* x, float* out, int64_t height,
                                            int64_t width, const float* k36, float bias,
                                            float* scratch);
void hpun_f32_pud_chw_ukernel_generic__avx512f(const float*, float*, int64_t, int64_t, const float*,
                                               float, float*);
void hpun_f32_pud_chw_ukernel_generic__avx2(const float*, float*, int64_t, int64_t, const float*,
                                            float, float*);
void hpun_f32_pud_chw_ukernel_generic__baseline(const float*, float*, int64_t, int64_t,
                                                const float*, float, float*);

// ---- f32-pud-pool: the PUD's max pool on one pooled half row, NHWC -----------------------------
// For the full-resolution rows ra, rb, rc (the rows 2r-2, 2r, 2r+2 of one parity dy around pooled
// row r, clamped at the border; W = 2w pixels each): e[j] / o[j] = the 3x3 max over the sub-image
// of even / odd columns (sub-images 2dy, 2dy+1), columns beyond the border skipped (-inf padding).
// e and o: w pixels. scratch: W * C floats (the generic kernel's vertical max row; c64 ignores it).
typedef void (*hpun_f32_pud_pool_ukernel_fn)(const float* ra, const float* rb, const float* rc,
                                             float* e, float* o, int64_t w, int64_t channels,
                                             float* scratch);
void hpun_f32_pud_pool_ukernel_generic__avx512f(const float*, const float*, const float*, float*,
                                                float*, int64_t, int64_t, float*);
void hpun_f32_pud_pool_ukernel_generic__avx2(const float*, const float*, const float*, float*,
                                             float*, int64_t, int64_t, float*);
void hpun_f32_pud_pool_ukernel_generic__baseline(const float*, const float*, const float*, float*,
                                                 float*, int64_t, int64_t, float*);
void hpun_f32_pud_pool_ukernel_c64__avx512f(const float*, const float*, const float*, float*,
                                            float*, int64_t, int64_t, float*);

// ---- f32-pud-gconv: the PUD's grouped 3x3 conv on one half row, NHWC ---------------------------
// dst[j][c] = bias[c] + sum over sub-image s, kernel row u, column v of kt[(9s + 3u + v) * C + c] *
// rows[3s + u][(j + v) * C + c], for j < w: rows[3s + u] is the padded pooled row r + u - 1 of
// sub-image s (zero pads; a zero row beyond the border). kt: the per-tap weight vectors
// (fused_pud_nhwc_transpose_weights).
typedef void (*hpun_f32_pud_gconv_ukernel_fn)(const float* const* rows, const float* kt,
                                              const float* bias, float* dst, int64_t w,
                                              int64_t channels);
void hpun_f32_pud_gconv_ukernel_generic__avx512f(const float* const*, const float*, const float*,
                                                 float*, int64_t, int64_t);
void hpun_f32_pud_gconv_ukernel_generic__avx2(const float* const*, const float*, const float*,
                                              float*, int64_t, int64_t);
void hpun_f32_pud_gconv_ukernel_generic__baseline(const float* const*, const float*, const float*,
                                                  float*, int64_t, int64_t);
void hpun_f32_pud_gconv_ukernel_c64__avx512f(const float* const*, const float*, const float*,
                                             float*, int64_t, int64_t);

// ---- f32-pud-up: the PUD's bilinear x2 upsampling plus its input, on part of one row, NHWC -----
// For half columns [j0, j1) of output row 2r + dy: v = 1/4 far + 3/4 near (far, near: padded conv
// rows r -+ 1 and r, edge pixels replicated), then pixels 2j, 2j+1 = 1/4, 3/4 blends of v's columns
// j-1, j, j+1 plus the input row xr's pixels 2j, 2j+1, written to t from t[0] on (2 (j1 - j0)
// pixels). scratch: (j1 - j0 + 2) * C floats (the generic kernel's v; c64 keeps v in registers).
typedef void (*hpun_f32_pud_up_ukernel_fn)(const float* far, const float* near, const float* xr,
                                           float* t, int64_t j0, int64_t j1, int64_t channels,
                                           float* scratch);
void hpun_f32_pud_up_ukernel_generic__avx512f(const float*, const float*, const float*, float*,
                                              int64_t, int64_t, int64_t, float*);
void hpun_f32_pud_up_ukernel_generic__avx2(const float*, const float*, const float*, float*,
                                           int64_t, int64_t, int64_t, float*);
void hpun_f32_pud_up_ukernel_generic__baseline(const float*, const float*, const float*, float*,
                                               int64_t, int64_t, int64_t, float*);
void hpun_f32_pud_up_ukernel_c64__avx512f(const float*, const float*, const float*, float*, int64_t,
                                          int64_t, int64_t, float*);

// ---- f32-pw: a 1x1 conv on n pixels, NHWC, with its epilogue -----------------------------------
// out[p][o] = pwb[o] + sum_c t[p][c] * pwt[c * C + o], then max(., 0) if relu, then + res[p][o] if
// res is not null. pwt: the transposed (C in, C out) weights (conv1x1_transpose_weights).
typedef void (*hpun_f32_pw_ukernel_fn)(const float* t, const float* pwt, const float* pwb,
                                       const float* res, bool relu, float* out, int64_t n,
                                       int64_t channels);
void hpun_f32_pw_ukernel_generic__avx512f(const float*, const float*, const float*, const float*,
                                          bool, float*, int64_t, int64_t);
void hpun_f32_pw_ukernel_generic__avx2(const float*, const float*, const float*, const float*, bool,
                                       float*, int64_t, int64_t);
void hpun_f32_pw_ukernel_generic__baseline(const float*, const float*, const float*, const float*,
                                           bool, float*, int64_t, int64_t);
void hpun_f32_pw_ukernel_6x64__avx512f(const float*, const float*, const float*, const float*, bool,
                                       float*, int64_t, int64_t);

// ---- f32-dwconv: a depthwise k x k conv on one row, NHWC ---------------------------------------
// dst[j][c] = dwb[c] + sum over the taps inside the image of dwt[(u k + v) * C + c] * rows[u][(j +
// v - k/2) * C + c], j < W: rows[u] is input row r + u - k/2, or null outside the image (zero
// padding), so the rows may come from a ring. k odd, at most kMaxDepthwiseK.
typedef void (*hpun_f32_dwconv_ukernel_fn)(const float* const* rows, int64_t width,
                                           int64_t channels, const float* dwt, const float* dwb,
                                           int64_t k, float* dst);
void hpun_f32_dwconv_ukernel_generic__avx512f(const float* const*, int64_t, int64_t, const float*,
                                              const float*, int64_t, float*);
void hpun_f32_dwconv_ukernel_generic__avx2(const float* const*, int64_t, int64_t, const float*,
                                           const float*, int64_t, float*);
void hpun_f32_dwconv_ukernel_generic__baseline(const float* const*, int64_t, int64_t, const float*,
                                               const float*, int64_t, float*);
// k = 5, C = 64: one output row (rows[0..4]), 8 pixels per step.
typedef void (*hpun_f32_dwconv5x5_row_ukernel_fn)(const float* const* rows, int64_t width,
                                                  const float* dwt, const float* dwb, float* dst);
void hpun_f32_dwconv5x5_ukernel_1x8c64__avx512f(const float* const*, int64_t, const float*,
                                                const float*, float*);
// k = 5, C = 64: output rows r and r + 1 at once (rows[0..5]: input rows r - 2 .. r + 3), columns
// [ja, jb) only, written from dst0[0] / dst1[0] on.
typedef void (*hpun_f32_dwconv5x5_2rows_ukernel_fn)(const float* const* rows, int64_t width,
                                                    const float* dwt, const float* dwb, float* dst0,
                                                    float* dst1, int64_t ja, int64_t jb);
void hpun_f32_dwconv5x5_ukernel_2x8c64__avx512f(const float* const*, int64_t, const float*,
                                                const float*, float*, float*, int64_t, int64_t);

// ---- qs8-pw: the int8 1x1 conv on n pixels, NHWC, float32 in and out ---------------------------
// q[p][c] = clamp(round_half_even(x[p][c] * inv_in_scale) + in_zp, -128, 127); out[p][o] = bias[o]
// + scale[o] * sum_c (q[p][c] - in_zp) * qw[o][c], then relu, then + res. The weights and constants
// in the kernels' layouts (hpun::pw_q8_prepare builds them):
struct hpun_qs8_pw_params {
  int64_t channels;    // C (in and out)
  int64_t padded;      // C rounded up to a multiple of 4: the quantized row's stride
  float inv_in_scale;  // float32(1 / in_scale), as the reference multiplies
  int32_t in_zp;
  const int8_t* wp;            // [padded / 4][C out][4]: four input channels per 32-bit lane
  const int16_t* wt;           // [C in][C out]: the plain loops'
  const int32_t* corr;         // -(in_zp + 128) * sum_c qw[o][c] (codes stored as q + 128)
  const int32_t* corr_signed;  // -in_zp * sum_c qw[o][c] (signed codes: sdot)
  const float* scale;          // in_scale * w_scale[o]
  const float* bias;           // b[o]
};
// scratch: pw_q8_scratch_bytes(n, C) bytes.
typedef void (*hpun_qs8_pw_ukernel_fn)(const float* x, const hpun_qs8_pw_params* params,
                                       const float* res, bool relu, float* out, int64_t n,
                                       uint8_t* scratch);
void hpun_qs8_pw_ukernel_generic__avx2(const float*, const hpun_qs8_pw_params*, const float*, bool,
                                       float*, int64_t, uint8_t*);
void hpun_qs8_pw_ukernel_generic__baseline(const float*, const hpun_qs8_pw_params*, const float*,
                                           bool, float*, int64_t, uint8_t*);
void hpun_qs8_pw_ukernel_6x64__avx512vnni(const float*, const hpun_qs8_pw_params*, const float*,
                                          bool, float*, int64_t, uint8_t*);
void hpun_qs8_pw_ukernel_2x16__neondot(const float*, const hpun_qs8_pw_params*, const float*, bool,
                                       float*, int64_t, uint8_t*);

}  // extern "C"
