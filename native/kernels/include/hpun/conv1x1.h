// The 1x1 conv as the block kernels use it (channels-last), and its weights' layout. No ExecuTorch.
//
//   out = conv1x1(x, pw)   then  out = max(out, 0)  if relu   then  out += residual  if residual
//
// conv1x1_nhwc_rows is the building block of HPUN-S's folded SRDSC(1) and its relu; the fused ops
// (fused_pud_pw, the front block, fused_pub) run the same conv on rows that are still in cache.
#pragma once

#include <cstdint>

namespace hpun {

struct PointwiseQ8;  // hpun/pw-q8.h

// A 1x1 conv's weights and epilogue. pwt = conv1x1_transpose_weights(pw_w) holds
// pwt[ci * C + co] = pw_w[co * C + ci] (a (C, C, 1, 1) conv: C in, C out); residual, when given, is
// (N, H, W, C) like the input (the fused ops take it per image).
struct PointwiseEpilogue {
  const float* pwt = nullptr;       // transposed 1x1 weights (C * C)
  const float* pwb = nullptr;       // 1x1 bias (C)
  const float* residual = nullptr;  // added last; null: none
  bool relu = false;
  // The int8 1x1 conv (hpun/pw-q8.h) in place of pwt / pwb: the int8 block ops' 1x1 convs (the
  // PUD's, the HPUN-S front block's first one, the PUB's last one).
  const PointwiseQ8* q8 = nullptr;
  bool on() const { return pwt != nullptr || q8 != nullptr; }
};

void conv1x1_transpose_weights(const float* pw_w, std::int64_t channels, float* pwt);

// Rows [row_begin, row_end) of one (H, W, C) image: out = conv1x1(x, pw) then the epilogue (fp32
// weights). Row ranges of one image can run concurrently.
void conv1x1_nhwc_rows(const float* x, const PointwiseEpilogue& pw, float* out,
                       std::int64_t channels, std::int64_t height, std::int64_t width,
                       std::int64_t row_begin, std::int64_t row_end);

}  // namespace hpun
