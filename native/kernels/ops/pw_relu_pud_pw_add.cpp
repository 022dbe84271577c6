// hpun::pw_relu_pud_pw_add.out(Tensor x, Tensor x_w, Tensor x_b, Tensor w, Tensor b, Tensor pw_w,
//                              Tensor pw_b, *, Tensor(a!) out) -> Tensor(a!)
//
// HPUN-S's whole front block (hpun/pw-relu-pud-pw-add.h):
// x + conv1x1(fused_pud(relu(conv1x1(x, x_w, x_b)), w, b), pw_w, pw_b); x_w and pw_w (C, C, 1, 1);
// channels-last x and out only. run_front is shared with the int8 form (pw_relu_pud_pw_add_q8.cpp).
#include <executorch/extension/kernel_util/make_boxed_from_unboxed_functor.h>

#include <vector>

#include "hpun/conv1x1.h"
#include "hpun/fused-pud.h"
#include "hpun/pw-relu-pud-pw-add.h"
#include "op-util.h"

namespace hpun {
namespace et {

Tensor& run_front(KernelRuntimeContext& ctx, const char* name, const Tensor& x, const Tensor* x_w,
                  const Tensor& x_b, const Tensor& w, const Tensor& b, const Tensor* pw_w,
                  const Tensor& pw_b, const PointwiseQ8* x_q8, const PointwiseQ8* pw_q8,
                  Tensor& out) {
  if (!check_pud_io(ctx, name, x, w, b, out)) return out;
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
  ET_KERNEL_CHECK_MSG(ctx,
                      (x_q8 || pointwise_weights(*x_w, x_b, c)) &&
                          (pw_q8 || pointwise_weights(*pw_w, pw_b, c)),
                      InvalidArgument, out,
                      "%s: x_w and pw_w must be float32 (C, C, 1, 1), x_b and pw_b (C)", name);
  const float* xp = x.const_data_ptr<float>();
  float* op = out.mutable_data_ptr<float>();
  std::vector<float> kt(36 * c), pwt(pw_q8 ? 0 : c * c), xt(x_q8 ? 0 : c * c);
  fused_pud_nhwc_transpose_weights(w.const_data_ptr<float>(), c, kt.data());
  if (!pw_q8) conv1x1_transpose_weights(pw_w->const_data_ptr<float>(), c, pwt.data());
  if (!x_q8) conv1x1_transpose_weights(x_w->const_data_ptr<float>(), c, xt.data());
  const int64_t image = h * wd * c;
  const bool ok = parallel_rows(n, h / 2, [&](int64_t img, int64_t r0, int64_t r1) {
    std::vector<float> scratch(pw_relu_pud_pw_add_nhwc_scratch_floats(wd, c));
    pw_relu_pud_pw_add_nhwc_band(xp + img * image, xt.data(), x_b.const_data_ptr<float>(),
                                 kt.data(), b.const_data_ptr<float>(), pwt.data(),
                                 pw_b.const_data_ptr<float>(), op + img * image, c, h, wd, r0, r1,
                                 scratch.data(), x_q8, pw_q8);
  });
  ET_KERNEL_CHECK(ctx, ok, Internal, out);
  return out;
}

namespace {

Tensor& pw_relu_pud_pw_add_out(KernelRuntimeContext& ctx, const Tensor& x, const Tensor& x_w,
                               const Tensor& x_b, const Tensor& w, const Tensor& b,
                               const Tensor& pw_w, const Tensor& pw_b, Tensor& out) {
  return run_front(ctx, "hpun::pw_relu_pud_pw_add", x, &x_w, x_b, w, b, &pw_w, pw_b, nullptr,
                   nullptr, out);
}

}  // namespace
}  // namespace et
}  // namespace hpun

EXECUTORCH_LIBRARY(hpun, "pw_relu_pud_pw_add.out", hpun::et::pw_relu_pud_pw_add_out);
