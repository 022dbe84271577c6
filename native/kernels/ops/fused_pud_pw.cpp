// hpun::fused_pud_pw.out(Tensor x, Tensor w, Tensor b, Tensor pw_w, Tensor pw_b, bool relu, *,
//                        Tensor(a!) out) -> Tensor(a!)
//
// The whole PUD block (hpun/fused-pud-pw.h): relu(conv1x1(fused_pud(x, w, b), pw_w, pw_b)) with
// relu optional; pw_w (C, C, 1, 1), pw_b (C); channels-last x and out only. run_fused_pud_pw is
// shared with hpun::fused_pud_pw_add and its int8 form (fused_pud_pw_add.cpp,
// fused_pud_pw_add_q8.cpp).
#include <executorch/extension/kernel_util/make_boxed_from_unboxed_functor.h>

#include <vector>

#include "hpun/fused-pud-pw.h"
#include "hpun/fused-pud.h"
#include "op-util.h"

namespace hpun {
namespace et {

Tensor& run_fused_pud_pw(KernelRuntimeContext& ctx, const char* name, const Tensor& x,
                         const Tensor& w, const Tensor& b, const Tensor* pw_w, const Tensor& pw_b,
                         const Tensor* residual, bool relu, const PointwiseQ8* pw_q8, Tensor& out) {
  bool nhwc = false;
  if (!check_fused_pud_io(ctx, x, w, b, out, &nhwc)) return out;
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
  ET_KERNEL_CHECK_MSG(ctx, nhwc, InvalidArgument, out,
                      "%s: x must be channels-last (export through ChannelsLastIO)", name);
  ET_KERNEL_CHECK_MSG(ctx, pw_q8 || pointwise_weights(*pw_w, pw_b, c), InvalidArgument, out,
                      "%s: pw_w must be float32 (C, C, 1, 1), pw_b (C)", name);
  const float* xp = x.const_data_ptr<float>();
  float* op = out.mutable_data_ptr<float>();
  PointwiseEpilogue pw;
  if (residual) {
    ET_KERNEL_CHECK_MSG(ctx, nhwc_float_like(*residual, x), InvalidArgument, out,
                        "%s: residual must be a channels-last float32 tensor of x's shape", name);
    ET_KERNEL_CHECK_MSG(ctx, residual->const_data_ptr<float>() != op, InvalidArgument, out,
                        "%s: out aliases residual", name);
    pw.residual = residual->const_data_ptr<float>();
  }
  std::vector<float> kt(36 * c), pwt(pw_q8 ? 0 : c * c);
  fused_pud_nhwc_transpose_weights(w.const_data_ptr<float>(), c, kt.data());
  if (pw_q8) {
    pw.q8 = pw_q8;
  } else {
    conv1x1_transpose_weights(pw_w->const_data_ptr<float>(), c, pwt.data());
    pw.pwt = pwt.data();
    pw.pwb = pw_b.const_data_ptr<float>();
  }
  pw.relu = relu;
  const float* bp = b.const_data_ptr<float>();
  const int64_t image = h * wd * c;
  const bool ok = parallel_rows(n, h / 2, [&](int64_t img, int64_t r0, int64_t r1) {
    std::vector<float> scratch(fused_pud_pw_nhwc_scratch_floats(wd, c));
    PointwiseEpilogue mine = pw;
    if (mine.residual) mine.residual += img * image;
    fused_pud_pw_nhwc_band(xp + img * image, kt.data(), bp, mine, op + img * image, c, h, wd, r0,
                           r1, scratch.data());
  });
  ET_KERNEL_CHECK(ctx, ok, Internal, out);
  return out;
}

namespace {

Tensor& fused_pud_pw_out(KernelRuntimeContext& ctx, const Tensor& x, const Tensor& w,
                         const Tensor& b, const Tensor& pw_w, const Tensor& pw_b, bool relu,
                         Tensor& out) {
  return run_fused_pud_pw(ctx, "hpun::fused_pud_pw", x, w, b, &pw_w, pw_b, nullptr, relu, nullptr,
                          out);
}

}  // namespace
}  // namespace et
}  // namespace hpun

EXECUTORCH_LIBRARY(hpun, "fused_pud_pw.out", hpun::et::fused_pud_pw_out);
