// hpun::pw_relu_pud_pw_add (and its int8 form pw_relu_pud_pw_add_q8): HPUN-S's front block in one
// pass (channels-last only). No ExecuTorch.
//
//   out = x + conv1x1(fused_pud(relu(conv1x1(x, x_w, x_b)), w, b), pw_w, pw_b)
//
// The first 1x1 conv (the folded SRDSC(1)) runs row by row into a ring of rows as the PUD's stages
// first need them, so its output never reaches memory either.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hpun {

struct PointwiseQ8;  // hpun/pw-q8.h

std::size_t pw_relu_pud_pw_add_nhwc_scratch_floats(std::int64_t width, std::int64_t channels);
// A band as in fused_pud_nhwc_band; pre_t = the transposed x_w, pwt the transposed pw_w
// (conv1x1_transpose_weights), kt = fused_pud_nhwc_transpose_weights(w). The int8 form: pre_q8,
// the first 1x1 conv is that int8 conv on x (pre_t, pre_b unused); pw_q8, the PUD's 1x1 conv is
// that int8 conv on the PUD's output (pwt, pwb unused).
void pw_relu_pud_pw_add_nhwc_band(const float* x, const float* pre_t, const float* pre_b,
                                  const float* kt, const float* b, const float* pwt,
                                  const float* pwb, float* out, std::int64_t channels,
                                  std::int64_t height, std::int64_t width, std::int64_t row_begin,
                                  std::int64_t row_end, float* scratch,
                                  const PointwiseQ8* pre_q8 = nullptr,
                                  const PointwiseQ8* pw_q8 = nullptr);
// Whole (N, H, W, C) tensor from the module's weights, serially (biases may be null: zero).
void pw_relu_pud_pw_add_nhwc(const float* x, const float* x_w, const float* x_b, const float* w,
                             const float* b, const float* pw_w, const float* pw_b, float* out,
                             std::int64_t batch, std::int64_t channels, std::int64_t height,
                             std::int64_t width);

}  // namespace hpun
