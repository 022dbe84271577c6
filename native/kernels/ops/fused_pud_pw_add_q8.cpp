// hpun::fused_pud_pw_add_q8.out(Tensor x, Tensor w, Tensor b, Tensor pw_qw, Tensor pw_ws,
//                               Tensor pw_b, float pw_scale, int pw_zp, Tensor residual, *,
//                               Tensor(a!) out) -> Tensor(a!)
//
// hpun::fused_pud_pw_add with the PUD's 1x1 conv the int8 conv of hpun/pw-q8.h (the PUD's output
// quantized per tensor by pw_scale, pw_zp; pw_qw int8 (C, C, 1, 1) with per-output-channel scales
// pw_ws (C); bias pw_b): the int8-fused HPUB front block after its dense conv
// (quantization/int8_blocks.py). The work is fused_pud_pw.cpp's.
#include <executorch/extension/kernel_util/make_boxed_from_unboxed_functor.h>

#include "op-util.h"

namespace hpun {
namespace et {
namespace {

Tensor& fused_pud_pw_add_q8_out(KernelRuntimeContext& ctx, const Tensor& x, const Tensor& w,
                                const Tensor& b, const Tensor& pw_qw, const Tensor& pw_ws,
                                const Tensor& pw_b, double pw_scale, int64_t pw_zp,
                                const Tensor& residual, Tensor& out) {
  const char* name = "hpun::fused_pud_pw_add_q8";
  if (x.dim() != 4 || !q8_params(ctx, name, pw_qw, pw_ws, pw_b, pw_scale, pw_zp, x.size(1)))
    return out;
  const PointwiseQ8 pq = q8_prepare(pw_qw, pw_ws, pw_b, pw_scale, pw_zp);
  return run_fused_pud_pw(ctx, name, x, w, b, nullptr, pw_b, &residual, false, &pq, out);
}

}  // namespace
}  // namespace et
}  // namespace hpun

EXECUTORCH_LIBRARY(hpun, "fused_pud_pw_add_q8.out", hpun::et::fused_pud_pw_add_q8_out);
