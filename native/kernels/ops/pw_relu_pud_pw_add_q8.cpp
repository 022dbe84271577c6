// hpun::pw_relu_pud_pw_add_q8.out(Tensor x, Tensor x_qw, Tensor x_ws, Tensor x_b, float x_scale,
//                                 int x_zp, Tensor w, Tensor b, Tensor pw_w, Tensor pw_b, *,
//                                 Tensor(a!) out) -> Tensor(a!)
//
// hpun::pw_relu_pud_pw_add with its first 1x1 conv the int8 conv of hpun/pw-q8.h (x quantized per
// tensor by x_scale, x_zp; x_qw int8 (C, C, 1, 1) with per-output-channel scales x_ws (C); bias
// x_b), the PUD's 1x1 conv float32: the PTQ form of the int8-fused HPUN-S's front block
// (quantization/int8_blocks.py; pw_relu_pud_pw_add_q8x2.cpp has both 1x1 convs int8). The work is
// pw_relu_pud_pw_add.cpp's.
#include <executorch/extension/kernel_util/make_boxed_from_unboxed_functor.h>

#include "op-util.h"

namespace hpun {
namespace et {
namespace {

Tensor& pw_relu_pud_pw_add_q8_out(KernelRuntimeContext& ctx, const Tensor& x, const Tensor& x_qw,
                                  const Tensor& x_ws, const Tensor& x_b, double x_scale,
                                  int64_t x_zp, const Tensor& w, const Tensor& b,
                                  const Tensor& pw_w, const Tensor& pw_b, Tensor& out) {
  const char* name = "hpun::pw_relu_pud_pw_add_q8";
  if (x.dim() != 4 || !q8_params(ctx, name, x_qw, x_ws, x_b, x_scale, x_zp, x.size(1))) return out;
  const PointwiseQ8 q = q8_prepare(x_qw, x_ws, x_b, x_scale, x_zp);
  return run_front(ctx, name, x, nullptr, x_b, w, b, &pw_w, pw_b, &q, nullptr, out);
}

}  // namespace
}  // namespace et
}  // namespace hpun

EXECUTORCH_LIBRARY(hpun, "pw_relu_pud_pw_add_q8.out", hpun::et::pw_relu_pud_pw_add_q8_out);
