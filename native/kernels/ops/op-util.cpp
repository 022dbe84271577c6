// Input checks shared by the ExecuTorch op registrations (op-util.h).
#include "op-util.h"

#include <executorch/runtime/core/exec_aten/util/dim_order_util.h>
#include <executorch/runtime/core/exec_aten/util/tensor_util.h>

namespace hpun {
namespace et {

using executorch::runtime::Error;

bool is_nchw_contiguous(const Tensor& t) {
  return executorch::runtime::is_contiguous_dim_order(t.dim_order().data(), t.dim());
}

bool is_channels_last(const Tensor& t) {
  return t.dim() == 4 &&
         executorch::runtime::is_channels_last_dim_order(t.dim_order().data(), t.dim());
}

bool nhwc_float_like(const Tensor& t, const Tensor& like) {
  return t.scalar_type() == ScalarType::Float && t.dim() == 4 && t.sizes() == like.sizes() &&
         is_channels_last(t) && (t.numel() == t.size(1) || !is_nchw_contiguous(t));
}

bool depthwise_weights(const Tensor& w, const Tensor& b, int64_t c, int64_t k) {
  return w.scalar_type() == ScalarType::Float && w.dim() == 4 && w.size(0) == c && w.size(1) == 1 &&
         w.size(2) == k && w.size(3) == k && is_nchw_contiguous(w) &&
         b.scalar_type() == ScalarType::Float && b.dim() == 1 && b.size(0) == c;
}

bool grouped_weights(const Tensor& w, const Tensor& b, int64_t c) {
  return w.scalar_type() == ScalarType::Float && w.dim() == 4 && w.size(0) == c && w.size(1) == 4 &&
         w.size(2) == 3 && w.size(3) == 3 && is_nchw_contiguous(w) &&
         b.scalar_type() == ScalarType::Float && b.dim() == 1 && b.size(0) == c &&
         is_nchw_contiguous(b);
}

bool pointwise_weights(const Tensor& w, const Tensor& b, int64_t c) {
  return w.scalar_type() == ScalarType::Float && w.dim() == 4 && w.size(0) == c && w.size(1) == c &&
         w.size(2) == 1 && w.size(3) == 1 && is_nchw_contiguous(w) &&
         b.scalar_type() == ScalarType::Float && b.dim() == 1 && b.size(0) == c &&
         is_nchw_contiguous(b);
}

bool check_nhwc_io(KernelRuntimeContext& ctx, const char* op, const Tensor& x, Tensor& out,
                   const Tensor* other) {
  ET_KERNEL_CHECK_MSG(ctx, x.dim() == 4 && nhwc_float_like(x, x), InvalidArgument, false,
                      "%s: x must be a channels-last 4-D float32 tensor", op);
  ET_KERNEL_CHECK(ctx, executorch::runtime::resize_tensor(out, x.sizes()) == Error::Ok,
                  InvalidArgument, false);
  ET_KERNEL_CHECK_MSG(ctx, nhwc_float_like(out, x), InvalidArgument, false,
                      "%s: out must be channels-last float32", op);
  const float* op_data = out.const_data_ptr<float>();
  ET_KERNEL_CHECK_MSG(
      ctx,
      op_data != x.const_data_ptr<float>() && (!other || op_data != other->const_data_ptr<float>()),
      InvalidArgument, false, "%s: out aliases an input", op);
  return true;
}

bool check_pud_io(KernelRuntimeContext& ctx, const char* op, const Tensor& x, const Tensor& w,
                  const Tensor& b, Tensor& out) {
  if (!check_nhwc_io(ctx, op, x, out, nullptr)) return false;
  ET_KERNEL_CHECK_MSG(ctx, x.size(2) % 2 == 0 && x.size(3) % 2 == 0, InvalidArgument, false,
                      "%s: H and W must be even", op);
  ET_KERNEL_CHECK_MSG(ctx, grouped_weights(w, b, x.size(1)), InvalidArgument, false,
                      "%s: w must be float32 (C, 4, 3, 3), b (C)", op);
  return true;
}

bool check_fused_pud_io(KernelRuntimeContext& ctx, const Tensor& x, const Tensor& w,
                        const Tensor& b, Tensor& out, bool* nhwc) {
  ET_KERNEL_CHECK_MSG(ctx, x.dim() == 4 && x.scalar_type() == ScalarType::Float, InvalidArgument,
                      false, "hpun::fused_pud: x must be a 4-D float32 tensor");
  const int64_t c = x.size(1), h = x.size(2), wd = x.size(3);
  ET_KERNEL_CHECK_MSG(ctx, h > 0 && wd > 0 && h % 2 == 0 && wd % 2 == 0, InvalidArgument, false,
                      "hpun::fused_pud: H and W must be even and positive");
  ET_KERNEL_CHECK_MSG(ctx,
                      w.scalar_type() == ScalarType::Float && w.dim() == 4 && w.size(0) == c &&
                          w.size(1) == 4 && w.size(2) == 3 && w.size(3) == 3,
                      InvalidArgument, false, "hpun::fused_pud: w must be float32 (C, 4, 3, 3)");
  ET_KERNEL_CHECK_MSG(ctx, b.scalar_type() == ScalarType::Float && b.dim() == 1 && b.size(0) == c,
                      InvalidArgument, false, "hpun::fused_pud: b must be float32 (C)");
  // x and out: both contiguous NCHW, or both channels-last (NHWC); w and b contiguous.
  *nhwc = is_channels_last(x) && !is_nchw_contiguous(x);
  ET_KERNEL_CHECK_MSG(
      ctx,
      (*nhwc ? is_channels_last(out) : (is_nchw_contiguous(x) && is_nchw_contiguous(out))) &&
          is_nchw_contiguous(w) && is_nchw_contiguous(b),
      InvalidArgument, false, "hpun::fused_pud: x and out must both be NCHW or both channels-last");
  ET_KERNEL_CHECK_MSG(ctx, out.scalar_type() == ScalarType::Float, InvalidArgument, false,
                      "hpun::fused_pud: out must be float32");
  ET_KERNEL_CHECK(ctx, executorch::runtime::resize_tensor(out, x.sizes()) == Error::Ok,
                  InvalidArgument, false);
  ET_KERNEL_CHECK_MSG(ctx, x.const_data_ptr<float>() != out.const_data_ptr<float>(),
                      InvalidArgument, false, "hpun::fused_pud: out aliases x");
  return true;
}

bool q8_params(KernelRuntimeContext& ctx, const char* name, const Tensor& qw, const Tensor& w_scale,
               const Tensor& b, double in_scale, int64_t in_zp, int64_t c) {
  ET_KERNEL_CHECK_MSG(ctx,
                      qw.scalar_type() == ScalarType::Char && qw.dim() == 4 && qw.size(0) == c &&
                          qw.size(1) == c && qw.size(2) == 1 && qw.size(3) == 1 &&
                          is_nchw_contiguous(qw) && w_scale.scalar_type() == ScalarType::Float &&
                          w_scale.dim() == 1 && w_scale.size(0) == c &&
                          b.scalar_type() == ScalarType::Float && b.dim() == 1 && b.size(0) == c,
                      InvalidArgument, false,
                      "%s: qw must be int8 (C, C, 1, 1), its w_scale and bias float32 (C)", name);
  ET_KERNEL_CHECK_MSG(ctx, in_scale > 0 && in_scale < 1e30 && in_zp >= -128 && in_zp <= 127,
                      InvalidArgument, false,
                      "%s: in_scale must be positive and finite, in_zp in [-128, 127]", name);
  return true;
}

PointwiseQ8 q8_prepare(const Tensor& qw, const Tensor& w_scale, const Tensor& b, double in_scale,
                       int64_t in_zp) {
  return pw_q8_prepare(qw.const_data_ptr<int8_t>(), w_scale.const_data_ptr<float>(),
                       b.const_data_ptr<float>(), in_scale, in_zp, qw.size(0));
}

}  // namespace et
}  // namespace hpun
