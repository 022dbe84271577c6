// hpun::fused_pud: the PUD front part of HPUN (everything of the PUD block but its final 1x1 conv).
// No ExecuTorch (ops/fused_pud.cpp registers it).
//
// For a float32 tensor x (N, C, H, W), H and W even, stored NCHW or NHWC (channels-last), the
// grouped conv's weight w (C, 4, 3, 3) and bias b (C), exactly as PyTorch's composite:
//
//   y   = pixel_unshuffle(x, 2)                               (N, 4C, H/2, W/2)
//   y   = max_pool2d(y, 3, stride=1, padding=1)               (-inf padding)
//   y   = conv2d(y, w, b, padding=1, groups=C)                (zero padding)
//   out = interpolate(y, scale_factor=2, bilinear, align_corners=False) + x
//
// Each output channel depends on its own input channel only, so the kernel streams the image top to
// bottom through three-row rings: the 4C unshuffled tensor, the pooled tensor and the half-size
// conv output are never materialised.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hpun {

// ---- NCHW: one H x W plane at a time -----------------------------------------------------------
// Floats of scratch one plane needs (one buffer per concurrently processed plane).
std::size_t fused_pud_scratch_floats(std::int64_t width);
// x and out are H*W contiguous floats (may not alias), w9x4 the 36 weights of this channel's group
// in PyTorch order [sub-image s = 2*dy + dx][kh][kw], bias the group's bias; H and W even and
// positive.
void fused_pud_plane(const float* x, float* out, std::int64_t height, std::int64_t width,
                     const float* w9x4, float bias, float* scratch);
// Planes [plane_begin, plane_end) of an (N*C, H, W) tensor; plane p uses channel p % channels.
// Allocates its own scratch. Serial; callers parallelise over plane ranges.
void fused_pud_planes(const float* x, const float* w, const float* b, float* out,
                      std::int64_t channels, std::int64_t height, std::int64_t width,
                      std::int64_t plane_begin, std::int64_t plane_end);

// ---- NHWC: bands of rows, vectorised across the channels ---------------------------------------
// x and out are (N, H, W, C) contiguous. The per-channel weights are used as per-tap vectors: kt =
// fused_pud_nhwc_transpose_weights(w) holds kt[tap * C + c] = w[c * 36 + tap]. A band is the output
// rows [2 * row_begin, 2 * row_end) of one image (row_* are half-resolution rows, 0 <= row_begin <
// row_end <= H/2); bands can run concurrently, each with its own scratch of
// fused_pud_nhwc_scratch_floats(W, C) floats.
std::size_t fused_pud_nhwc_scratch_floats(std::int64_t width, std::int64_t channels);
void fused_pud_nhwc_transpose_weights(const float* w, std::int64_t channels, float* kt);
void fused_pud_nhwc_band(const float* x, const float* kt, const float* b, float* out,
                         std::int64_t channels, std::int64_t height, std::int64_t width,
                         std::int64_t row_begin, std::int64_t row_end, float* scratch);
// Whole (N, H, W, C) tensor, serially (b may be null: zero bias).
void fused_pud_nhwc(const float* x, const float* w, const float* b, float* out, std::int64_t batch,
                    std::int64_t channels, std::int64_t height, std::int64_t width);

// The fp32 code path the hardware config chose on this machine ("avx512f", "avx2", "sse2", "neon",
// "generic"), for the benchmark table and the tests.
const char* fused_pud_isa();

}  // namespace hpun
