// ExecuTorch registration of the fused PUD kernel as `hpun::fused_pud.out`.
//
// Schema (converters/custom_ops.py defines the same one with torch.library for export):
//   hpun::fused_pud.out(Tensor x, Tensor w, Tensor b, *, Tensor(a!) out) -> Tensor(a!)
// x: (N, C, H, W) float32, contiguous NCHW or channels-last (dim order 0,2,3,1; out then has the
// same dim order), H and W even; w: (C, 4, 3, 3); b: (C); out resized to
// x's shape. The registration runs from a static initializer, so a binary must keep this object
// file (link the static library whole-archive, or use the shared module).
#include <executorch/extension/kernel_util/make_boxed_from_unboxed_functor.h>
#include <executorch/runtime/core/exec_aten/util/dim_order_util.h>
#include <executorch/runtime/core/exec_aten/util/tensor_util.h>
#include <executorch/runtime/kernel/kernel_includes.h>
#include <executorch/runtime/kernel/thread_parallel_interface.h>

#include <algorithm>
#include <vector>

#include "fused_pud.h"

namespace hpun {
namespace kernels {
namespace et {

using executorch::aten::ScalarType;
using executorch::aten::Tensor;
using executorch::runtime::Error;
using executorch::runtime::KernelRuntimeContext;

namespace {
bool is_nchw_contiguous(const Tensor& t) {
  return executorch::runtime::is_contiguous_dim_order(t.dim_order().data(), t.dim());
}
bool is_channels_last(const Tensor& t) {
  return t.dim() == 4 &&
         executorch::runtime::is_channels_last_dim_order(t.dim_order().data(), t.dim());
}
}  // namespace

Tensor& fused_pud_out(KernelRuntimeContext& ctx, const Tensor& x, const Tensor& w, const Tensor& b,
                      Tensor& out) {
  ET_KERNEL_CHECK_MSG(ctx, x.dim() == 4 && x.scalar_type() == ScalarType::Float, InvalidArgument,
                      out, "hpun::fused_pud: x must be a 4-D float32 tensor");
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
  ET_KERNEL_CHECK_MSG(ctx, h > 0 && wd > 0 && h % 2 == 0 && wd % 2 == 0, InvalidArgument, out,
                      "hpun::fused_pud: H and W must be even and positive");
  ET_KERNEL_CHECK_MSG(ctx,
                      w.scalar_type() == ScalarType::Float && w.dim() == 4 && w.size(0) == c &&
                          w.size(1) == 4 && w.size(2) == 3 && w.size(3) == 3,
                      InvalidArgument, out, "hpun::fused_pud: w must be float32 (C, 4, 3, 3)");
  ET_KERNEL_CHECK_MSG(ctx, b.scalar_type() == ScalarType::Float && b.dim() == 1 && b.size(0) == c,
                      InvalidArgument, out, "hpun::fused_pud: b must be float32 (C)");
  // x and out: both contiguous NCHW, or both channels-last (NHWC); w and b contiguous.
  const bool nhwc = is_channels_last(x) && !is_nchw_contiguous(x);
  ET_KERNEL_CHECK_MSG(ctx,
                      (nhwc ? is_channels_last(out) : (is_nchw_contiguous(x) &&
                                                       is_nchw_contiguous(out))) &&
                          is_nchw_contiguous(w) && is_nchw_contiguous(b),
                      InvalidArgument, out,
                      "hpun::fused_pud: x and out must both be NCHW or both channels-last");
  ET_KERNEL_CHECK_MSG(ctx, out.scalar_type() == ScalarType::Float, InvalidArgument, out,
                      "hpun::fused_pud: out must be float32");
  ET_KERNEL_CHECK(ctx, executorch::runtime::resize_tensor(out, x.sizes()) == Error::Ok,
                  InvalidArgument, out);
  const float* xp = x.const_data_ptr<float>();
  float* op = out.mutable_data_ptr<float>();
  ET_KERNEL_CHECK_MSG(ctx, xp != op, InvalidArgument, out, "hpun::fused_pud: out aliases x");
  const float* wp = w.const_data_ptr<float>();
  const float* bp = b.const_data_ptr<float>();
  // parallel_for runs on ExecuTorch's shared thread pool (the one the XNNPACK delegate uses) when
  // the runtime was built with it, serially otherwise.
  if (nhwc) {
    // Work item: a band of half-resolution rows of one image (all channels, vectorised over C).
    const int64_t hh = h / 2;
    const int64_t threads = std::max<int64_t>(1, executorch::extension::get_thread_count());
    int64_t bands = std::min<int64_t>(hh, threads * (hh >= 64 * threads ? 2 : 1));
    const int64_t band = (hh + bands - 1) / bands;
    bands = (hh + band - 1) / band;
    std::vector<float> kt(36 * c);
    fused_pud_nhwc_transpose_weights(wp, c, kt.data());
    const int64_t image = h * wd * c;
    const bool ok = executorch::extension::parallel_for(
        0, n * bands, 1, [&](int64_t begin, int64_t end) {
          std::vector<float> scratch(fused_pud_nhwc_scratch_floats(wd, c));
          for (int64_t item = begin; item < end; ++item) {
            const int64_t img = item / bands, r0 = (item % bands) * band;
            fused_pud_nhwc_band(xp + img * image, kt.data(), bp, op + img * image, c, h, wd, r0,
                                std::min(hh, r0 + band), scratch.data());
          }
        });
    ET_KERNEL_CHECK(ctx, ok, Internal, out);
    return out;
  }
  // NCHW: one plane per work item.
  const bool ok = executorch::extension::parallel_for(
      0, n * c, 1, [&](int64_t begin, int64_t end) {
        fused_pud_planes(xp, wp, bp, op, c, h, wd, begin, end);
      });
  ET_KERNEL_CHECK(ctx, ok, Internal, out);
  return out;
}

}  // namespace et
}  // namespace kernels
}  // namespace hpun

EXECUTORCH_LIBRARY(hpun, "fused_pud.out", hpun::kernels::et::fused_pud_out);
