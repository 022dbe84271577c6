// The PUD front part's row pipeline over one band of an NHWC image: what the four fused NHWC ops
// (fused_pud, fused_pud_pw, the front block, fused_pub) share. It owns the rings of pooled and conv
// half rows in the band's scratch and calls the stage micro-kernels the hardware config chose for
// C.
//
// A band is output half rows [o0, o1) of one image (h = H/2, w = W/2; sub-image s = 2 dy + dx in
// pixel_unshuffle's order). An op runs the steps k = first_step() .. o1 - 1; step k makes
//   B  pooled half row k + 2 of the four sub-images (pool_and_conv): for parity dy, the max pool of
//      the PUD's input rows 2(k+2)+dy-2, +0, +2 (rows beyond the border clamp onto the edge row,
//      which leaves the max unchanged); stored with a zero pixel each side (the conv's zero
//      padding);
//   C  conv half row k + 1 (pool_and_conv): 36 taps over three B rows of the four sub-images (a row
//      beyond the border is a zero row), stored with a replicated pixel each side;
//   D  (k >= o0) output rows 2k and 2k + 1: bilinear blends of C rows k-1, k, k+1 (clamped) plus
//   the
//      input (blend), which the op writes out or hands to its 1x1 conv (blend_conv1x1).
// B and C run only where the band needs them (its halo: 2 B rows and 1 C row each side at most), so
// bands can run concurrently. The PUD's input L is x itself, or (the front block) a ring of rows
// the op makes ahead of pool_and_conv: rows [first_input_row(), input_rows_end(k)) by step k.
#pragma once

#include "common.h"
#include "configs/config.h"
#include "operators/conv1x1-row.h"

namespace hpun {

// Rows of an NHWC image (row_floats = W * C): row r at base + (r % ring) * row_floats, or at
// base + r * row_floats when ring is 0 (a tensor rather than a ring of rows).
struct RowSource {
  const float* base;
  i64 row_floats;
  i64 ring = 0;
  const float* operator()(i64 r) const { return base + (ring ? r % ring : r) * row_floats; }
};

class PudBand {
 public:
  // Floats of scratch the band's own rows take; an op's rows follow at scratch_end().
  static i64 scratch_floats(i64 W, i64 C);

  PudBand(const float* kt, const float* bias, i64 H, i64 W, i64 C, i64 o0, i64 o1, float* scratch);

  i64 first_step() const { return o0_ - 4; }
  float* scratch_end() const { return vm_ + rowF_; }
  // The input rows the band's pooling reads: from first_input_row() on; by step k, those before
  // input_rows_end(k) (0 where step k pools nothing).
  i64 first_input_row() const;
  i64 input_rows_end(i64 k) const;

  // Stages B and C of step k, from the PUD's input rows L.
  void pool_and_conv(i64 k, const RowSource& L);
  // Stage D of step k for output row 2k + dy, half columns [j0, j1): the 2 (j1 - j0) blended pixels
  // plus l_row's (L row 2k + dy) into dst from dst[0] on.
  void blend(i64 k, int dy, const float* l_row, i64 j0, i64 j1, float* dst) const;
  // Stage D for the whole output row 2k + dy, then its 1x1 conv (then relu, then + residual_row,
  // which may be null) into out_row, kBlendChunk half columns at a time through t (a full row of
  // scratch), so that the blended pixels are still in L1 when the 1x1 conv reads them.
  void blend_conv1x1(i64 k, int dy, const float* l_row, const Conv1x1Row& conv,
                     const float* residual_row, bool relu, float* out_row, float* t) const;

 private:
  static constexpr i64 kBlendChunk = 12;  // half columns: 24 pixels, 24 KB of t at C = 64

  float* pooled_row(i64 r, int s) const { return B_ + ((r % 3) * 4 + s) * rowP_; }
  float* conv_row(i64 r) const { return G_ + (r % 3) * rowP_; }

  const float* kt_;
  const float* bias_;
  i64 H_, C_, h_, w_, rowP_, rowF_, o0_;
  i64 b_lo_, b_hi_, c_lo_, c_hi_;  // the pooled and conv half rows the band makes
  F32PudUkernels uk_;
  // scratch: B ring (3 x 4 padded half rows) | zero row | C ring (3 padded half rows) | v (the
  // generic blend's padded half row) | vm (the generic pooling's full row)
  float *B_, *zero_, *G_, *v_, *vm_;
};

}  // namespace hpun
