// Fused PUD front part: see fused_pud.h for what it computes.
//
// Layout and schedule. The op is channel-separable. For contiguous NCHW tensors each H x W plane is
// processed on its own, streaming top to bottom; for channels-last (NHWC) tensors the same stages
// run over rows of W x C floats, vectorised across the channels, on bands of rows (further down).
// With h = H/2, w = W/2 and sub-image s = 2*dy + dx (pixel_unshuffle's channel order), step k of
// the pipeline does
//
//   A  sub-image row k+3: horizontal max over columns j-1..j+1 of the four sub-images, read straight
//      from full-resolution rows 2(k+3) and 2(k+3)+1 (a dilation-2 max; stride-2 loads). Columns
//      beyond the border are skipped, which is what -inf padding means.
//   B  pooled row k+2: vertical max of three A rows (rows beyond the border clamp onto the edge
//      row: repeating a row already in the window leaves the max unchanged). Stored with one zero
//      column each side (the grouped conv's zero padding).
//   C  conv row k+1: bias + 36 taps over three pooled rows of the four sub-images; a row beyond the
//      border is a shared zero row. Stored with one replicated column each side.
//   D  output rows 2k and 2k+1: bilinear x2 (align_corners=False) weights 1/4, 3/4 of the clamped
//      neighbouring conv rows and columns, plus the input, written interleaved.
//
// Each stage keeps three rows in a ring, so one plane needs ~30 * (w + 2) floats of scratch (38 KB
// at W = 640) and the input plane is read from memory twice (A and D), the output written once.
//
// Vectorisation: the row loops are plain, restrict-qualified, unit- or stride-2 loops that GCC and
// Clang vectorise. On x86-64 the plane and band bodies are compiled three times (AVX-512F, AVX2+FMA,
// baseline SSE2) and chosen once at run time by CPUID, so one binary runs everywhere and uses the
// widest vectors the CPU has; on AArch64 NEON is the baseline and the compiler vectorises with it.
// Numerics differ from PyTorch only by summation order / FMA contraction (~1e-7 relative).
#include "fused_pud.h"
#include "pw_q8.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

#if defined(__GNUC__) || defined(__clang__)
#define HPUN_INLINE inline __attribute__((always_inline))
#define HPUN_RESTRICT __restrict__
#else
#define HPUN_INLINE inline
#define HPUN_RESTRICT
#endif

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define HPUN_X86_DISPATCH 1
#else
#define HPUN_X86_DISPATCH 0
#endif

