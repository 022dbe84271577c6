// hpun::fused_pud_pw and hpun::fused_pud_pw_add: the whole PUD block with its 1x1 conv, and the
// block's epilogue after it (channels-last only). No ExecuTorch.
//
//   out = conv1x1(fused_pud(x, w, b), pw_w, pw_b)   then  out = max(out, 0)  if relu
//                                                    then  out += residual    if residual
//
// (HPUN's PUB applies relu to its PUD, an HPUB front block adds the block input.) The 1x1 conv runs
// on each pair of output rows while they are in cache, so the PUD's own output never reaches
// memory.
#pragma once

#include <cstddef>
#include <cstdint>

#include "hpun/conv1x1.h"

namespace hpun {

// Scratch of one band: fused_pud_nhwc_scratch_floats plus one full-resolution row.
std::size_t fused_pud_pw_nhwc_scratch_floats(std::int64_t width, std::int64_t channels);
// A band as in fused_pud_nhwc_band (kt: fused_pud_nhwc_transpose_weights); pw: fp32 weights
// (conv1x1_transpose_weights), its residual (when set) that image's.
void fused_pud_pw_nhwc_band(const float* x, const float* kt, const float* b,
                            const PointwiseEpilogue& pw, float* out, std::int64_t channels,
                            std::int64_t height, std::int64_t width, std::int64_t row_begin,
                            std::int64_t row_end, float* scratch);
// Whole (N, H, W, C) tensor, serially (b, pw_b may be null: zero bias; residual may be null).
void fused_pud_pw_nhwc(const float* x, const float* w, const float* b, const float* pw_w,
                       const float* pw_b, const float* residual, bool relu, float* out,
                       std::int64_t batch, std::int64_t channels, std::int64_t height,
                       std::int64_t width);

}  // namespace hpun
