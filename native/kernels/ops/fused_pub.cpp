// hpun::fused_pub.out(Tensor x, Tensor w, Tensor b, Tensor pw_w, Tensor pw_b, Tensor dw_w,
//                     Tensor dw_b, Tensor pw2_w, Tensor pw2_b, *, Tensor(a!) out) -> Tensor(a!)
//
// A whole PUB with a folded SRDSC(5) (hpun/fused-pub.h):
// x + conv1x1(dwconv5(relu(conv1x1(fused_pud(x, w, b), pw_w, pw_b)), dw_w, dw_b), pw2_w, pw2_b);
// dw_w (C, 1, 5, 5); channels-last x and out only. One band of rows a thread (each band recomputes
// a halo). run_pub is shared with the int8 form (fused_pub_q8.cpp).
#include <executorch/extension/kernel_util/make_boxed_from_unboxed_functor.h>

#include <vector>

#include "hpun/conv1x1.h"
#include "hpun/dw-pw.h"
#include "hpun/fused-pub.h"
#include "hpun/fused-pud.h"
#include "op-util.h"

namespace hpun {
namespace et {

Tensor& run_pub(KernelRuntimeContext& ctx, const char* name, const Tensor& x, const Tensor& w,
                const Tensor& b, const Tensor* pw_w, const Tensor& pw_b, const Tensor& dw_w,
                const Tensor& dw_b, const Tensor* pw2_w, const Tensor& pw2_b,
                const PointwiseQ8* pw_q8, const PointwiseQ8* pw2_q8, Tensor& out) {
  if (!check_pud_io(ctx, name, x, w, b, out)) return out;
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
  ET_KERNEL_CHECK_MSG(ctx, depthwise_weights(dw_w, dw_b, c, 5), InvalidArgument, out,
                      "%s: dw_w must be float32 (C, 1, 5, 5), dw_b (C)", name);
  ET_KERNEL_CHECK_MSG(
      ctx,
      (pw_q8 || pointwise_weights(*pw_w, pw_b, c)) &&
          (pw2_q8 || pointwise_weights(*pw2_w, pw2_b, c)),
      InvalidArgument, out, "%s: pw_w and pw2_w must be float32 (C, C, 1, 1), pw_b and pw2_b (C)",
      name);
  const float* xp = x.const_data_ptr<float>();
  float* op = out.mutable_data_ptr<float>();
  std::vector<float> kt(36 * c), pwt(pw_q8 ? 0 : c * c), dwt(25 * c), pw2t(pw2_q8 ? 0 : c * c);
  fused_pud_nhwc_transpose_weights(w.const_data_ptr<float>(), c, kt.data());
  if (!pw_q8) conv1x1_transpose_weights(pw_w->const_data_ptr<float>(), c, pwt.data());
  dw_transpose_weights(dw_w.const_data_ptr<float>(), c, 5, dwt.data());
  if (!pw2_q8) conv1x1_transpose_weights(pw2_w->const_data_ptr<float>(), c, pw2t.data());
  const int64_t image = h * wd * c;
  const bool ok = parallel_rows(
      n, h / 2,
      [&](int64_t img, int64_t r0, int64_t r1) {
        std::vector<float> scratch(fused_pub_nhwc_scratch_floats(wd, c));
        fused_pub_nhwc_band(xp + img * image, kt.data(), b.const_data_ptr<float>(), pwt.data(),
                            pw_b.const_data_ptr<float>(), dwt.data(), dw_b.const_data_ptr<float>(),
                            pw2t.data(), pw2_b.const_data_ptr<float>(), op + img * image, c, h, wd,
                            r0, r1, scratch.data(), pw2_q8, pw_q8);
      },
      /*one_band_per_thread=*/true);
  ET_KERNEL_CHECK(ctx, ok, Internal, out);
  return out;
}

namespace {

Tensor& fused_pub_out(KernelRuntimeContext& ctx, const Tensor& x, const Tensor& w, const Tensor& b,
                      const Tensor& pw_w, const Tensor& pw_b, const Tensor& dw_w,
                      const Tensor& dw_b, const Tensor& pw2_w, const Tensor& pw2_b, Tensor& out) {
  return run_pub(ctx, "hpun::fused_pub", x, w, b, &pw_w, pw_b, dw_w, dw_b, &pw2_w, pw2_b, nullptr,
                 nullptr, out);
}

}  // namespace
}  // namespace et
}  // namespace hpun

EXECUTORCH_LIBRARY(hpun, "fused_pub.out", hpun::et::fused_pub_out);
