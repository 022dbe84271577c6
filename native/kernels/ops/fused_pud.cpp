// hpun::fused_pud.out(Tensor x, Tensor w, Tensor b, *, Tensor(a!) out) -> Tensor(a!)
//
// The PUD front part (hpun/fused-pud.h): x (N, C, H, W) float32, H and W even, contiguous NCHW or
// channels-last (dim order 0,2,3,1; out then has the same dim order); w (C, 4, 3, 3), b (C); out
// resized to x's shape. NCHW: planes on the thread pool; NHWC: bands of half rows.
#include <executorch/extension/kernel_util/make_boxed_from_unboxed_functor.h>

#include <vector>

#include "hpun/fused-pud.h"
#include "op-util.h"

namespace hpun {
namespace et {
namespace {

Tensor& fused_pud_out(KernelRuntimeContext& ctx, const Tensor& x, const Tensor& w, const Tensor& b,
                      Tensor& out) {
  bool nhwc = false;
  if (!check_fused_pud_io(ctx, x, w, b, out, &nhwc)) return out;
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
  const float* xp = x.const_data_ptr<float>();
  float* op = out.mutable_data_ptr<float>();
  const float* wp = w.const_data_ptr<float>();
  const float* bp = b.const_data_ptr<float>();
  if (nhwc) {
    std::vector<float> kt(36 * c);
    fused_pud_nhwc_transpose_weights(wp, c, kt.data());
    const int64_t image = h * wd * c;
    const bool ok = parallel_rows(n, h / 2, [&](int64_t img, int64_t r0, int64_t r1) {
      std::vector<float> scratch(fused_pud_nhwc_scratch_floats(wd, c));
      fused_pud_nhwc_band(xp + img * image, kt.data(), bp, op + img * image, c, h, wd, r0, r1,
                          scratch.data());
    });
    ET_KERNEL_CHECK(ctx, ok, Internal, out);
    return out;
  }
  const bool ok = executorch::extension::parallel_for(0, n * c, 1, [&](int64_t begin, int64_t end) {
    fused_pud_planes(xp, wp, bp, op, c, h, wd, begin, end);
  });
  ET_KERNEL_CHECK(ctx, ok, Internal, out);
  return out;
}

}  // namespace
}  // namespace et
}  // namespace hpun

EXECUTORCH_LIBRARY(hpun, "fused_pud.out", hpun::et::fused_pud_out);
