// hpun::fused_pub_q8.out(Tensor x, Tensor w, Tensor b, Tensor pw_w, Tensor pw_b, Tensor dw_w,
//                        Tensor dw_b, Tensor pw2_qw, Tensor pw2_ws, Tensor pw2_b, float pw2_scale,
//                        int pw2_zp, *, Tensor(a!) out) -> Tensor(a!)
//
// hpun::fused_pub with its last 1x1 conv the int8 conv of hpun/pw-q8.h (its input, the depthwise
// conv's output, quantized per tensor by pw2_scale, pw2_zp; pw2_qw int8 (C, C, 1, 1) with
// per-output-channel scales pw2_ws (C); bias pw2_b), the PUD's 1x1 conv float32: the PTQ form of
// the int8-fused HPUN's PUB (quantization/int8_blocks.py; fused_pub_q8x2.cpp has both 1x1 convs
// int8). The work is fused_pub.cpp's.
#include <executorch/extension/kernel_util/make_boxed_from_unboxed_functor.h>

#include "op-util.h"

namespace hpun {
namespace et {
namespace {

Tensor& fused_pub_q8_out(KernelRuntimeContext& ctx, const Tensor& x, const Tensor& w,
                         const Tensor& b, const Tensor& pw_w, const Tensor& pw_b,
                         const Tensor& dw_w, const Tensor& dw_b, const Tensor& pw2_qw,
                         const Tensor& pw2_ws, const Tensor& pw2_b, double pw2_scale,
                         int64_t pw2_zp, Tensor& out) {
  const char* name = "hpun::fused_pub_q8";
  if (x.dim() != 4 || !q8_params(ctx, name, pw2_qw, pw2_ws, pw2_b, pw2_scale, pw2_zp, x.size(1)))
    return out;
  const PointwiseQ8 q = q8_prepare(pw2_qw, pw2_ws, pw2_b, pw2_scale, pw2_zp);
  return run_pub(ctx, name, x, w, b, &pw_w, pw_b, dw_w, dw_b, nullptr, pw2_b, nullptr, &q, out);
}

}  // namespace
}  // namespace et
}  // namespace hpun

EXECUTORCH_LIBRARY(hpun, "fused_pub_q8.out", hpun::et::fused_pub_q8_out);
