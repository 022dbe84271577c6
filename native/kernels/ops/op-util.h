// Shared by the ExecuTorch op registrations (ops/<op>.cpp): the input checks, the row bands on
// ExecuTorch's thread pool, and the helpers an op shares with its _add / _q8 variant.
#pragma once

#include <executorch/runtime/kernel/kernel_includes.h>
#include <executorch/runtime/kernel/thread_parallel_interface.h>

#include <algorithm>
#include <cstdint>

#include "hpun/pw-q8.h"

namespace hpun {
namespace et {

using executorch::aten::ScalarType;
using executorch::aten::Tensor;
using executorch::runtime::KernelRuntimeContext;

bool is_nchw_contiguous(const Tensor& t);
bool is_channels_last(const Tensor& t);
// t: float32, 4-D, channels-last, of like's shape.
bool nhwc_float_like(const Tensor& t, const Tensor& like);
// A depthwise k x k conv: dw_w (C, 1, k, k), dw_b (C), float32, contiguous.
bool depthwise_weights(const Tensor& w, const Tensor& b, int64_t c, int64_t k);
// The PUD's grouped conv: w (C, 4, 3, 3), b (C), float32, contiguous.
bool grouped_weights(const Tensor& w, const Tensor& b, int64_t c);
// A 1x1 conv: w (C, C, 1, 1), b (C), float32, contiguous.
bool pointwise_weights(const Tensor& w, const Tensor& b, int64_t c);

// x: a channels-last float32 4-D tensor; out resized to it, channels-last, not aliasing x or
// `other` (may be null). False (the context failed, the message logged) otherwise.
bool check_nhwc_io(KernelRuntimeContext& ctx, const char* op, const Tensor& x, Tensor& out,
                   const Tensor* other);
// x and out as check_nhwc_io wants them, H and W even, and the PUD's grouped conv (w, b): the
// channels-last ops that contain a PUD.
bool check_pud_io(KernelRuntimeContext& ctx, const char* op, const Tensor& x, const Tensor& w,
                  const Tensor& b, Tensor& out);
// hpun::fused_pud's checks (x 4-D float32 with H and W even, w and b, x and out both contiguous
// NCHW or both channels-last, out resized to x and not aliasing it), which the _pw ops share;
// *nhwc: which.
bool check_fused_pud_io(KernelRuntimeContext& ctx, const Tensor& x, const Tensor& w,
                        const Tensor& b, Tensor& out, bool* nhwc);

// An int8 1x1 conv's weights and quantization parameters, checked: qw int8 (C, C, 1, 1), w_scale
// and b float32 (C), in_scale positive and finite, in_zp in [-128, 127]. False: the context failed.
bool q8_params(KernelRuntimeContext& ctx, const char* name, const Tensor& qw, const Tensor& w_scale,
               const Tensor& b, double in_scale, int64_t in_zp, int64_t c);
PointwiseQ8 q8_prepare(const Tensor& qw, const Tensor& w_scale, const Tensor& b, double in_scale,
                       int64_t in_zp);

// f(image, row_begin, row_end) over row bands of n images of h rows on ExecuTorch's thread pool
// (the one the XNNPACK delegate uses; serial when the runtime has none): two bands a thread on tall
// images (the pool balances them), one where each band recomputes a halo (fused_pub). False: the
// pool failed.
template <typename F>
bool parallel_rows(int64_t n, int64_t h, F f, bool one_band_per_thread = false) {
  const int64_t threads = std::max<int64_t>(1, executorch::extension::get_thread_count());
  int64_t bands =
      std::min<int64_t>(h, threads * (h >= 64 * threads && !one_band_per_thread ? 2 : 1));
  const int64_t band = (h + bands - 1) / bands;
  bands = (h + band - 1) / band;
  return executorch::extension::parallel_for(0, n * bands, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t r0 = (item % bands) * band;
      f(item / bands, r0, std::min(h, r0 + band));
    }
  });
}

// Shared by an op and its variant (defined in the first one's file):
// In their int8 forms (the _q8 ops) a 1x1 conv's PointwiseQ8 is given and its fp32 weights are
// not (null); its bias is still passed (checked, and in the PointwiseQ8).
// fused_pud_pw.cpp: fused_pud_pw and fused_pud_pw_add(_q8) (residual may be null; pw_q8: the PUD's
// 1x1 conv int8).
Tensor& run_fused_pud_pw(KernelRuntimeContext& ctx, const char* name, const Tensor& x,
                         const Tensor& w, const Tensor& b, const Tensor* pw_w, const Tensor& pw_b,
                         const Tensor* residual, bool relu, const PointwiseQ8* pw_q8, Tensor& out);
// pw_relu_pud_pw_add.cpp: the HPUN-S front block; x_q8 / pw_q8: the first / the PUD's 1x1 conv
// int8.
Tensor& run_front(KernelRuntimeContext& ctx, const char* name, const Tensor& x, const Tensor* x_w,
                  const Tensor& x_b, const Tensor& w, const Tensor& b, const Tensor* pw_w,
                  const Tensor& pw_b, const PointwiseQ8* x_q8, const PointwiseQ8* pw_q8,
                  Tensor& out);
// fused_pub.cpp: a PUB with a folded SRDSC(5); pw_q8 / pw2_q8: the PUD's / the last 1x1 conv int8.
Tensor& run_pub(KernelRuntimeContext& ctx, const char* name, const Tensor& x, const Tensor& w,
                const Tensor& b, const Tensor* pw_w, const Tensor& pw_b, const Tensor& dw_w,
                const Tensor& dw_b, const Tensor* pw2_w, const Tensor& pw2_b,
                const PointwiseQ8* pw_q8, const PointwiseQ8* pw2_q8, Tensor& out);

}  // namespace et
}  // namespace hpun
