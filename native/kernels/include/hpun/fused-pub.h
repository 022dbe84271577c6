// hpun::fused_pub (and its int8 form fused_pub_q8: its 1x1 convs int8): a whole PUB whose SRDSC(5) is folded, in one
// pass (channels-last only). No ExecuTorch.
//
//   out = x + conv1x1(dwconv5(t, dw_w, dw_b), pw2_w, pw2_b),   t = relu(conv1x1(fused_pud(x, w, b),
//   pw_w, pw_b))
//
// t never reaches memory: the PUD's rows go to a ring of six that the 5x5 depthwise conv reads.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hpun {

struct PointwiseQ8;  // hpun/pw-q8.h

std::size_t fused_pub_nhwc_scratch_floats(std::int64_t width, std::int64_t channels);
// A band is output half rows [row_begin, row_end) (full rows 2 row_begin .. 2 row_end - 1); it runs
// the PUD over one half row more each side. kt, pwt, pw2t, dwt: fused_pud_nhwc_transpose_weights,
// conv1x1_transpose_weights, dw_transpose_weights (k = 5). The int8 form: pw2_q8, the last 1x1
// conv is that int8 conv on dwconv5(t) (pw2t, pw2b unused); pw_q8, the PUD's 1x1 conv is that
// int8 conv on the PUD's output (pwt, pwb unused).
void fused_pub_nhwc_band(const float* x, const float* kt, const float* b, const float* pwt,
                         const float* pwb, const float* dwt, const float* dwb, const float* pw2t,
                         const float* pw2b, float* out, std::int64_t channels, std::int64_t height,
                         std::int64_t width, std::int64_t row_begin, std::int64_t row_end,
                         float* scratch, const PointwiseQ8* pw2_q8 = nullptr,
                         const PointwiseQ8* pw_q8 = nullptr);
// Whole (N, H, W, C) tensor from the module's weights (w: (C, 4, 3, 3), pw_w / pw2_w: (C, C), dw_w:
// (C, 1, 5, 5)), serially; biases must not be null.
void fused_pub_nhwc(const float* x, const float* w, const float* b, const float* pw_w,
                    const float* pw_b, const float* dw_w, const float* dw_b, const float* pw2_w,
                    const float* pw2_b, float* out, std::int64_t batch, std::int64_t channels,
                    std::int64_t height, std::int64_t width);

}  // namespace hpun
