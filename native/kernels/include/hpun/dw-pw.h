// A depthwise k x k conv followed by a 1x1 conv and its epilogue (channels-last), the building
// block of a PUB's folded SRDSC(5) with the block's residual add. No ExecuTorch.
//
//   out = conv1x1(depthwise_conv_k(x, dw_w, dw_b), pw)  then relu, then + residual (pw's epilogue)
//
// zero padding k/2, k odd and at most kMaxDepthwiseK. dwt = dw_transpose_weights(dw_w):
// dwt[t * C + c] = dw_w[c * k * k + t].
#pragma once

#include <cstdint>

#include "hpun/conv1x1.h"

namespace hpun {

// The largest depthwise kernel the kernels take (their input-row pointers live in a fixed array).
constexpr std::int64_t kMaxDepthwiseK = 15;

void dw_transpose_weights(const float* dw_w, std::int64_t channels, std::int64_t k, float* dwt);

// Rows [row_begin, row_end) of one (H, W, C) image; scratch: 2 * W * C floats. Row ranges of one
// image can run concurrently, each with its own scratch.
void dw_pw_nhwc_rows(const float* x, const float* dwt, const float* dwb, std::int64_t k,
                     const PointwiseEpilogue& pw, float* out, std::int64_t channels,
                     std::int64_t height, std::int64_t width, std::int64_t row_begin,
                     std::int64_t row_end, float* scratch);

}  // namespace hpun
