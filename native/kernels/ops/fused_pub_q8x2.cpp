// hpun::fused_pub_q8x2.out(Tensor x, Tensor w, Tensor b, Tensor pw_qw, Tensor pw_ws, Tensor pw_b,
//                        float pw_scale, int pw_zp, Tensor dw_w, Tensor dw_b, Tensor pw2_qw,
//                        Tensor pw2_ws, Tensor pw2_b, float pw2_scale, int pw2_zp, *,
//                        Tensor(a!) out) -> Tensor(a!)
//
// hpun::fused_pub with both its 1x1 convs the int8 conv of hpun/pw-q8.h: the PUD's on the PUD's
// output (quantized per tensor by pw_scale, pw_zp; pw_qw int8 (C, C, 1, 1) with per-output-channel
// scales pw_ws (C); bias pw_b), the SRDSC's on the depthwise conv's output (pw2_scale, pw2_zp;
// pw2_qw, pw2_ws, pw2_b); the 5x5 depthwise conv (dw_w, dw_b) float32: the int8-fused HPUN's PUB
// (quantization/int8_blocks.py). The work is fused_pub.cpp's.
#include <executorch/extension/kernel_util/make_boxed_from_unboxed_functor.h>

#include "op-util.h"

namespace hpun {
namespace et {
namespace {

Tensor& fused_pub_q8x2_out(KernelRuntimeContext& ctx, const Tensor& x, const Tensor& w,
                         const Tensor& b, const Tensor& pw_qw, const Tensor& pw_ws,
                         const Tensor& pw_b, double pw_scale, int64_t pw_zp, const Tensor& dw_w,
                         const Tensor& dw_b, const Tensor& pw2_qw, const Tensor& pw2_ws,
                         const Tensor& pw2_b, double pw2_scale, int64_t pw2_zp, Tensor& out) {
  const char* name = "hpun::fused_pub_q8x2";
  if (x.dim() != 4 || !q8_params(ctx, name, pw_qw, pw_ws, pw_b, pw_scale, pw_zp, x.size(1)) ||
      !q8_params(ctx, name, pw2_qw, pw2_ws, pw2_b, pw2_scale, pw2_zp, x.size(1)))
    return out;
  const PointwiseQ8 pq = q8_prepare(pw_qw, pw_ws, pw_b, pw_scale, pw_zp);
  const PointwiseQ8 pq2 = q8_prepare(pw2_qw, pw2_ws, pw2_b, pw2_scale, pw2_zp);
  return run_pub(ctx, name, x, w, b, nullptr, pw_b, dw_w, dw_b, nullptr, pw2_b, &pq, &pq2, out);
}

}  // namespace
}  // namespace et
}  // namespace hpun

EXECUTORCH_LIBRARY(hpun, "fused_pub_q8x2.out", hpun::et::fused_pub_q8x2_out);
