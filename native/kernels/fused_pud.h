// Fused PUD front part of HPUN (the project's own CPU kernel).
//
// For a float32 tensor x (N, C, H, W), H and W even, stored NCHW or NHWC (channels-last), the grouped-conv weight w (C, 4, 3, 3)
// and its bias b (C) this computes, exactly as PyTorch's composite does,
//
//   y   = pixel_unshuffle(x, 2)                               (N, 4C, H/2, W/2)
//   y   = max_pool2d(y, 3, stride=1, padding=1)               (-inf padding)
//   y   = conv2d(y, w, b, padding=1, groups=C)                (zero padding)
//   out = interpolate(y, scale_factor=2, bilinear, align_corners=False) + x
//
// i.e. everything of the PUD block except its final 1x1 conv. Each output channel depends on its
// own input channel only, so the kernel streams the image top to bottom through three-row ring
// buffers (the 4C unshuffled tensor, the pooled tensor and the half-size conv output are never
// materialised; the working set is ~30 * (W/2 + 2) floats per NCHW plane, ~19 * (W/2 + 2) * C per
// NHWC band, which pools straight from its input rows).
//
// This header has no ExecuTorch dependency: `register_fused_pud.cpp` wraps it as the ExecuTorch
// kernel `hpun::fused_pud.out`, the test driver calls both.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hpun {
namespace kernels {

// Floats of scratch one plane needs (one buffer per concurrently processed plane).
std::size_t fused_pud_scratch_floats(std::int64_t width);

// One H x W plane: x and out are H*W contiguous floats (may not alias), w9x4 the 36 weights of this
// channel's group in PyTorch order [sub-image s = 2*dy + dx][kh][kw], bias the group's bias.
// scratch holds fused_pud_scratch_floats(W) floats. H and W must be even and positive.
void fused_pud_plane(const float* x, float* out, std::int64_t height, std::int64_t width,
                     const float* w9x4, float bias, float* scratch);

// Planes [plane_begin, plane_end) of an (N*C, H, W) tensor; plane p uses channel p % channels.
// Allocates its own scratch. Serial; callers parallelise over plane ranges.
void fused_pud_planes(const float* x, const float* w, const float* b, float* out,
                      std::int64_t channels, std::int64_t height, std::int64_t width,
                      std::int64_t plane_begin, std::int64_t plane_end);

// Channels-last (NHWC) tensors: x and out are (N, H, W, C) contiguous. The per-channel weights are
// used as per-tap vectors: kt = fused_pud_nhwc_transpose_weights(w) holds kt[tap * C + c] =
// w[c * 36 + tap]. A band is the output rows [2 * row_begin, 2 * row_end) of one image (row_* are
// half-resolution rows, 0 <= row_begin < row_end <= H/2); bands can run concurrently, each with
// its own scratch of fused_pud_nhwc_scratch_floats(W, C) floats.
std::size_t fused_pud_nhwc_scratch_floats(std::int64_t width, std::int64_t channels);
void fused_pud_nhwc_transpose_weights(const float* w, std::int64_t channels, float* kt);
void fused_pud_nhwc_band(const float* x, const float* kt, const float* b, float* out,
                         std::int64_t channels, std::int64_t height, std::int64_t width,
                         std::int64_t row_begin, std::int64_t row_end, float* scratch);
// Whole (N, H, W, C) tensor, serially (b may be null: zero bias).
void fused_pud_nhwc(const float* x, const float* w, const float* b, float* out,
                    std::int64_t batch, std::int64_t channels, std::int64_t height,
                    std::int64_t width);

// The whole PUD block with its 1x1 conv, and the block's epilogue after it (channels-last only):
//
//   out = conv1x1(fused_pud(x, w, b), pw_w, pw_b)      then  out = max(out, 0)  if relu
//                                                      then  out += residual    if residual
//
// (HPUN's PUB applies relu to its PUD, its front block adds the block input to it). The 1x1 conv
// runs on each pair of output rows while they are in cache, so the PUD's own output never reaches
// memory. pwt = fused_pud_pw_transpose_weights(pw_w) holds pwt[ci * C + co] = pw_w[co * C + ci]
// (a (C, C, 1, 1) conv: C in, C out). residual, when given, is (N, H, W, C) like x and out.
struct PointwiseQ8;  // pw_q8.h
struct PointwiseEpilogue {
  const float* pwt = nullptr;       // transposed 1x1 weights (C * C)
  const float* pwb = nullptr;       // 1x1 bias (C)
  const float* residual = nullptr;  // added last; null: none
  bool relu = false;
  // The int8 1x1 conv (pw_q8.h) in place of pwt / pwb: the HPUN-S front block's first 1x1 conv and
  // the PUB's last one (pw_relu_pud_pw_add_nhwc_band, fused_pub_nhwc_band).
  const PointwiseQ8* q8 = nullptr;
  bool on() const { return pwt != nullptr || q8 != nullptr; }
};
void fused_pud_pw_transpose_weights(const float* pw_w, std::int64_t channels, float* pwt);
// Scratch of one band: fused_pud_nhwc_scratch_floats plus one full-resolution row.
std::size_t fused_pud_pw_nhwc_scratch_floats(std::int64_t width, std::int64_t channels);
void fused_pud_pw_nhwc_band(const float* x, const float* kt, const float* b,
                            const PointwiseEpilogue& pw, float* out, std::int64_t channels,
                            std::int64_t height, std::int64_t width, std::int64_t row_begin,
                            std::int64_t row_end, float* scratch);
// Whole (N, H, W, C) tensor, serially (b, pw_b may be null: zero bias; residual may be null).
void fused_pud_pw_nhwc(const float* x, const float* w, const float* b, const float* pw_w,
                       const float* pw_b, const float* residual, bool relu, float* out,
                       std::int64_t batch, std::int64_t channels, std::int64_t height,
                       std::int64_t width);

// HPUN-S's front block in one pass (channels-last only):
//
//   out = x + conv1x1(fused_pud(relu(conv1x1(x, x_w, x_b)), w, b), pw_w, pw_b)
//
// The first 1x1 conv (the folded SRDSC(1)) runs row by row into a ring of rows as the PUD's stages
// first need them, so its output never reaches memory either. pre_t = the transposed x_w
// (fused_pud_pw_transpose_weights), pwt likewise; bands as in fused_pud_pw_nhwc_band.
std::size_t pw_relu_pud_pw_add_nhwc_scratch_floats(std::int64_t width, std::int64_t channels);
void pw_relu_pud_pw_add_nhwc_band(const float* x, const float* pre_t, const float* pre_b,
                                  const float* kt, const float* b, const float* pwt,
                                  const float* pwb, float* out, std::int64_t channels,
                                  std::int64_t height, std::int64_t width, std::int64_t row_begin,
                                  std::int64_t row_end, float* scratch,
                                  const PointwiseQ8* pre_q8 = nullptr);
// pre_q8 (an int8 front block, pw_relu_pud_pw_add_q8): the first 1x1 conv is that int8 conv on x
// (pre_t, pre_b unused). Whole (N, H, W, C) tensor, serially (biases may be null: zero).
void pw_relu_pud_pw_add_nhwc(const float* x, const float* x_w, const float* x_b, const float* w,
                             const float* b, const float* pw_w, const float* pw_b, float* out,
                             std::int64_t batch, std::int64_t channels, std::int64_t height,
                             std::int64_t width);

// The rest of an HPUN block, channels-last, row by row (rows [row_begin, row_end) of one image;
// bands of rows can run concurrently):
//
//   dw_pw:   out = conv1x1(depthwise_conv_k(x, dw_w, dw_b), pw) then the epilogue (relu, residual)
//            (a PUB's folded SRDSC(5) and the block's residual add; zero padding k/2; k odd)
//   conv1x1: out = conv1x1(x, pw) then the epilogue (HPUN-S's folded SRDSC(1) and its relu)
//
// dwt = dw_transpose_weights(dw_w): dwt[t * C + c] = dw_w[c * k * k + t]. dw_pw's scratch is two
// rows, 2 * W * C floats.
void dw_transpose_weights(const float* dw_w, std::int64_t channels, std::int64_t k, float* dwt);
// The largest depthwise kernel dw_pw takes (its input-row pointers live in a fixed array).
constexpr std::int64_t kMaxDepthwiseK = 15;
void dw_pw_nhwc_rows(const float* x, const float* dwt, const float* dwb, std::int64_t k,
                     const PointwiseEpilogue& pw, float* out, std::int64_t channels,
                     std::int64_t height, std::int64_t width, std::int64_t row_begin,
                     std::int64_t row_end, float* scratch);
void conv1x1_nhwc_rows(const float* x, const PointwiseEpilogue& pw, float* out,
                       std::int64_t channels, std::int64_t height, std::int64_t width,
                       std::int64_t row_begin, std::int64_t row_end);

// fused_pub (a whole PUB whose SRDSC(5) is folded, NHWC): out = x + conv1x1(dwconv5(t), pw2) with
// t = relu(conv1x1(fused_pud(x, w, b), pw)), t never in memory: the PUD's rows go to a ring of six
// that the 5x5 depthwise conv reads. kt, pwt, pw2t, dwt: the transposes above (dwt with k = 5). A
// band is output half rows [row_begin, row_end) (full rows 2 row_begin .. 2 row_end - 1); it runs
// the PUD over one half row more each side.
std::size_t fused_pub_nhwc_scratch_floats(std::int64_t width, std::int64_t channels);
void fused_pub_nhwc_band(const float* x, const float* kt, const float* b, const float* pwt,
                         const float* pwb, const float* dwt, const float* dwb, const float* pw2t,
                         const float* pw2b, float* out, std::int64_t channels, std::int64_t height,
                         std::int64_t width, std::int64_t row_begin, std::int64_t row_end,
                         float* scratch, const PointwiseQ8* pw2_q8 = nullptr);
// pw2_q8 (an int8 PUB, fused_pub_q8): the last 1x1 conv is that int8 conv on dwconv5(t) (its input
// quantized per tensor; pw2t, pw2b unused). All of it, serially, from the module's weights (w: (C, 4, 3, 3), pw_w/pw2_w: (C, C), dw_w:
// (C, 1, 5, 5)); biases must not be null.
void fused_pub_nhwc(const float* x, const float* w, const float* b, const float* pw_w,
                    const float* pw_b, const float* dw_w, const float* dw_b, const float* pw2_w,
                    const float* pw2_b, float* out, std::int64_t batch, std::int64_t channels,
                    std::int64_t height, std::int64_t width);

// Which code path fused_pud_plane dispatches to on this machine ("avx512f", "avx2", "neon",
// "generic"), for the benchmark table and the test log.
const char* fused_pud_isa();

}  // namespace kernels
}  // namespace hpun
