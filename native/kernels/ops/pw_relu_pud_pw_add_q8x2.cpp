// hpun::pw_relu_pud_pw_add_q8x2.out(Tensor x, Tensor x_qw, Tensor x_ws, Tensor x_b, float x_scale,
//                                 int x_zp, Tensor w, Tensor b, Tensor pw_qw, Tensor pw_ws,
//                                 Tensor pw_b, float pw_scale, int pw_zp, *,
//                                 Tensor(a!) out) -> Tensor(a!)
//
// hpun::pw_relu_pud_pw_add with both its 1x1 convs the int8 conv of hpun/pw-q8.h: the first on x
// (quantized per tensor by x_scale, x_zp; x_qw int8 (C, C, 1, 1) with per-output-channel scales
// x_ws (C); bias x_b), the PUD's on the PUD's output (pw_scale, pw_zp; pw_qw, pw_ws, pw_b): the
// int8-fused HPUN-S's front block (quantization/int8_blocks.py). The work is
// pw_relu_pud_pw_add.cpp's.
#include <executorch/extension/kernel_util/make_boxed_from_unboxed_functor.h>

#include "op-util.h"

namespace hpun {
namespace et {
namespace {

Tensor& pw_relu_pud_pw_add_q8x2_out(KernelRuntimeContext& ctx, const Tensor& x, const Tensor& x_qw,
                                  const Tensor& x_ws, const Tensor& x_b, double x_scale,
                                  int64_t x_zp, const Tensor& w, const Tensor& b,
                                  const Tensor& pw_qw, const Tensor& pw_ws, const Tensor& pw_b,
                                  double pw_scale, int64_t pw_zp, Tensor& out) {
  const char* name = "hpun::pw_relu_pud_pw_add_q8x2";
  if (x.dim() != 4 || !q8_params(ctx, name, x_qw, x_ws, x_b, x_scale, x_zp, x.size(1)) ||
      !q8_params(ctx, name, pw_qw, pw_ws, pw_b, pw_scale, pw_zp, x.size(1)))
    return out;
  const PointwiseQ8 xq = q8_prepare(x_qw, x_ws, x_b, x_scale, x_zp);
  const PointwiseQ8 pq = q8_prepare(pw_qw, pw_ws, pw_b, pw_scale, pw_zp);
  return run_front(ctx, name, x, nullptr, x_b, w, b, nullptr, pw_b, &xq, &pq, out);
}

}  // namespace
}  // namespace et
}  // namespace hpun

EXECUTORCH_LIBRARY(hpun, "pw_relu_pud_pw_add_q8x2.out", hpun::et::pw_relu_pud_pw_add_q8x2_out);