namespace hpun {
namespace kernels {
namespace {

using i64 = std::int64_t;

HPUN_INLINE float fmax2(float a, float b) { return a < b ? b : a; }

HPUN_INLINE i64 clampi(i64 v, i64 lo, i64 hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Stage A for one full-resolution row `xr` (W = 2w floats): e[j] = max of xr[2j-2], xr[2j], xr[2j+2]
// and o[j] = max of xr[2j-1], xr[2j+1], xr[2j+3], skipping indices outside the row.
HPUN_INLINE void hmax_deinterleave(const float* HPUN_RESTRICT xr, float* HPUN_RESTRICT e,
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

HPUN_INLINE void vmax3(const float* HPUN_RESTRICT a, const float* HPUN_RESTRICT b,
                       const float* HPUN_RESTRICT c, float* HPUN_RESTRICT dst, i64 n) {
  for (i64 j = 0; j < n; ++j) dst[j] = fmax2(fmax2(a[j], b[j]), c[j]);
}

// Stage C: dst[j] = bias + sum over s, u, v of k[s][u][v] * rows[s][u][j + v] (rows carry one zero
// column on each side, so j + v spans the padded columns j-1..j+1).
HPUN_INLINE void conv_row(const float* const* rows, const float* HPUN_RESTRICT k, float bias,
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
HPUN_INLINE void up_row(const float* HPUN_RESTRICT far, const float* HPUN_RESTRICT near,
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

HPUN_INLINE void plane_body(const float* HPUN_RESTRICT x, float* HPUN_RESTRICT out, i64 H, i64 W,
                            const float* HPUN_RESTRICT k, float bias, float* HPUN_RESTRICT scratch) {
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
        hmax_deinterleave(x + (2 * ra + dy) * W, a_row(ra, 2 * dy), a_row(ra, 2 * dy + 1), w);
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
      conv_row(rows, k, bias, dst + 1, w);
      dst[0] = dst[1];
      dst[w + 1] = dst[w];
    }
    const i64 ro = kstep;  // stage D: output rows 2*ro, 2*ro + 1
    if (ro >= 0) {
      const float* g0 = g_row(ro);
      const float* gm = g_row(clampi(ro - 1, 0, h - 1));
      const float* gp = g_row(clampi(ro + 1, 0, h - 1));
      up_row(gm, g0, v, x + 2 * ro * W, out + 2 * ro * W, w);
      up_row(gp, g0, v, x + (2 * ro + 1) * W, out + (2 * ro + 1) * W, w);
    }
  }
}

// ---- NHWC (channels-last) -------------------------------------------------------------------------
// The same four stages; a "column" is now C contiguous floats, so every inner loop runs over the
// channels (vectorised across C) and the per-channel weights become per-tap vectors kt[tap][c].
// A work item is a band of output half-rows [o0, o1) of one image, with the halo rows its stages
// need recomputed (3 A rows, 2 B rows, 1 C row each side at most).

HPUN_INLINE void hmax_deinterleave_nhwc(const float* HPUN_RESTRICT xr, float* HPUN_RESTRICT e,
                                        float* HPUN_RESTRICT o, i64 w, i64 C) {
  for (i64 j = 0; j < w; ++j) {
    const float* ce = xr + 2 * j * C;  // column 2j
    const float* co = ce + C;          // column 2j + 1
    float* de = e + j * C;
    float* dout = o + j * C;
    if (j > 0 && j < w - 1) {
      for (i64 c = 0; c < C; ++c) {
        de[c] = fmax2(fmax2(ce[c - 2 * C], ce[c]), ce[c + 2 * C]);
        dout[c] = fmax2(fmax2(co[c - 2 * C], co[c]), co[c + 2 * C]);
      }
    } else {
      for (i64 c = 0; c < C; ++c) {
        float me = ce[c], mo = co[c];
        if (j > 0) {
          me = fmax2(me, ce[c - 2 * C]);
          mo = fmax2(mo, co[c - 2 * C]);
        }
        if (j < w - 1) {
          me = fmax2(me, ce[c + 2 * C]);
          mo = fmax2(mo, co[c + 2 * C]);
        }
        de[c] = me;
        dout[c] = mo;
      }
    }
  }
}

HPUN_INLINE void conv_row_nhwc(const float* const* rows, const float* HPUN_RESTRICT kt,
                               const float* HPUN_RESTRICT bias, float* HPUN_RESTRICT dst, i64 w,
                               i64 C) {
  // rows[s*3+u] point at padded rows (column -1 first); kt[(s*9 + u*3 + v) * C + c]. All 36 taps
  // accumulate in registers for a vector of channels (one store per output).
  for (i64 j = 0; j < w; ++j) {
    const float* HPUN_RESTRICT r0 = rows[0] + j * C;
    const float* HPUN_RESTRICT r1 = rows[1] + j * C;
    const float* HPUN_RESTRICT r2 = rows[2] + j * C;
    const float* HPUN_RESTRICT r3 = rows[3] + j * C;
    const float* HPUN_RESTRICT r4 = rows[4] + j * C;
    const float* HPUN_RESTRICT r5 = rows[5] + j * C;
    const float* HPUN_RESTRICT r6 = rows[6] + j * C;
    const float* HPUN_RESTRICT r7 = rows[7] + j * C;
    const float* HPUN_RESTRICT r8 = rows[8] + j * C;
    const float* HPUN_RESTRICT r9 = rows[9] + j * C;
    const float* HPUN_RESTRICT r10 = rows[10] + j * C;
    const float* HPUN_RESTRICT r11 = rows[11] + j * C;
    float* HPUN_RESTRICT d = dst + j * C;
    const i64 C2 = 2 * C;
#define HPUN_TAPS(r, t)                                                                       \
  (kt[(t) * C + c] * r[c] + kt[((t) + 1) * C + c] * r[c + C] + kt[((t) + 2) * C + c] * r[c + C2])
    for (i64 c = 0; c < C; ++c) {
      float a0 = HPUN_TAPS(r0, 0) + HPUN_TAPS(r1, 3) + HPUN_TAPS(r2, 6);
      float a1 = HPUN_TAPS(r3, 9) + HPUN_TAPS(r4, 12) + HPUN_TAPS(r5, 15);
      float a2 = HPUN_TAPS(r6, 18) + HPUN_TAPS(r7, 21) + HPUN_TAPS(r8, 24);
      float a3 = HPUN_TAPS(r9, 27) + HPUN_TAPS(r10, 30) + HPUN_TAPS(r11, 33);
      d[c] = bias[c] + ((a0 + a1) + (a2 + a3));
    }
#undef HPUN_TAPS
  }
}

// Stage D on the half columns [j0, j1) of one output row, into t (the 2 (j1 - j0) pixels from
// column 2 j0 on): v = 1/4 * far + 3/4 * near (the vertical blend of the padded conv rows, whose
// edge columns are replicated, so v's are too), then columns 2j, 2j+1 = 1/4, 3/4 blends of v[j],
// v[j+1], v[j+2] (padded indices), plus the input row. Taken a chunk at a time where a 1x1 conv
// follows, so that the blended pixels are still in L1 when it reads them.
HPUN_INLINE void up_chunk_nhwc(const float* HPUN_RESTRICT far, const float* HPUN_RESTRICT near,
                               float* HPUN_RESTRICT v, const float* HPUN_RESTRICT xr,
                               float* HPUN_RESTRICT t, i64 j0, i64 j1, i64 C) {
  const float* HPUN_RESTRICT fp = far + j0 * C;
  const float* HPUN_RESTRICT np = near + j0 * C;
  for (i64 i = 0; i < (j1 - j0 + 2) * C; ++i) v[i] = 0.25f * fp[i] + 0.75f * np[i];
  for (i64 j = j0; j < j1; ++j) {
    const float* HPUN_RESTRICT vm = v + (j - j0) * C;
    const float* HPUN_RESTRICT v0 = vm + C;
    const float* HPUN_RESTRICT vp = v0 + C;
    const float* HPUN_RESTRICT xe = xr + 2 * j * C;
    float* HPUN_RESTRICT oe = t + 2 * (j - j0) * C;
    for (i64 c = 0; c < C; ++c) {
      oe[c] = xe[c] + (0.25f * vm[c] + 0.75f * v0[c]);
      oe[C + c] = xe[C + c] + (0.75f * v0[c] + 0.25f * vp[c]);
    }
  }
}

#if HPUN_X86_DISPATCH
// up_chunk_nhwc for C == 64 on AVX-512: the vertical blend v of padded columns j, j + 1, j + 2 slides
// in registers (one new column per output pair), so v never goes through memory.
__attribute__((target("avx512f"), noinline)) void up_chunk64_avx512(
    const float* HPUN_RESTRICT far, const float* HPUN_RESTRICT near, const float* HPUN_RESTRICT xr,
    float* HPUN_RESTRICT t, i64 j0, i64 j1) {
  const __m512 q1 = _mm512_set1_ps(0.25f), q3 = _mm512_set1_ps(0.75f);
#define HPUN_VBLEND(p, k)                                                                    \
  _mm512_add_ps(_mm512_mul_ps(q1, _mm512_loadu_ps(far + (p) * 64 + 16 * (k))),               \
                _mm512_mul_ps(q3, _mm512_loadu_ps(near + (p) * 64 + 16 * (k))))
  __m512 vm[4], v0[4];
  for (int k = 0; k < 4; ++k) {
    vm[k] = HPUN_VBLEND(j0, k);
    v0[k] = HPUN_VBLEND(j0 + 1, k);
  }
  for (i64 j = j0; j < j1; ++j) {
    const float* HPUN_RESTRICT xe = xr + 2 * j * 64;
    float* HPUN_RESTRICT oe = t + 2 * (j - j0) * 64;
    for (int k = 0; k < 4; ++k) {
      const __m512 vp = HPUN_VBLEND(j + 2, k);
      const __m512 e = _mm512_add_ps(_mm512_mul_ps(q1, vm[k]), _mm512_mul_ps(q3, v0[k]));
      const __m512 o = _mm512_add_ps(_mm512_mul_ps(q3, v0[k]), _mm512_mul_ps(q1, vp));
      _mm512_storeu_ps(oe + 16 * k, _mm512_add_ps(_mm512_loadu_ps(xe + 16 * k), e));
      _mm512_storeu_ps(oe + 64 + 16 * k, _mm512_add_ps(_mm512_loadu_ps(xe + 64 + 16 * k), o));
      vm[k] = v0[k];
      v0[k] = vp;
    }
  }
#undef HPUN_VBLEND
}
#endif

// ---- the PUD's 1x1 conv on one output row (fused_pud_pw) --------------------------------------
// out[p][o] = epilogue(pwb[o] + sum_c t[p][c] * pwt[c][o]) for the n pixels of a row that is still
// in cache. With C a multiple of 64 and GCC/Clang vector extensions, a block of P pixels x 64
// output channels accumulates in registers (P = 4 in the AVX-512 build: 16 zmm accumulators; 1
// elsewhere, where a 16-float vector is several registers); otherwise plain loops.
#if defined(__GNUC__) || defined(__clang__)
#define HPUN_V16 1
// Always inlined into the per-ISA bodies: the vector-return ABI note GCC gives for the baseline
// translation unit does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float v16 __attribute__((vector_size(64)));
HPUN_INLINE v16 ld16(const float* p) {
  v16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
HPUN_INLINE void st16(float* p, v16 v) { std::memcpy(p, &v, sizeof v); }

template <int P>
HPUN_INLINE void pointwise_block(const float* HPUN_RESTRICT t, const float* HPUN_RESTRICT pwt,
                                 const float* HPUN_RESTRICT pwb, const float* HPUN_RESTRICT res,
                                 bool relu, float* HPUN_RESTRICT out, i64 C, i64 ob) {
  v16 acc[P][4];
  for (int k = 0; k < 4; ++k) {
    const v16 bk = ld16(pwb + ob + 16 * k);
    for (int i = 0; i < P; ++i) acc[i][k] = bk;
  }
  for (i64 c = 0; c < C; ++c) {
    const float* wr = pwt + c * C + ob;
    const v16 w0 = ld16(wr), w1 = ld16(wr + 16), w2 = ld16(wr + 32), w3 = ld16(wr + 48);
#pragma GCC unroll 4
    for (int i = 0; i < P; ++i) {
      const v16 s = v16{} + t[i * C + c];
      acc[i][0] += s * w0;
      acc[i][1] += s * w1;
      acc[i][2] += s * w2;
      acc[i][3] += s * w3;
    }
  }
  for (int i = 0; i < P; ++i)
    for (int k = 0; k < 4; ++k) {
      v16 y = acc[i][k];
      if (relu) y = y < v16{} ? v16{} : y;
      if (res) y += ld16(res + i * C + ob + 16 * k);
      st16(out + i * C + ob + 16 * k, y);
    }
}
#else
#define HPUN_V16 0
#endif

#if HPUN_X86_DISPATCH
// C == 64 on AVX-512 (the pixel block P = 4 instantiations): the same sum with intrinsics, 6 pixels
// x 64 output channels in 24 zmm accumulators; per input channel four weight vectors (aligned in
// L1: the 16 KB of transposed weights) and one broadcast per pixel feed 24 FMAs. In pw_relu at
// 368x368x64 on 2 threads the compiler's code for the generic block reached 91 GMAC/s (43% of this
// machine's 214 GMAC/s FMA peak), this one 154 (72%).
template <int NP, bool RELU, bool RES>
__attribute__((target("avx512f"), always_inline)) inline void pw64_block_avx512(
    const float* HPUN_RESTRICT t, const float* HPUN_RESTRICT pwt, const float* HPUN_RESTRICT pwb,
    const float* HPUN_RESTRICT res, float* HPUN_RESTRICT out) {
  __m512 acc[NP][4];
  for (int k = 0; k < 4; ++k) {
    const __m512 bk = _mm512_loadu_ps(pwb + 16 * k);
    for (int i = 0; i < NP; ++i) acc[i][k] = bk;
  }
#pragma GCC unroll 2
  for (int c = 0; c < 64; ++c) {
    const float* wr = pwt + c * 64;
    const __m512 w0 = _mm512_loadu_ps(wr), w1 = _mm512_loadu_ps(wr + 16),
                 w2 = _mm512_loadu_ps(wr + 32), w3 = _mm512_loadu_ps(wr + 48);
#pragma GCC unroll 6
    for (int i = 0; i < NP; ++i) {
      const __m512 s = _mm512_set1_ps(t[i * 64 + c]);
      acc[i][0] = _mm512_fmadd_ps(s, w0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(s, w1, acc[i][1]);
      acc[i][2] = _mm512_fmadd_ps(s, w2, acc[i][2]);
      acc[i][3] = _mm512_fmadd_ps(s, w3, acc[i][3]);
    }
  }
  for (int i = 0; i < NP; ++i)
    for (int k = 0; k < 4; ++k) {
      __m512 y = acc[i][k];
      if (RELU) y = _mm512_max_ps(y, _mm512_setzero_ps());
      if (RES) y = _mm512_add_ps(y, _mm512_loadu_ps(res + i * 64 + 16 * k));
      _mm512_storeu_ps(out + i * 64 + 16 * k, y);
    }
}

template <bool RELU, bool RES>
__attribute__((target("avx512f"), noinline)) void pw64_row_avx512_t(
    const float* HPUN_RESTRICT t, const float* HPUN_RESTRICT pwt, const float* HPUN_RESTRICT pwb,
    const float* HPUN_RESTRICT res, float* HPUN_RESTRICT out, i64 n) {
  i64 p = 0;
  for (; p + 6 <= n; p += 6)
    pw64_block_avx512<6, RELU, RES>(t + p * 64, pwt, pwb, RES ? res + p * 64 : nullptr, out + p * 64);
  for (; p < n; ++p)
    pw64_block_avx512<1, RELU, RES>(t + p * 64, pwt, pwb, RES ? res + p * 64 : nullptr, out + p * 64);
}

inline void pw64_row_avx512(const float* t, const float* pwt, const float* pwb, const float* res,
                            bool relu, float* out, i64 n) {
  if (res)
    relu ? pw64_row_avx512_t<true, true>(t, pwt, pwb, res, out, n)
         : pw64_row_avx512_t<false, true>(t, pwt, pwb, res, out, n);
  else
    relu ? pw64_row_avx512_t<true, false>(t, pwt, pwb, res, out, n)
         : pw64_row_avx512_t<false, false>(t, pwt, pwb, res, out, n);
}
#endif

#if HPUN_X86_DISPATCH
// Stage B for C == 64 on AVX-512 in one pass: the vertical max of three full-resolution rows is
// taken column by column as the horizontal window slides, so no vertical-max row goes through
// memory. Columns 2j-2 .. 2j+1 stay in registers from the previous step (16 zmm); each step loads
// columns 2j+2 and 2j+3 of the three rows. A column beyond the border is -inf, which is what
// skipping it means.
__attribute__((target("avx512f"), noinline)) void pool_row64_avx512(
    const float* HPUN_RESTRICT ra, const float* HPUN_RESTRICT rb, const float* HPUN_RESTRICT rc,
    float* HPUN_RESTRICT e, float* HPUN_RESTRICT o, i64 w) {
#define HPUN_VCOL(q, k)                                                                   \
  _mm512_max_ps(_mm512_max_ps(_mm512_loadu_ps(ra + (q) * 64 + 16 * (k)),                 \
                              _mm512_loadu_ps(rb + (q) * 64 + 16 * (k))),                 \
                _mm512_loadu_ps(rc + (q) * 64 + 16 * (k)))
  const __m512 ninf = _mm512_set1_ps(-__builtin_inff());
  __m512 p0[4], p1[4], q0[4], q1[4];
  for (int k = 0; k < 4; ++k) {
    p0[k] = p1[k] = ninf;
    q0[k] = HPUN_VCOL(0, k);
    q1[k] = HPUN_VCOL(1, k);
  }
  for (i64 j = 0; j < w; ++j) {
    const bool in = j + 1 < w;  // columns 2j+2, 2j+3 exist
    for (int k = 0; k < 4; ++k) {
      const __m512 r0 = in ? HPUN_VCOL(2 * j + 2, k) : ninf;
      const __m512 r1 = in ? HPUN_VCOL(2 * j + 3, k) : ninf;
      _mm512_storeu_ps(e + j * 64 + 16 * k, _mm512_max_ps(_mm512_max_ps(p0[k], q0[k]), r0));
      _mm512_storeu_ps(o + j * 64 + 16 * k, _mm512_max_ps(_mm512_max_ps(p1[k], q1[k]), r1));
      p0[k] = q0[k];
      p1[k] = q1[k];
      q0[k] = r0;
      q1[k] = r1;
    }
  }
#undef HPUN_VCOL
}

// Stage C for C == 64 on AVX-512: NP neighbouring output pixels of one 16-channel slice share the
// NP + 2 input columns and three weight vectors of each of the 12 kernel rows (4 sub-images x 3
// rows), so 12 (NP + 5) loads feed 36 NP FMAs (72 NP loads one pixel at a time, as the compiler's
// code for conv_row_nhwc does). The taps accumulate in conv_row_nhwc's order within a sub-image
// row; the sum differs from it by rounding only.
template <int NP>
__attribute__((target("avx512f"), always_inline)) inline void conv64_block_avx512(
    const float* const* rows, const float* HPUN_RESTRICT kt, const float* HPUN_RESTRICT bias,
    float* HPUN_RESTRICT dst, i64 j, int k) {
  __m512 acc[NP];
  const __m512 b = _mm512_loadu_ps(bias + 16 * k);
  for (int i = 0; i < NP; ++i) acc[i] = b;
#pragma GCC unroll 12
  for (int r = 0; r < 12; ++r) {
    const float* HPUN_RESTRICT p = rows[r] + j * 64 + 16 * k;  // padded rows: column j - 1 first
    const float* HPUN_RESTRICT kr = kt + r * 3 * 64 + 16 * k;
    const __m512 w0 = _mm512_loadu_ps(kr), w1 = _mm512_loadu_ps(kr + 64),
                 w2 = _mm512_loadu_ps(kr + 128);
    __m512 d[NP + 2];
#pragma GCC unroll 6
    for (int i = 0; i < NP + 2; ++i) d[i] = _mm512_loadu_ps(p + i * 64);
#pragma GCC unroll 4
    for (int i = 0; i < NP; ++i) {
      acc[i] = _mm512_fmadd_ps(w0, d[i], acc[i]);
      acc[i] = _mm512_fmadd_ps(w1, d[i + 1], acc[i]);
      acc[i] = _mm512_fmadd_ps(w2, d[i + 2], acc[i]);
    }
  }
  for (int i = 0; i < NP; ++i) _mm512_storeu_ps(dst + (j + i) * 64 + 16 * k, acc[i]);
}

__attribute__((target("avx512f"), noinline)) void conv_row64_avx512(
    const float* const* rows, const float* HPUN_RESTRICT kt, const float* HPUN_RESTRICT bias,
    float* HPUN_RESTRICT dst, i64 w) {
  i64 j = 0;
  for (; j + 4 <= w; j += 4)
    for (int k = 0; k < 4; ++k) conv64_block_avx512<4>(rows, kt, bias, dst, j, k);
  for (; j < w; ++j)
    for (int k = 0; k < 4; ++k) conv64_block_avx512<1>(rows, kt, bias, dst, j, k);
}
#endif

template <int P>
HPUN_INLINE void pointwise_row(const float* HPUN_RESTRICT t, const float* HPUN_RESTRICT pwt,
                               const float* HPUN_RESTRICT pwb, const float* HPUN_RESTRICT res,
                               bool relu, float* HPUN_RESTRICT out, i64 n, i64 C) {
#if HPUN_X86_DISPATCH
  if (P == 4 && C == 64) {  // P = 4: the AVX-512 instantiations
    pw64_row_avx512(t, pwt, pwb, res, relu, out, n);
    return;
  }
#endif
#if HPUN_V16
  // Not in the x86 AVX2 and SSE2 builds (P = 1 there): with 64-byte vectors wider than their
  // registers the compiler's code ran pw_relu at 368x368x64 in 143 ms (AVX2) and 127 ms (SSE2), the
  // plain loops below, which it vectorises at the registers' width, in 14.8 and 23.5 ms.
  if (C % 64 == 0 && (P == 4 || !HPUN_X86_DISPATCH)) {
    for (i64 ob = 0; ob < C; ob += 64) {
      i64 p = 0;
      for (; p + P <= n; p += P)
        pointwise_block<P>(t + p * C, pwt, pwb, res ? res + p * C : nullptr, relu, out + p * C, C, ob);
      for (; p < n; ++p)
        pointwise_block<1>(t + p * C, pwt, pwb, res ? res + p * C : nullptr, relu, out + p * C, C, ob);
    }
    return;
  }
#endif
  for (i64 p = 0; p < n; ++p) {
    const float* tp = t + p * C;
    float* op = out + p * C;
    for (i64 o = 0; o < C; ++o) op[o] = pwb[o];
    for (i64 c = 0; c < C; ++c) {
      const float s = tp[c];
      const float* HPUN_RESTRICT wr = pwt + c * C;
      for (i64 o = 0; o < C; ++o) op[o] += s * wr[o];
    }
    for (i64 o = 0; o < C; ++o) {
      float y = op[o];
      if (relu) y = y < 0.f ? 0.f : y;
      if (res) y += res[p * C + o];
      op[o] = y;
    }
  }
}

// A 1x1 conv on n pixels by an epilogue's weights: the int8 conv (pw_q8.h) where e.q8 is set, the
// fp32 one otherwise; res and relu as pointwise_row's.
template <int P>
HPUN_INLINE void epilogue_row(const float* HPUN_RESTRICT t, const PointwiseEpilogue& e,
                              const float* HPUN_RESTRICT res, bool relu, float* HPUN_RESTRICT out,
                              i64 n, i64 C) {
  if (e.q8) return pw_q8_row(t, *e.q8, res, relu, out, n);
  pointwise_row<P>(t, e.pwt, e.pwb, res, relu, out, n, C);
}

// ---- depthwise k x k conv on one row (dw_pw, fused_pub) ------------------------------------------
// dst[j][c] = dwb[c] + sum over the taps inside the image of dwt[u * k + v][c] * rows[u][j + v - k/2][c],
// where rows[u] is input row r + u - k/2, or null where that row is outside the image (zero padding):
// the rows need not be one tensor's (fused_pub reads them from a ring).
HPUN_INLINE void dw_row_generic(const float* const* rows, i64 W, i64 C,
                                const float* HPUN_RESTRICT dwt, const float* HPUN_RESTRICT dwb,
                                i64 k, float* HPUN_RESTRICT dst) {
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
// k = 5 and C % 16 == 0: four pixels per step share the eight input columns and five weight
// vectors of each kernel row, for one 16-channel slice at a time (the slices of a pixel block are
// taken one after another, so the input is read a whole pixel, C contiguous floats, at a time);
// pixels whose window leaves the image take the one-pixel path.
HPUN_INLINE void dw5_row_v16(const float* const* rows, i64 W, i64 C,
                             const float* HPUN_RESTRICT dwt, const float* HPUN_RESTRICT dwb,
                             float* HPUN_RESTRICT dst) {
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

#if HPUN_X86_DISPATCH
// The 5 x 5 depthwise conv for C == 64 on AVX-512. Pixels whose window leaves the image: one at a
// time, taps inside the image only (zero padding).
__attribute__((target("avx512f"), noinline)) void dw5_pixel64_avx512(
    const float* const* rows, i64 W, const float* HPUN_RESTRICT dwt,
    const float* HPUN_RESTRICT dwb, i64 j, float* HPUN_RESTRICT dst) {
  for (int k = 0; k < 4; ++k) {
    __m512 a = _mm512_loadu_ps(dwb + 16 * k);
    for (i64 u = 0; u < 5; ++u) {
      if (!rows[u]) continue;
      for (i64 v = 0; v < 5; ++v) {
        const i64 jj = j + v - 2;
        if (jj < 0 || jj >= W) continue;
        a = _mm512_fmadd_ps(_mm512_loadu_ps(dwt + (u * 5 + v) * 64 + 16 * k),
                            _mm512_loadu_ps(rows[u] + jj * 64 + 16 * k), a);
      }
    }
    _mm512_storeu_ps(dst + j * 64 + 16 * k, a);
  }
}

// The others 8 at a time per 16-channel slice: each kernel row's 12 input columns and 5 weight
// vectors feed 40 FMAs (8 + 12 + 1 zmm live). Same tap order as dw5_row_v16.
__attribute__((target("avx512f"), noinline)) void dw5_row64_avx512(
    const float* const* rows, i64 W, const float* HPUN_RESTRICT dwt,
    const float* HPUN_RESTRICT dwb, float* HPUN_RESTRICT dst) {
  i64 j = 0;
  for (; j < std::min<i64>(2, W); ++j) dw5_pixel64_avx512(rows, W, dwt, dwb, j, dst);
  for (; j + 10 <= W; j += 8) {
    for (int k = 0; k < 4; ++k) {
      __m512 acc[8];
      const __m512 b = _mm512_loadu_ps(dwb + 16 * k);
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) acc[i] = b;
      for (i64 u = 0; u < 5; ++u) {
        if (!rows[u]) continue;
        const float* HPUN_RESTRICT p = rows[u] + (j - 2) * 64 + 16 * k;
        __m512 d[12];
#pragma GCC unroll 12
        for (int i = 0; i < 12; ++i) d[i] = _mm512_loadu_ps(p + i * 64);
#pragma GCC unroll 5
        for (int v = 0; v < 5; ++v) {
          const __m512 wv = _mm512_loadu_ps(dwt + (u * 5 + v) * 64 + 16 * k);
#pragma GCC unroll 8
          for (int i = 0; i < 8; ++i) acc[i] = _mm512_fmadd_ps(wv, d[i + v], acc[i]);
        }
      }
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) _mm512_storeu_ps(dst + (j + i) * 64 + 16 * k, acc[i]);
    }
  }
  for (; j < W; ++j) dw5_pixel64_avx512(rows, W, dwt, dwb, j, dst);
}
#endif

#if HPUN_X86_DISPATCH
// Output rows r and r + 1 at once (rows[0..5]: input rows r - 2 .. r + 3): each input row is loaded
// once for both (12 columns of a 16-channel slice feed up to 80 FMAs into 16 accumulators), 6 row
// loads where two single rows take 10: what the depthwise conv costs here is mostly moving its input
// rows from L2. Columns [ja, jb) only, written from dst[0] on (fused_pub takes a row in chunks that
// stay in L1 for the 1x1 conv after it). Same taps, same order per output as dw5_row64_avx512.
__attribute__((target("avx512f"), noinline)) void dw5_rows2_64_avx512(
    const float* const* rows, i64 W, const float* HPUN_RESTRICT dwt,
    const float* HPUN_RESTRICT dwb, float* HPUN_RESTRICT dst0, float* HPUN_RESTRICT dst1, i64 ja,
    i64 jb) {
  dst0 -= ja * 64;
  dst1 -= ja * 64;
  i64 j = ja;
  for (; j < std::min<i64>(2, jb); ++j) {
    dw5_pixel64_avx512(rows, W, dwt, dwb, j, dst0);
    dw5_pixel64_avx512(rows + 1, W, dwt, dwb, j, dst1);
  }
  for (; j + 10 <= W && j + 8 <= jb; j += 8) {
    for (int k = 0; k < 4; ++k) {
      __m512 a0[8], a1[8];
      const __m512 b = _mm512_loadu_ps(dwb + 16 * k);
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) a0[i] = a1[i] = b;
      for (i64 u = 0; u < 6; ++u) {  // input row r + u - 2: kernel row u of output r, u - 1 of r + 1
        if (!rows[u]) continue;
        const float* HPUN_RESTRICT p = rows[u] + (j - 2) * 64 + 16 * k;
        __m512 d[12];
#pragma GCC unroll 12
        for (int i = 0; i < 12; ++i) d[i] = _mm512_loadu_ps(p + i * 64);
        if (u < 5) {
#pragma GCC unroll 5
          for (int v = 0; v < 5; ++v) {
            const __m512 wv = _mm512_loadu_ps(dwt + (u * 5 + v) * 64 + 16 * k);
#pragma GCC unroll 8
            for (int i = 0; i < 8; ++i) a0[i] = _mm512_fmadd_ps(wv, d[i + v], a0[i]);
          }
        }
        if (u > 0) {
#pragma GCC unroll 5
          for (int v = 0; v < 5; ++v) {
            const __m512 wv = _mm512_loadu_ps(dwt + ((u - 1) * 5 + v) * 64 + 16 * k);
#pragma GCC unroll 8
            for (int i = 0; i < 8; ++i) a1[i] = _mm512_fmadd_ps(wv, d[i + v], a1[i]);
          }
        }
      }
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) {
        _mm512_storeu_ps(dst0 + (j + i) * 64 + 16 * k, a0[i]);
        _mm512_storeu_ps(dst1 + (j + i) * 64 + 16 * k, a1[i]);
      }
    }
  }
  for (; j < jb; ++j) {
    dw5_pixel64_avx512(rows, W, dwt, dwb, j, dst0);
    dw5_pixel64_avx512(rows + 1, W, dwt, dwb, j, dst1);
  }
}
#endif

// Input rows r - k/2 .. r + k/2 + extra of x (null outside the image).
HPUN_INLINE void dw_input_rows(const float* x, i64 H, i64 rowF, i64 k, i64 r, i64 extra,
                               const float** rows) {
  for (i64 u = 0; u < k + extra; ++u) {
    const i64 rr = r + u - k / 2;
    rows[u] = (rr < 0 || rr >= H) ? nullptr : x + rr * rowF;
  }
}

// One depthwise row (rows: its k input rows) into dst, by the fastest kernel this build has.
template <int P, int CC = 0>
HPUN_INLINE void dw_row(const float* const* rows, i64 W, i64 Cn, const float* HPUN_RESTRICT dwt,
                        const float* HPUN_RESTRICT dwb, i64 k, float* HPUN_RESTRICT dst) {
  const i64 C = CC ? CC : Cn;
#if HPUN_X86_DISPATCH
  if (P == 4 && C == 64 && k == 5) return dw5_row64_avx512(rows, W, dwt, dwb, dst);
#endif
#if HPUN_V16
  if (k == 5 && C % 16 == 0) return dw5_row_v16(rows, W, C, dwt, dwb, dst);
#endif
  dw_row_generic(rows, W, C, dwt, dwb, k, dst);
}

template <int P, int CC = 0>
HPUN_INLINE void dw_pw_rows_body(const float* HPUN_RESTRICT x, const float* HPUN_RESTRICT dwt,
                                 const float* HPUN_RESTRICT dwb, i64 k, const PointwiseEpilogue& pw,
                                 float* HPUN_RESTRICT out, i64 Cn, i64 H, i64 W, i64 r0, i64 r1,
                                 float* HPUN_RESTRICT trow) {
  const i64 C = CC ? CC : Cn, rowF = W * C;
  const float* rows[kMaxDepthwiseK + 1];
  for (i64 r = r0; r < r1; ++r) {
#if HPUN_X86_DISPATCH
    if (P == 4 && C == 64 && k == 5 && r + 1 < r1) {  // P = 4: the AVX-512 instantiations
      float* trow1 = trow + rowF;
      dw_input_rows(x, H, rowF, 5, r, 1, rows);
      dw5_rows2_64_avx512(rows, W, dwt, dwb, trow, trow1, 0, W);
      for (int i = 0; i < 2; ++i) {
        const i64 at = (r + i) * rowF;
        pointwise_row<P>(i ? trow1 : trow, pw.pwt, pw.pwb, pw.residual ? pw.residual + at : nullptr,
                         pw.relu, out + at, W, C);
      }
      ++r;
      continue;
    }
#endif
    dw_input_rows(x, H, rowF, k, r, 0, rows);
    dw_row<P, CC>(rows, W, C, dwt, dwb, k, trow);
    const i64 at = r * rowF;
    pointwise_row<P>(trow, pw.pwt, pw.pwb, pw.residual ? pw.residual + at : nullptr, pw.relu,
                     out + at, W, C);
  }
}

template <int P, int CC = 0>
HPUN_INLINE void conv1x1_rows_body(const float* HPUN_RESTRICT x, const PointwiseEpilogue& pw,
                                   float* HPUN_RESTRICT out, i64 Cn, i64 W, i64 r0, i64 r1) {
  const i64 C = CC ? CC : Cn;
  for (i64 r = r0; r < r1; ++r) {
    const i64 at = r * W * C;
    pointwise_row<P>(x + at, pw.pwt, pw.pwb, pw.residual ? pw.residual + at : nullptr, pw.relu,
                     out + at, W, C);
  }
}

// fused_pub: the rest of a PUB after its PUD. The PUD's relu'd 1x1 output rows t go to a ring of
// kTRing full rows instead of out, and as soon as the rows a 5x5 depthwise output row needs are
// there, output row R (R in [row_begin, row_end)) = residual + conv1x1(dwconv5(t), pw) is written.
struct PubTail {
  const float* dwt = nullptr;  // dw_transpose_weights of the 5x5 depthwise conv
  const float* dwb = nullptr;
  PointwiseEpilogue pw;        // the folded SRDSC's 1x1 conv; residual: the PUB's input
  float* out = nullptr;
  i64 row_begin = 0, row_end = 0;
};
constexpr i64 kPubK = 5, kTRing = kPubK + 1;  // two depthwise rows at once read six t rows

// Scratch of one NHWC band, in rows of C floats per column: the B ring (3 x 4 padded half rows),
// the shared zero row, the C ring (3 padded half rows), the blended row v, the vertical-max row vm
// (W columns), then, with the 1x1 conv, one output row (W columns), with the pre 1x1 conv, the
// ring of its output rows (kPreRing full rows), and with a PUB tail, the t ring (kTRing full rows)
// and two depthwise output rows.
constexpr i64 kPreRing = 8;
HPUN_INLINE i64 band_scratch_columns(i64 W, bool pw, bool pre, bool pub = false) {
  const i64 w = W / 2, wp = w + 2;
  return 12 * wp + wp + 3 * wp + wp + W + (pw ? W : 0) + (pre ? kPreRing * W : 0) +
         (pub ? (kTRing + 2) * W : 0);
}

// The PUD front part over the output half rows [o0, o1) of one image, then, when pw.pwt is set,
// its 1x1 conv and epilogue on each output row (fused_pud_pw). When pre is on, the PUD's input
// L is relu(conv1x1(x, pre)) instead of x, computed row by row into a ring of kPreRing rows as the
// pipeline first needs it (stage B reads six L rows ahead of stage D, D re-reads two): the HPUN-S
// front block, whose residual (pw.residual) is x itself. Stages per step k:
//   B  pooled row k+2 of the four sub-images, straight from L: the vertical max of L rows
//      2(k+2)+dy-2, +0, +2 (rows beyond the border clamp onto the edge row, which leaves the max
//      unchanged) into vm, then the deinterleaved horizontal 3-max of vm (columns beyond the border
//      skipped); stored with a zero column each side (the grouped conv's zero padding);
//   C  conv row k+1 (36 taps over three B rows of the four sub-images; a row beyond the border is
//      the zero row), stored with a replicated column each side;
//   D  output rows 2k, 2k+1: bilinear blends of C rows k-1, k, k+1 (clamped), plus L.
// With a PUB tail (fused_pub), stage D's rows (after the 1x1 conv and relu) go to the t ring, and
// after each step the tail's output rows whose five t rows are complete are written (the caller
// runs the PUD over one half row more each side than the tail's rows, which the 5x5 conv needs).
// P: pixels per register block of the 1x1 convs; CC: the channel count when known at compile time.
template <int P, int CC = 0>
HPUN_INLINE void band_body_nhwc(const float* HPUN_RESTRICT x, float* HPUN_RESTRICT out, i64 H,
                                i64 W, i64 Cn, const float* HPUN_RESTRICT kt,
                                const float* HPUN_RESTRICT bias, const PointwiseEpilogue& pw,
                                const PointwiseEpilogue& pre, i64 o0, i64 o1,
                                float* HPUN_RESTRICT scratch, const PubTail* tail) {
  const i64 C = CC ? CC : Cn;
  const i64 h = H / 2, w = W / 2, wp = w + 2;
  const i64 rowP = wp * C, rowF = W * C;  // padded half row / full row, in floats
  float* B = scratch;                     // 3 x 4 x rowP (zero column each side)
  float* zero = B + 12 * rowP;            // rowP
  float* G = zero + rowP;                 // 3 x rowP (replicated column each side)
  float* v = G + 3 * rowP;                // rowP
  float* vm = v + rowP;                   // rowF
  float* trow = vm + rowF;                // rowF (1x1 conv only)
  float* ring = trow + (pw.pwt ? rowF : 0);  // kPreRing x rowF (pre only)
  float* t_ring = ring + (pre.on() ? kPreRing * rowF : 0);  // kTRing x rowF (tail only)
  float* dw0 = t_ring + kTRing * rowF;                     // 2 x rowF (tail only)
  float* dw1 = dw0 + rowF;
  auto b_row = [&](i64 r, int s) { return B + ((r % 3) * 4 + s) * rowP; };
  auto g_row = [&](i64 r) { return G + (r % 3) * rowP; };
  for (i64 i = 0; i < rowP; ++i) zero[i] = 0.f;
  const i64 b_lo = std::max<i64>(0, o0 - 2), b_hi = std::min<i64>(h, o1 + 2);
  const i64 c_lo = std::max<i64>(0, o0 - 1), c_hi = std::min<i64>(h, o1 + 1);
  // L row r: x's, or the pre conv's from the ring (computed up to, not including, row l_next)
  i64 l_next = std::max<i64>(0, 2 * b_lo - 2);
  auto l_row = [&](i64 r) -> const float* {
    return pre.on() ? ring + (r % kPreRing) * rowF : x + r * rowF;
  };
  auto make_l_rows = [&](i64 upto) {  // rows [l_next, upto)
    for (; pre.on() && l_next < upto; ++l_next)
      epilogue_row<P>(x + l_next * rowF, pre, nullptr, pre.relu, ring + (l_next % kPreRing) * rowF, W, C);
  };
  // the PUB tail: output rows [tail_next, row_end) as their t rows arrive (t rows [.., t_avail) done)
  i64 tail_next = tail ? tail->row_begin : 0;
  auto emit_tail = [&](i64 t_avail) {
    const float* rows[kTRing];
    while (tail_next < tail->row_end && std::min<i64>(tail_next + 3, H) <= t_avail) {
      for (i64 u = 0; u < kTRing; ++u) {  // t rows tail_next - 2 .. tail_next + 3
        const i64 rr = tail_next - 2 + u;
        rows[u] = (rr < 0 || rr >= H) ? nullptr : t_ring + (rr % kTRing) * rowF;
      }
#if HPUN_X86_DISPATCH
      if (P == 4 && C == 64 && tail_next + 1 < tail->row_end &&
          std::min<i64>(tail_next + 4, H) <= t_avail) {  // two rows, in chunks that stay in L1
        constexpr i64 kDwChunk = 48;
        for (i64 ja = 0; ja < W; ja += kDwChunk) {
          const i64 jb = std::min<i64>(W, ja + kDwChunk);
          dw5_rows2_64_avx512(rows, W, tail->dwt, tail->dwb, dw0, dw1, ja, jb);
          for (int q = 0; q < 2; ++q) {
            const i64 a = (tail_next + q) * rowF + ja * C;
            epilogue_row<P>(q ? dw1 : dw0, tail->pw, tail->pw.residual + a, false, tail->out + a,
                            jb - ja, C);
          }
        }
        tail_next += 2;
        continue;
      }
#endif
      dw_row<P, CC>(rows, W, C, tail->dwt, tail->dwb, kPubK, dw0);
      const i64 a = tail_next * rowF;
      epilogue_row<P>(dw0, tail->pw, tail->pw.residual + a, false, tail->out + a, W, C);
      ++tail_next;
    }
  };
  for (i64 k = o0 - 4; k < o1; ++k) {
    const i64 rb = k + 2;
    if (rb >= b_lo && rb < b_hi) {
      const i64 up = clampi(rb - 1, 0, h - 1), dn = clampi(rb + 1, 0, h - 1);
      make_l_rows(std::min<i64>(H, 2 * dn + 2));
      for (int dy = 0; dy < 2; ++dy) {
        float* be = b_row(rb, 2 * dy);
        float* bo = b_row(rb, 2 * dy + 1);
#if HPUN_X86_DISPATCH
        if (P == 4 && C == 64) {  // P = 4: the AVX-512 instantiations
          pool_row64_avx512(l_row(2 * up + dy), l_row(2 * rb + dy), l_row(2 * dn + dy), be + C,
                            bo + C, w);
        } else
#endif
        {
          vmax3(l_row(2 * up + dy), l_row(2 * rb + dy), l_row(2 * dn + dy), vm, rowF);
          hmax_deinterleave_nhwc(vm, be + C, bo + C, w, C);
        }
        for (i64 c = 0; c < C; ++c) be[c] = be[(w + 1) * C + c] = bo[c] = bo[(w + 1) * C + c] = 0.f;
      }
    }
    const i64 rc = k + 1;
    if (rc >= c_lo && rc < c_hi) {
      const float* rows[12];
      for (int s = 0; s < 4; ++s)
        for (int u = 0; u < 3; ++u) {
          const i64 r = rc + u - 1;
          rows[s * 3 + u] = (r < 0 || r >= h) ? zero : b_row(r, s);
        }
      float* dst = g_row(rc);
#if HPUN_X86_DISPATCH
      if (P == 4 && C == 64)
        conv_row64_avx512(rows, kt, bias, dst + C, w);
      else
#endif
        conv_row_nhwc(rows, kt, bias, dst + C, w, C);
      for (i64 c = 0; c < C; ++c) {
        dst[c] = dst[C + c];
        dst[(w + 1) * C + c] = dst[w * C + c];
      }
    }
    const i64 ro = k;
    if (ro >= o0) {
      const float* g0 = g_row(ro);
      const float* gm = g_row(clampi(ro - 1, 0, h - 1));
      const float* gp = g_row(clampi(ro + 1, 0, h - 1));
      for (int dy = 0; dy < 2; ++dy) {
        const i64 r = 2 * ro + dy, at = r * rowF;
        const float* far = dy ? gp : gm;
        auto blend = [&](i64 j0, i64 j1, float* dst) {  // half columns [j0, j1) into dst
#if HPUN_X86_DISPATCH
          if (P == 4 && C == 64) return up_chunk64_avx512(far, g0, l_row(r), dst, j0, j1);
#endif
          up_chunk_nhwc(far, g0, v, l_row(r), dst, j0, j1, C);
        };
        if (!pw.pwt) {
          blend(0, w, out + at);
        } else {
          constexpr i64 kChunk = 12;  // half columns: 24 pixels, 24 KB of t at C = 64
          float* orow = tail ? t_ring + (r % kTRing) * rowF : out + at;
          for (i64 j0 = 0; j0 < w; j0 += kChunk) {
            const i64 j1 = std::min<i64>(w, j0 + kChunk), a = at + 2 * j0 * C;
            blend(j0, j1, trow);
            pointwise_row<P>(trow, pw.pwt, pw.pwb, pw.residual ? pw.residual + a : nullptr,
                             pw.relu, orow + 2 * j0 * C, 2 * (j1 - j0), C);
          }
        }
      }
      if (tail) emit_tail(2 * ro + 2);
    }
  }
}

#if HPUN_X86_DISPATCH
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void plane_avx512(
    const float* x, float* out, i64 H, i64 W, const float* k, float bias, float* scratch) {
  plane_body(x, out, H, W, k, bias, scratch);
}
__attribute__((target("avx2,fma"))) void plane_avx2(const float* x, float* out, i64 H, i64 W,
                                                    const float* k, float bias, float* scratch) {
  plane_body(x, out, H, W, k, bias, scratch);
}
#endif
void plane_generic(const float* x, float* out, i64 H, i64 W, const float* k, float bias,
                   float* scratch) {
  plane_body(x, out, H, W, k, bias, scratch);
}

#define HPUN_BAND_ARGS                                                                      \
  const float *x, float *out, i64 H, i64 W, i64 C, const float *kt, const float *bias, \
      const PointwiseEpilogue &pw, const PointwiseEpilogue &pre, i64 o0, i64 o1, float *scratch, \
      const PubTail *tail
#if HPUN_X86_DISPATCH
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void band_avx512(HPUN_BAND_ARGS) {
  if (C == 64)
    return band_body_nhwc<4, 64>(x, out, H, W, C, kt, bias, pw, pre, o0, o1, scratch, tail);
  band_body_nhwc<4>(x, out, H, W, C, kt, bias, pw, pre, o0, o1, scratch, tail);
}
__attribute__((target("avx2,fma"))) void band_avx2(HPUN_BAND_ARGS) {
  band_body_nhwc<1>(x, out, H, W, C, kt, bias, pw, pre, o0, o1, scratch, tail);
}
#endif
void band_generic(HPUN_BAND_ARGS) {
  band_body_nhwc<1>(x, out, H, W, C, kt, bias, pw, pre, o0, o1, scratch, tail);
}
#undef HPUN_BAND_ARGS

#define HPUN_DWPW_ARGS                                                                        \
  const float *x, const float *dwt, const float *dwb, i64 k, const PointwiseEpilogue &pw,       \
      float *out, i64 C, i64 H, i64 W, i64 r0, i64 r1, float *trow
#define HPUN_PW_ARGS \
  const float *x, const PointwiseEpilogue &pw, float *out, i64 C, i64 W, i64 r0, i64 r1
#if HPUN_X86_DISPATCH
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void dwpw_avx512(HPUN_DWPW_ARGS) {
  if (C == 64) return dw_pw_rows_body<4, 64>(x, dwt, dwb, k, pw, out, C, H, W, r0, r1, trow);
  dw_pw_rows_body<4>(x, dwt, dwb, k, pw, out, C, H, W, r0, r1, trow);
}
__attribute__((target("avx2,fma"))) void dwpw_avx2(HPUN_DWPW_ARGS) {
  dw_pw_rows_body<1>(x, dwt, dwb, k, pw, out, C, H, W, r0, r1, trow);
}
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void pw_avx512(HPUN_PW_ARGS) {
  if (C == 64) return conv1x1_rows_body<4, 64>(x, pw, out, C, W, r0, r1);
  conv1x1_rows_body<4>(x, pw, out, C, W, r0, r1);
}
__attribute__((target("avx2,fma"))) void pw_avx2(HPUN_PW_ARGS) {
  conv1x1_rows_body<1>(x, pw, out, C, W, r0, r1);
}
#endif
void dwpw_generic(HPUN_DWPW_ARGS) { dw_pw_rows_body<1>(x, dwt, dwb, k, pw, out, C, H, W, r0, r1, trow); }
void pw_generic(HPUN_PW_ARGS) { conv1x1_rows_body<1>(x, pw, out, C, W, r0, r1); }
#undef HPUN_DWPW_ARGS
#undef HPUN_PW_ARGS

using DwPwFn = void (*)(const float*, const float*, const float*, i64, const PointwiseEpilogue&,
                        float*, i64, i64, i64, i64, i64, float*);
using PwFn = void (*)(const float*, const PointwiseEpilogue&, float*, i64, i64, i64, i64);

using PlaneFn = void (*)(const float*, float*, i64, i64, const float*, float, float*);
using BandFn = void (*)(const float*, float*, i64, i64, i64, const float*, const float*,
                        const PointwiseEpilogue&, const PointwiseEpilogue&, i64, i64, float*,
                        const PubTail*);

struct Dispatch {
  PlaneFn fn;
  BandFn band;
  DwPwFn dwpw;
  PwFn pw;
  const char* isa;
};

// HPUN_KERNELS_ISA=avx2 or =sse2 caps the choice (tests exercise every path on one machine).
Dispatch select() {
#if HPUN_X86_DISPATCH
  const char* cap = std::getenv("HPUN_KERNELS_ISA");
  const bool allow512 = !cap || !std::strcmp(cap, "avx512f");
  const bool allow2 = allow512 || !std::strcmp(cap, "avx2");
  __builtin_cpu_init();
  if (allow512 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"))
    return {plane_avx512, band_avx512, dwpw_avx512, pw_avx512, "avx512f"};
  if (allow2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return {plane_avx2, band_avx2, dwpw_avx2, pw_avx2, "avx2"};
  return {plane_generic, band_generic, dwpw_generic, pw_generic, "sse2"};
#elif defined(__ARM_NEON) || defined(__ARM_NEON__)
  return {plane_generic, band_generic, dwpw_generic, pw_generic, "neon"};
#else
  return {plane_generic, band_generic, dwpw_generic, pw_generic, "generic"};
#endif
}

const Dispatch& dispatch() {
  static const Dispatch d = select();
  return d;
}

}  // namespace

std::size_t fused_pud_scratch_floats(std::int64_t width) {
  const i64 w = width / 2, wp = w + 2;
  return static_cast<std::size_t>(12 * w + 12 * wp + wp + 3 * wp + wp);
}

void fused_pud_plane(const float* x, float* out, std::int64_t height, std::int64_t width,
                     const float* w9x4, float bias, float* scratch) {
  dispatch().fn(x, out, height, width, w9x4, bias, scratch);
}

void fused_pud_planes(const float* x, const float* w, const float* b, float* out,
                      std::int64_t channels, std::int64_t height, std::int64_t width,
                      std::int64_t plane_begin, std::int64_t plane_end) {
  std::vector<float> scratch(fused_pud_scratch_floats(width));
  const i64 plane = height * width;
  for (i64 p = plane_begin; p < plane_end; ++p) {
    const i64 c = p % channels;
    fused_pud_plane(x + p * plane, out + p * plane, height, width, w + 36 * c,
                    b ? b[c] : 0.f, scratch.data());
  }
}

std::size_t fused_pud_nhwc_scratch_floats(std::int64_t width, std::int64_t channels) {
  return static_cast<std::size_t>(band_scratch_columns(width, false, false) * channels);
}

void fused_pud_nhwc_transpose_weights(const float* w, std::int64_t channels, float* kt) {
  for (i64 c = 0; c < channels; ++c)
    for (int t = 0; t < 36; ++t) kt[t * channels + c] = w[c * 36 + t];
}

void fused_pud_nhwc_band(const float* x, const float* kt, const float* b, float* out,
                         std::int64_t channels, std::int64_t height, std::int64_t width,
                         std::int64_t row_begin, std::int64_t row_end, float* scratch) {
  dispatch().band(x, out, height, width, channels, kt, b, PointwiseEpilogue{}, PointwiseEpilogue{},
                  row_begin, row_end, scratch, nullptr);
}

void fused_pud_pw_transpose_weights(const float* pw_w, std::int64_t channels, float* pwt) {
  for (i64 co = 0; co < channels; ++co)
    for (i64 ci = 0; ci < channels; ++ci) pwt[ci * channels + co] = pw_w[co * channels + ci];
}

std::size_t fused_pud_pw_nhwc_scratch_floats(std::int64_t width, std::int64_t channels) {
  return static_cast<std::size_t>(band_scratch_columns(width, true, false) * channels);
}

std::size_t pw_relu_pud_pw_add_nhwc_scratch_floats(std::int64_t width, std::int64_t channels) {
  return static_cast<std::size_t>(band_scratch_columns(width, true, true) * channels);
}

void fused_pud_pw_nhwc_band(const float* x, const float* kt, const float* b,
                            const PointwiseEpilogue& pw, float* out, std::int64_t channels,
                            std::int64_t height, std::int64_t width, std::int64_t row_begin,
                            std::int64_t row_end, float* scratch) {
  dispatch().band(x, out, height, width, channels, kt, b, pw, PointwiseEpilogue{}, row_begin,
                  row_end, scratch, nullptr);
}

void pw_relu_pud_pw_add_nhwc_band(const float* x, const float* pre_t, const float* pre_b,
                                  const float* kt, const float* b, const float* pwt,
                                  const float* pwb, float* out, std::int64_t channels,
                                  std::int64_t height, std::int64_t width, std::int64_t row_begin,
                                  std::int64_t row_end, float* scratch,
                                  const PointwiseQ8* pre_q8) {
  PointwiseEpilogue pre, pw;
  if (pre_q8) {
    pre.q8 = pre_q8;
  } else {
    pre.pwt = pre_t;
    pre.pwb = pre_b;
  }
  pre.relu = true;
  pw.pwt = pwt;
  pw.pwb = pwb;
  pw.residual = x;
  dispatch().band(x, out, height, width, channels, kt, b, pw, pre, row_begin, row_end, scratch, nullptr);
}

void pw_relu_pud_pw_add_nhwc(const float* x, const float* x_w, const float* x_b, const float* w,
                             const float* b, const float* pw_w, const float* pw_b, float* out,
                             std::int64_t batch, std::int64_t channels, std::int64_t height,
                             std::int64_t width) {
  std::vector<float> kt(36 * channels), pwt(channels * channels), xt(channels * channels),
      zeros(channels, 0.f);
  fused_pud_nhwc_transpose_weights(w, channels, kt.data());
  fused_pud_pw_transpose_weights(pw_w, channels, pwt.data());
  fused_pud_pw_transpose_weights(x_w, channels, xt.data());
  std::vector<float> scratch(pw_relu_pud_pw_add_nhwc_scratch_floats(width, channels));
  const i64 image = height * width * channels;
  for (i64 n = 0; n < batch; ++n)
    pw_relu_pud_pw_add_nhwc_band(x + n * image, xt.data(), x_b ? x_b : zeros.data(), kt.data(),
                                 b ? b : zeros.data(), pwt.data(), pw_b ? pw_b : zeros.data(),
                                 out + n * image, channels, height, width, 0, height / 2,
                                 scratch.data());
}

std::size_t fused_pub_nhwc_scratch_floats(std::int64_t width, std::int64_t channels) {
  return static_cast<std::size_t>(band_scratch_columns(width, true, false, true) * channels);
}

void fused_pub_nhwc_band(const float* x, const float* kt, const float* b, const float* pwt,
                         const float* pwb, const float* dwt, const float* dwb, const float* pw2t,
                         const float* pw2b, float* out, std::int64_t channels, std::int64_t height,
                         std::int64_t width, std::int64_t row_begin, std::int64_t row_end,
                         float* scratch, const PointwiseQ8* pw2_q8) {
  PointwiseEpilogue pw;
  pw.pwt = pwt;
  pw.pwb = pwb;
  pw.relu = true;
  PubTail tail;
  tail.dwt = dwt;
  tail.dwb = dwb;
  if (pw2_q8) {
    tail.pw.q8 = pw2_q8;
  } else {
    tail.pw.pwt = pw2t;
    tail.pw.pwb = pw2b;
  }
  tail.pw.residual = x;
  tail.out = out;
  tail.row_begin = 2 * row_begin;
  tail.row_end = 2 * row_end;
  // the 5x5 conv reads two t rows beyond the band each side: one more half row of the PUD
  const i64 h = height / 2;
  dispatch().band(x, nullptr, height, width, channels, kt, b, pw, PointwiseEpilogue{},
                  std::max<i64>(0, row_begin - 1), std::min<i64>(h, row_end + 1), scratch, &tail);
}

void fused_pub_nhwc(const float* x, const float* w, const float* b, const float* pw_w,
                    const float* pw_b, const float* dw_w, const float* dw_b, const float* pw2_w,
                    const float* pw2_b, float* out, std::int64_t batch, std::int64_t channels,
                    std::int64_t height, std::int64_t width) {
  std::vector<float> kt(36 * channels), pwt(channels * channels), dwt(25 * channels),
      pw2t(channels * channels);
  fused_pud_nhwc_transpose_weights(w, channels, kt.data());
  fused_pud_pw_transpose_weights(pw_w, channels, pwt.data());
  dw_transpose_weights(dw_w, channels, 5, dwt.data());
  fused_pud_pw_transpose_weights(pw2_w, channels, pw2t.data());
  std::vector<float> scratch(fused_pub_nhwc_scratch_floats(width, channels));
  const i64 image = height * width * channels;
  for (i64 n = 0; n < batch; ++n)
    fused_pub_nhwc_band(x + n * image, kt.data(), b, pwt.data(), pw_b, dwt.data(), dw_b,
                        pw2t.data(), pw2_b, out + n * image, channels, height, width, 0,
                        height / 2, scratch.data());
}

void fused_pud_pw_nhwc(const float* x, const float* w, const float* b, const float* pw_w,
                       const float* pw_b, const float* residual, bool relu, float* out,
                       std::int64_t batch, std::int64_t channels, std::int64_t height,
                       std::int64_t width) {
  std::vector<float> kt(36 * channels), pwt(channels * channels), zeros(channels, 0.f);
  fused_pud_nhwc_transpose_weights(w, channels, kt.data());
  fused_pud_pw_transpose_weights(pw_w, channels, pwt.data());
  std::vector<float> scratch(fused_pud_pw_nhwc_scratch_floats(width, channels));
  const i64 image = height * width * channels;
  for (i64 n = 0; n < batch; ++n) {
    PointwiseEpilogue pw;
    pw.pwt = pwt.data();
    pw.pwb = pw_b ? pw_b : zeros.data();
    pw.residual = residual ? residual + n * image : nullptr;
    pw.relu = relu;
    fused_pud_pw_nhwc_band(x + n * image, kt.data(), b ? b : zeros.data(), pw, out + n * image,
                           channels, height, width, 0, height / 2, scratch.data());
  }
}

void fused_pud_nhwc(const float* x, const float* w, const float* b, float* out,
                    std::int64_t batch, std::int64_t channels, std::int64_t height,
                    std::int64_t width) {
  std::vector<float> kt(36 * channels), zeros;
  fused_pud_nhwc_transpose_weights(w, channels, kt.data());
  if (!b) {
    zeros.assign(channels, 0.f);
    b = zeros.data();
  }
  std::vector<float> scratch(fused_pud_nhwc_scratch_floats(width, channels));
  const i64 image = height * width * channels;
  for (i64 n = 0; n < batch; ++n)
    fused_pud_nhwc_band(x + n * image, kt.data(), b, out + n * image, channels, height, width, 0,
                        height / 2, scratch.data());
}

void dw_transpose_weights(const float* dw_w, std::int64_t channels, std::int64_t k, float* dwt) {
  for (i64 c = 0; c < channels; ++c)
    for (i64 t = 0; t < k * k; ++t) dwt[t * channels + c] = dw_w[c * k * k + t];
}

void dw_pw_nhwc_rows(const float* x, const float* dwt, const float* dwb, std::int64_t k,
                     const PointwiseEpilogue& pw, float* out, std::int64_t channels,
                     std::int64_t height, std::int64_t width, std::int64_t row_begin,
                     std::int64_t row_end, float* scratch) {
  dispatch().dwpw(x, dwt, dwb, k, pw, out, channels, height, width, row_begin, row_end, scratch);
}

void conv1x1_nhwc_rows(const float* x, const PointwiseEpilogue& pw, float* out,
                       std::int64_t channels, std::int64_t height, std::int64_t width,
                       std::int64_t row_begin, std::int64_t row_end) {
  (void)height;
  dispatch().pw(x, pw, out, channels, width, row_begin, row_end);
}

const char* fused_pud_isa() { return dispatch().isa; }

}  // namespace kernels
}  // namespace hpun
