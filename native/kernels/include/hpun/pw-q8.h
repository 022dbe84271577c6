// The int8 1x1 conv of the int8 HPUN blocks (channels-last, float32 in and out). No ExecuTorch: the
// fused int8 block ops (pw_relu_pud_pw_add_q8, fused_pub_q8) run it on rows in cache.
//
// For a float32 channels-last tensor x (N, H, W, C), a static per-tensor affine int8 input and
// symmetric per-output-channel int8 weights, exactly what the PT2E fake-quant reference computes:
//
//   q[p][c]   = clamp(round_half_even(x[p][c] * (1 / in_scale)) + in_zp, -128, 127)
//   out[p][o] = b[o] + in_scale * w_scale[o] * sum_c (q[p][c] - in_zp) * qw[o][c]
//               then  out = max(out, 0)  if relu,  then  out += residual  if residual
//
// i.e. conv2d(dequantize(quantize(x)), dequantize_per_channel(qw), b), with quantize as
// torch.ops.quantized_decomposed.quantize_per_tensor rounds (x times the float32 reciprocal of the
// scale, half to even). The sum over c is an exact int32 sum (the reference sums fp32 products: the
// two differ by the reference's rounding only); the output stays float32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hpun {

// The weights and quantization parameters in the kernels' layouts (built once per call or model).
struct PointwiseQ8 {
  std::int64_t channels = 0;  // C (in and out)
  std::int64_t padded = 0;    // C rounded up to a multiple of 4 (the quantized row's stride)
  float inv_in_scale = 0.f;   // float32(1 / in_scale), as the reference multiplies
  std::int32_t in_zp = 0;
  std::vector<std::int8_t> wp;     // [padded / 4][C out][4]: four input channels per 32-bit lane
  std::vector<std::int16_t> wt;    // [C in][C out]: the plain loops' layout
  std::vector<std::int32_t> corr;  // -(in_zp + 128) * sum_c qw[o][c]: inputs are stored as q + 128
  std::vector<std::int32_t> corr_signed;  // -in_zp * sum_c qw[o][c]: signed codes (AArch64 sdot)
  std::vector<float> scale;               // in_scale * w_scale[o]
  std::vector<float> bias;                // b[o] (zero when b is null)
};

// qw: C * C int8 values, PyTorch order [o][c] (a (C, C, 1, 1) weight); w_scale: C; b: C or null.
// Callers check in_scale > 0 (and finite) and -128 <= in_zp <= 127.
PointwiseQ8 pw_q8_prepare(const std::int8_t* qw, const float* w_scale, const float* b,
                          double in_scale, std::int64_t in_zp, std::int64_t channels);

// Bytes of scratch one call of pw_q8_nhwc_rows needs (one quantized row).
std::size_t pw_q8_scratch_bytes(std::int64_t width, std::int64_t channels);

// Rows [r0, r1) of one (H, W, C) image; residual (same layout as x) may be null. Rows of
// different calls may run concurrently, each with its own scratch.
void pw_q8_nhwc_rows(const float* x, const PointwiseQ8& q, const float* residual, bool relu,
                     float* out, std::int64_t width, std::int64_t r0, std::int64_t r1,
                     std::uint8_t* scratch);

// n pixels (x, residual, out: n * C contiguous floats; residual may be null), with a scratch of
// this thread's own: what a fused block kernel calls on a row that is in cache.
void pw_q8_row(const float* x, const PointwiseQ8& q, const float* residual, bool relu, float* out,
               std::int64_t n);

// The whole (N, H, W, C) tensor, serially.
void pw_q8_nhwc(const float* x, const PointwiseQ8& q, const float* residual, bool relu, float* out,
                std::int64_t batch, std::int64_t height, std::int64_t width);

// The code path chosen on this CPU for C channels: "avx512vnni" (C == 64 with AVX-512 VNNI),
// "neon-dotprod" (C % 16 == 0 on AArch64 with the dot-product extension), else the generic loops
// ("avx2", "sse2", "neon", "generic"); HPUN_KERNELS_ISA caps it (src/configs/config.h).
const char* pw_q8_isa(std::int64_t channels);

}  // namespace hpun
