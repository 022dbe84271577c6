// hpun::fused_pud_pw_add.out(Tensor x, Tensor w, Tensor b, Tensor pw_w, Tensor pw_b,
//                            Tensor residual, *, Tensor(a!) out) -> Tensor(a!)
//
// residual + conv1x1(fused_pud(x, w, b), pw_w, pw_b) (hpun/fused-pud-pw.h): an HPUB front block's
// PUD and its residual add; residual channels-last like x. The work is fused_pud_pw.cpp's.
#include <executorch/extension/kernel_util/make_boxed_from_unboxed_functor.h>

#include "op-util.h"

namespace hpun {
namespace et {
namespace {

Tensor& fused_pud_pw_add_out(KernelRuntimeContext& ctx, const Tensor& x, const Tensor& w,
                             const Tensor& b, const Tensor& pw_w, const Tensor& pw_b,
                             const Tensor& residual, Tensor& out) {
  return run_fused_pud_pw(ctx, "hpun::fused_pud_pw_add", x, w, b, &pw_w, pw_b, &residual, false,
                          nullptr, out);
}

}  // namespace
}  // namespace et
}  // namespace hpun

EXECUTORCH_LIBRARY(hpun, "fused_pud_pw_add.out", hpun::et::fused_pud_pw_add_out);
