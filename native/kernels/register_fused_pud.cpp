// ExecuTorch registration of the fused PUD kernels as `hpun::fused_pud.out`, `hpun::fused_pud_pw.out`
// and `hpun::fused_pud_pw_add.out`.
//
// Schemas (converters/custom_ops.py defines the same ones with torch.library for export):
//   hpun::fused_pud.out(Tensor x, Tensor w, Tensor b, *, Tensor(a!) out) -> Tensor(a!)
//   hpun::fused_pud_pw.out(Tensor x, Tensor w, Tensor b, Tensor pw_w, Tensor pw_b, bool relu, *,
//                          Tensor(a!) out) -> Tensor(a!)
//   hpun::fused_pud_pw_add.out(Tensor x, Tensor w, Tensor b, Tensor pw_w, Tensor pw_b,
//                              Tensor residual, *, Tensor(a!) out) -> Tensor(a!)
//   hpun::dw_pw_add.out(Tensor x, Tensor dw_w, Tensor dw_b, Tensor pw_w, Tensor pw_b,
//                       Tensor residual, *, Tensor(a!) out) -> Tensor(a!)
//   hpun::pw_relu.out(Tensor x, Tensor pw_w, Tensor pw_b, *, Tensor(a!) out) -> Tensor(a!)
//   hpun::pw_relu_pud_pw_add.out(Tensor x, Tensor x_w, Tensor x_b, Tensor w, Tensor b, Tensor pw_w,
//                                Tensor pw_b, *, Tensor(a!) out) -> Tensor(a!)
//   hpun::fused_pub.out(Tensor x, Tensor w, Tensor b, Tensor pw_w, Tensor pw_b, Tensor dw_w,
//                       Tensor dw_b, Tensor pw2_w, Tensor pw2_b, *, Tensor(a!) out) -> Tensor(a!)
// The _pw ops add the PUD's 1x1 conv (pw_w (C, C, 1, 1), pw_b (C)) and the block's epilogue
// (relu, or + residual); dw_pw_add is residual + conv1x1(depthwise k x k conv(x)) (dw_w (C, 1, k, k),
// k odd, zero padding k/2), pw_relu is relu(conv1x1(x)), pw_relu_pud_pw_add is HPUN-S's whole front
// block, x + conv1x1(fused_pud(relu(conv1x1(x, x_w, x_b)), w, b), pw_w, pw_b), and fused_pub a
// whole PUB with a folded SRDSC(5), x + conv1x1(dwconv5(relu(conv1x1(fused_pud(x, w, b), pw_w,
// pw_b)), dw_w, dw_b), pw2_w, pw2_b) (dw_w (C, 1, 5, 5)). All but fused_pud take channels-last
// tensors only.
//   hpun::pw_q8.out(Tensor x, Tensor qw, Tensor w_scale, Tensor b, float in_scale, int in_zp,
//                   bool relu, *, Tensor(a!) out) -> Tensor(a!)
// is the int8 1x1 conv of pw_q8.h: x quantized per tensor (in_scale, in_zp), qw int8 (C, C, 1, 1)
// with per-output-channel scales w_scale (C, float32), b (C, float32); float32 channels-last out.
//   hpun::pw_relu_pud_pw_add_q8.out(Tensor x, Tensor x_qw, Tensor x_ws, Tensor x_b, float x_scale,
//                                   int x_zp, Tensor w, Tensor b, Tensor pw_w, Tensor pw_b, *,
//                                   Tensor(a!) out) -> Tensor(a!)
//   hpun::fused_pub_q8.out(Tensor x, Tensor w, Tensor b, Tensor pw_w, Tensor pw_b, Tensor dw_w,
//                          Tensor dw_b, Tensor pw2_qw, Tensor pw2_ws, Tensor pw2_b, float pw2_scale,
//                          int pw2_zp, *, Tensor(a!) out) -> Tensor(a!)
// are pw_relu_pud_pw_add and fused_pub with their first (front) / last (PUB) 1x1 conv that int8
// conv (the int8-fused HPUN, converters/int8_ops.py).
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
#include "pw_q8.h"

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
bool nhwc_float_like(const Tensor& t, const Tensor& like) {
  return t.scalar_type() == ScalarType::Float && t.dim() == 4 && t.sizes() == like.sizes() &&
         is_channels_last(t) && (t.numel() == t.size(1) || !is_nchw_contiguous(t));
}
// A depthwise k x k conv: dw_w (C, 1, k, k), dw_b (C), float32, contiguous.
bool depthwise_weights(const Tensor& w, const Tensor& b, int64_t c, int64_t k) {
  return w.scalar_type() == ScalarType::Float && w.dim() == 4 && w.size(0) == c &&
         w.size(1) == 1 && w.size(2) == k && w.size(3) == k && is_nchw_contiguous(w) &&
         b.scalar_type() == ScalarType::Float && b.dim() == 1 && b.size(0) == c;
}
// The PUD's grouped conv: w (C, 4, 3, 3), b (C), float32, contiguous.
bool grouped_weights(const Tensor& w, const Tensor& b, int64_t c) {
  return w.scalar_type() == ScalarType::Float && w.dim() == 4 && w.size(0) == c &&
         w.size(1) == 4 && w.size(2) == 3 && w.size(3) == 3 && is_nchw_contiguous(w) &&
         b.scalar_type() == ScalarType::Float && b.dim() == 1 && b.size(0) == c &&
         is_nchw_contiguous(b);
}
bool pointwise_weights(const Tensor& w, const Tensor& b, int64_t c) {
  return w.scalar_type() == ScalarType::Float && w.dim() == 4 && w.size(0) == c &&
         w.size(1) == c && w.size(2) == 1 && w.size(3) == 1 && is_nchw_contiguous(w) &&
         b.scalar_type() == ScalarType::Float && b.dim() == 1 && b.size(0) == c &&
         is_nchw_contiguous(b);
}
// x: a channels-last float32 4-D tensor; out resized to it, channels-last, not aliasing x or
// `other` (may be null). False (the context failed, the message logged) otherwise.
bool check_nhwc_io(KernelRuntimeContext& ctx, const char* op, const Tensor& x, Tensor& out,
                   const Tensor* other) {
  ET_KERNEL_CHECK_MSG(ctx, x.dim() == 4 && nhwc_float_like(x, x), InvalidArgument, false,
                      "%s: x must be a channels-last 4-D float32 tensor", op);
  ET_KERNEL_CHECK(ctx, executorch::runtime::resize_tensor(out, x.sizes()) == Error::Ok,
                  InvalidArgument, false);
  ET_KERNEL_CHECK_MSG(ctx, nhwc_float_like(out, x), InvalidArgument, false,
                      "%s: out must be channels-last float32", op);
  const float* op_data = out.const_data_ptr<float>();
  ET_KERNEL_CHECK_MSG(ctx,
                      op_data != x.const_data_ptr<float>() &&
                          (!other || op_data != other->const_data_ptr<float>()),
                      InvalidArgument, false, "%s: out aliases an input", op);
  return true;
}

// x and out as check_nhwc_io wants them, H and W even, and the PUD's grouped conv (w, b): the
// channels-last ops that contain a PUD.
bool check_pud_io(KernelRuntimeContext& ctx, const char* op, const Tensor& x, const Tensor& w,
                  const Tensor& b, Tensor& out) {
  if (!check_nhwc_io(ctx, op, x, out, nullptr)) return false;
  ET_KERNEL_CHECK_MSG(ctx, x.size(2) % 2 == 0 && x.size(3) % 2 == 0, InvalidArgument, false,
                      "%s: H and W must be even", op);
  ET_KERNEL_CHECK_MSG(ctx, grouped_weights(w, b, x.size(1)), InvalidArgument, false,
                      "%s: w must be float32 (C, 4, 3, 3), b (C)", op);
  return true;
}

// Row bands of all images for the thread pool: f(image, row_begin, row_end). Two bands a thread on
// tall images (the pool balances them); one where each band recomputes a halo (fused_pub).
template <typename F>
bool parallel_rows(int64_t n, int64_t h, F f, bool one_band_per_thread = false) {
  const int64_t threads = std::max<int64_t>(1, executorch::extension::get_thread_count());
  int64_t bands =
      std::min<int64_t>(h, threads * (h >= 64 * threads && !one_band_per_thread ? 2 : 1));
  const int64_t band = (h + bands - 1) / bands;
  bands = (h + band - 1) / band;
  return executorch::extension::parallel_for(0, n * bands, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t r0 = (item % bands) * band;
      f(item / bands, r0, std::min(h, r0 + band));
    }
  });
}
}  // namespace

// pw_w null: hpun::fused_pud. Otherwise the 1x1 conv and its epilogue (relu, residual may be null).
Tensor& run_fused_pud(KernelRuntimeContext& ctx, const Tensor& x, const Tensor& w, const Tensor& b,
                      const Tensor* pw_w, const Tensor* pw_b, const Tensor* residual, bool relu,
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
  PointwiseEpilogue pw;
  std::vector<float> pwt;
  if (pw_w) {
    ET_KERNEL_CHECK_MSG(ctx, nhwc, InvalidArgument, out,
                        "hpun::fused_pud_pw: x must be channels-last (export through ChannelsLastIO)");
    ET_KERNEL_CHECK_MSG(ctx, pointwise_weights(*pw_w, *pw_b, c), InvalidArgument, out,
                        "hpun::fused_pud_pw: pw_w must be float32 (C, C, 1, 1), pw_b (C)");
    if (residual) {
      ET_KERNEL_CHECK_MSG(ctx, nhwc_float_like(*residual, x), InvalidArgument, out,
                          "hpun::fused_pud_pw_add: residual must be a channels-last float32 tensor of x's shape");
      ET_KERNEL_CHECK_MSG(ctx, residual->const_data_ptr<float>() != op, InvalidArgument, out,
                          "hpun::fused_pud_pw_add: out aliases residual");
      pw.residual = residual->const_data_ptr<float>();
    }
    pwt.resize(c * c);
    fused_pud_pw_transpose_weights(pw_w->const_data_ptr<float>(), c, pwt.data());
    pw.pwt = pwt.data();
    pw.pwb = pw_b->const_data_ptr<float>();
    pw.relu = relu;
  }
  // parallel_for runs on ExecuTorch's shared thread pool (the one the XNNPACK delegate uses) when
  // the runtime was built with it, serially otherwise.
  if (nhwc) {
    // Work item: a band of half-resolution rows of one image (all channels, vectorised over C).
    std::vector<float> kt(36 * c);
    fused_pud_nhwc_transpose_weights(wp, c, kt.data());
    const int64_t image = h * wd * c;
    const bool ok = parallel_rows(n, h / 2, [&](int64_t img, int64_t r0, int64_t r1) {
      std::vector<float> scratch(pw.pwt ? fused_pud_pw_nhwc_scratch_floats(wd, c)
                                        : fused_pud_nhwc_scratch_floats(wd, c));
      if (pw.pwt) {
        PointwiseEpilogue mine = pw;
        if (mine.residual) mine.residual += img * image;
        fused_pud_pw_nhwc_band(xp + img * image, kt.data(), bp, mine, op + img * image, c, h, wd,
                               r0, r1, scratch.data());
      } else {
        fused_pud_nhwc_band(xp + img * image, kt.data(), bp, op + img * image, c, h, wd, r0, r1,
                            scratch.data());
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

Tensor& fused_pud_out(KernelRuntimeContext& ctx, const Tensor& x, const Tensor& w, const Tensor& b,
                      Tensor& out) {
  return run_fused_pud(ctx, x, w, b, nullptr, nullptr, nullptr, false, out);
}

Tensor& fused_pud_pw_out(KernelRuntimeContext& ctx, const Tensor& x, const Tensor& w,
                         const Tensor& b, const Tensor& pw_w, const Tensor& pw_b, bool relu,
                         Tensor& out) {
  return run_fused_pud(ctx, x, w, b, &pw_w, &pw_b, nullptr, relu, out);
}

Tensor& fused_pud_pw_add_out(KernelRuntimeContext& ctx, const Tensor& x, const Tensor& w,
                             const Tensor& b, const Tensor& pw_w, const Tensor& pw_b,
                             const Tensor& residual, Tensor& out) {
  return run_fused_pud(ctx, x, w, b, &pw_w, &pw_b, &residual, false, out);
}


Tensor& dw_pw_add_out(KernelRuntimeContext& ctx, const Tensor& x, const Tensor& dw_w,
                      const Tensor& dw_b, const Tensor& pw_w, const Tensor& pw_b,
                      const Tensor& residual, Tensor& out) {
  if (!check_nhwc_io(ctx, "hpun::dw_pw_add", x, out, &residual)) return out;
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
  ET_KERNEL_CHECK_MSG(ctx, nhwc_float_like(residual, x), InvalidArgument, out,
                      "hpun::dw_pw_add: residual must be channels-last float32 of x's shape");
  const int64_t k = dw_w.dim() == 4 ? dw_w.size(2) : 0;
  ET_KERNEL_CHECK_MSG(ctx, k % 2 == 1 && k <= kMaxDepthwiseK && depthwise_weights(dw_w, dw_b, c, k),
                      InvalidArgument, out,
                      "hpun::dw_pw_add: dw_w must be float32 (C, 1, k, k) with k odd and at most 15, dw_b (C)");
  ET_KERNEL_CHECK_MSG(ctx, pointwise_weights(pw_w, pw_b, c), InvalidArgument, out,
                      "hpun::dw_pw_add: pw_w must be float32 (C, C, 1, 1), pw_b (C)");
  const float* xp = x.const_data_ptr<float>();
  const float* rp = residual.const_data_ptr<float>();
  float* op = out.mutable_data_ptr<float>();
  std::vector<float> dwt(k * k * c), pwt(c * c);
  dw_transpose_weights(dw_w.const_data_ptr<float>(), c, k, dwt.data());
  fused_pud_pw_transpose_weights(pw_w.const_data_ptr<float>(), c, pwt.data());
  const int64_t image = h * wd * c;
  const bool ok = parallel_rows(n, h, [&](int64_t img, int64_t r0, int64_t r1) {
    std::vector<float> row(2 * wd * c);
    PointwiseEpilogue pw;
    pw.pwt = pwt.data();
    pw.pwb = pw_b.const_data_ptr<float>();
    pw.residual = rp + img * image;
    dw_pw_nhwc_rows(xp + img * image, dwt.data(), dw_b.const_data_ptr<float>(), k, pw,
                    op + img * image, c, h, wd, r0, r1, row.data());
  });
  ET_KERNEL_CHECK(ctx, ok, Internal, out);
  return out;
}

Tensor& pw_relu_out(KernelRuntimeContext& ctx, const Tensor& x, const Tensor& pw_w,
                    const Tensor& pw_b, Tensor& out) {
  if (!check_nhwc_io(ctx, "hpun::pw_relu", x, out, nullptr)) return out;
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
  ET_KERNEL_CHECK_MSG(ctx, pointwise_weights(pw_w, pw_b, c), InvalidArgument, out,
                      "hpun::pw_relu: pw_w must be float32 (C, C, 1, 1), pw_b (C)");
  const float* xp = x.const_data_ptr<float>();
  float* op = out.mutable_data_ptr<float>();
  std::vector<float> pwt(c * c);
  fused_pud_pw_transpose_weights(pw_w.const_data_ptr<float>(), c, pwt.data());
  PointwiseEpilogue pw;
  pw.pwt = pwt.data();
  pw.pwb = pw_b.const_data_ptr<float>();
  pw.relu = true;
  const int64_t image = h * wd * c;
  const bool ok = parallel_rows(n, h, [&](int64_t img, int64_t r0, int64_t r1) {
    conv1x1_nhwc_rows(xp + img * image, pw, op + img * image, c, h, wd, r0, r1);
  });
  ET_KERNEL_CHECK(ctx, ok, Internal, out);
  return out;
}

// The HPUN-S front block; x_q8 (the int8 form): its first 1x1 conv is that int8 conv (x_w unused).
Tensor& run_front(KernelRuntimeContext& ctx, const char* name, const Tensor& x, const Tensor* x_w,
                  const Tensor& x_b, const Tensor& w, const Tensor& b, const Tensor& pw_w,
                  const Tensor& pw_b, const PointwiseQ8* x_q8, Tensor& out) {
  if (!check_pud_io(ctx, name, x, w, b, out)) return out;
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
  ET_KERNEL_CHECK_MSG(ctx, (x_q8 || pointwise_weights(*x_w, x_b, c)) && pointwise_weights(pw_w, pw_b, c),
                      InvalidArgument, out,
                      "%s: x_w and pw_w must be float32 (C, C, 1, 1), x_b and pw_b (C)", name);
  const float* xp = x.const_data_ptr<float>();
  float* op = out.mutable_data_ptr<float>();
  std::vector<float> kt(36 * c), pwt(c * c), xt(x_q8 ? 0 : c * c);
  fused_pud_nhwc_transpose_weights(w.const_data_ptr<float>(), c, kt.data());
  fused_pud_pw_transpose_weights(pw_w.const_data_ptr<float>(), c, pwt.data());
  if (!x_q8) fused_pud_pw_transpose_weights(x_w->const_data_ptr<float>(), c, xt.data());
  const int64_t image = h * wd * c;
  const bool ok = parallel_rows(n, h / 2, [&](int64_t img, int64_t r0, int64_t r1) {
    std::vector<float> scratch(pw_relu_pud_pw_add_nhwc_scratch_floats(wd, c));
    pw_relu_pud_pw_add_nhwc_band(xp + img * image, xt.data(), x_b.const_data_ptr<float>(),
                                 kt.data(), b.const_data_ptr<float>(), pwt.data(),
                                 pw_b.const_data_ptr<float>(), op + img * image, c, h, wd, r0, r1,
                                 scratch.data(), x_q8);
  });
  ET_KERNEL_CHECK(ctx, ok, Internal, out);
  return out;
}

Tensor& pw_relu_pud_pw_add_out(KernelRuntimeContext& ctx, const Tensor& x, const Tensor& x_w,
                               const Tensor& x_b, const Tensor& w, const Tensor& b,
                               const Tensor& pw_w, const Tensor& pw_b, Tensor& out) {
  return run_front(ctx, "hpun::pw_relu_pud_pw_add", x, &x_w, x_b, w, b, pw_w, pw_b, nullptr, out);
}

// A PUB with a folded SRDSC(5); pw2_q8 (the int8 form): its last 1x1 conv is that int8 conv.
Tensor& run_pub(KernelRuntimeContext& ctx, const char* name, const Tensor& x, const Tensor& w,
                const Tensor& b, const Tensor& pw_w, const Tensor& pw_b, const Tensor& dw_w,
                const Tensor& dw_b, const Tensor* pw2_w, const Tensor& pw2_b,
                const PointwiseQ8* pw2_q8, Tensor& out) {
  if (!check_pud_io(ctx, name, x, w, b, out)) return out;
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
  ET_KERNEL_CHECK_MSG(ctx, depthwise_weights(dw_w, dw_b, c, 5), InvalidArgument, out,
                      "%s: dw_w must be float32 (C, 1, 5, 5), dw_b (C)", name);
  ET_KERNEL_CHECK_MSG(ctx, pointwise_weights(pw_w, pw_b, c) && (pw2_q8 || pointwise_weights(*pw2_w, pw2_b, c)),
                      InvalidArgument, out,
                      "%s: pw_w and pw2_w must be float32 (C, C, 1, 1), pw_b and pw2_b (C)", name);
  const float* xp = x.const_data_ptr<float>();
  float* op = out.mutable_data_ptr<float>();
  std::vector<float> kt(36 * c), pwt(c * c), dwt(25 * c), pw2t(pw2_q8 ? 0 : c * c);
  fused_pud_nhwc_transpose_weights(w.const_data_ptr<float>(), c, kt.data());
  fused_pud_pw_transpose_weights(pw_w.const_data_ptr<float>(), c, pwt.data());
  dw_transpose_weights(dw_w.const_data_ptr<float>(), c, 5, dwt.data());
  if (!pw2_q8) fused_pud_pw_transpose_weights(pw2_w->const_data_ptr<float>(), c, pw2t.data());
  const int64_t image = h * wd * c;
  const bool ok = parallel_rows(
      n, h / 2,
      [&](int64_t img, int64_t r0, int64_t r1) {
        std::vector<float> scratch(fused_pub_nhwc_scratch_floats(wd, c));
        fused_pub_nhwc_band(xp + img * image, kt.data(), b.const_data_ptr<float>(), pwt.data(),
                            pw_b.const_data_ptr<float>(), dwt.data(), dw_b.const_data_ptr<float>(),
                            pw2t.data(), pw2_b.const_data_ptr<float>(), op + img * image, c, h, wd,
                            r0, r1, scratch.data(), pw2_q8);
      },
      /*one_band_per_thread=*/true);
  ET_KERNEL_CHECK(ctx, ok, Internal, out);
  return out;
}

Tensor& fused_pub_out(KernelRuntimeContext& ctx, const Tensor& x, const Tensor& w, const Tensor& b,
                      const Tensor& pw_w, const Tensor& pw_b, const Tensor& dw_w, const Tensor& dw_b,
                      const Tensor& pw2_w, const Tensor& pw2_b, Tensor& out) {
  return run_pub(ctx, "hpun::fused_pub", x, w, b, pw_w, pw_b, dw_w, dw_b, &pw2_w, pw2_b, nullptr,
                 out);
}

// An int8 1x1 conv's weights and quantization parameters, checked: qw int8 (C, C, 1, 1), w_scale
// and b float32 (C), in_scale positive and finite, in_zp in [-128, 127]. False: the context failed.
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

Tensor& pw_q8_out(KernelRuntimeContext& ctx, const Tensor& x, const Tensor& qw,
                  const Tensor& w_scale, const Tensor& b, double in_scale, int64_t in_zp,
                  bool relu, Tensor& out) {
  if (!check_nhwc_io(ctx, "hpun::pw_q8", x, out, nullptr)) return out;
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
  if (!q8_params(ctx, "hpun::pw_q8", qw, w_scale, b, in_scale, in_zp, c)) return out;
  const PointwiseQ8 q = q8_prepare(qw, w_scale, b, in_scale, in_zp);
  const float* xp = x.const_data_ptr<float>();
  float* op = out.mutable_data_ptr<float>();
  const int64_t image = h * wd * c;
  const bool ok = parallel_rows(n, h, [&](int64_t img, int64_t r0, int64_t r1) {
    std::vector<uint8_t> scratch(pw_q8_scratch_bytes(wd, c));
    pw_q8_nhwc_rows(xp + img * image, q, nullptr, relu, op + img * image, wd, r0, r1,
                    scratch.data());
  });
  ET_KERNEL_CHECK(ctx, ok, Internal, out);
  return out;
}

Tensor& pw_relu_pud_pw_add_q8_out(KernelRuntimeContext& ctx, const Tensor& x, const Tensor& x_qw,
                                  const Tensor& x_ws, const Tensor& x_b, double x_scale,
                                  int64_t x_zp, const Tensor& w, const Tensor& b,
                                  const Tensor& pw_w, const Tensor& pw_b, Tensor& out) {
  const char* name = "hpun::pw_relu_pud_pw_add_q8";
  if (x.dim() != 4 || !q8_params(ctx, name, x_qw, x_ws, x_b, x_scale, x_zp, x.size(1))) return out;
  const PointwiseQ8 q = q8_prepare(x_qw, x_ws, x_b, x_scale, x_zp);
  return run_front(ctx, name, x, nullptr, x_b, w, b, pw_w, pw_b, &q, out);
}

Tensor& fused_pub_q8_out(KernelRuntimeContext& ctx, const Tensor& x, const Tensor& w,
                         const Tensor& b, const Tensor& pw_w, const Tensor& pw_b,
                         const Tensor& dw_w, const Tensor& dw_b, const Tensor& pw2_qw,
                         const Tensor& pw2_ws, const Tensor& pw2_b, double pw2_scale,
                         int64_t pw2_zp, Tensor& out) {
  const char* name = "hpun::fused_pub_q8";
  if (x.dim() != 4 || !q8_params(ctx, name, pw2_qw, pw2_ws, pw2_b, pw2_scale, pw2_zp, x.size(1)))
    return out;
  const PointwiseQ8 q = q8_prepare(pw2_qw, pw2_ws, pw2_b, pw2_scale, pw2_zp);
  return run_pub(ctx, name, x, w, b, pw_w, pw_b, dw_w, dw_b, nullptr, pw2_b, &q, out);
}

}  // namespace et
}  // namespace kernels
}  // namespace hpun

EXECUTORCH_LIBRARY(hpun, "fused_pud.out", hpun::kernels::et::fused_pud_out);
EXECUTORCH_LIBRARY(hpun, "fused_pud_pw.out", hpun::kernels::et::fused_pud_pw_out);
EXECUTORCH_LIBRARY(hpun, "fused_pud_pw_add.out", hpun::kernels::et::fused_pud_pw_add_out);
EXECUTORCH_LIBRARY(hpun, "dw_pw_add.out", hpun::kernels::et::dw_pw_add_out);
EXECUTORCH_LIBRARY(hpun, "pw_relu.out", hpun::kernels::et::pw_relu_out);
EXECUTORCH_LIBRARY(hpun, "pw_relu_pud_pw_add.out", hpun::kernels::et::pw_relu_pud_pw_add_out);
EXECUTORCH_LIBRARY(hpun, "fused_pub.out", hpun::kernels::et::fused_pub_out);
EXECUTORCH_LIBRARY(hpun, "pw_q8.out", hpun::kernels::et::pw_q8_out);
EXECUTORCH_LIBRARY(hpun, "pw_relu_pud_pw_add_q8.out", hpun::kernels::et::pw_relu_pud_pw_add_q8_out);
EXECUTORCH_LIBRARY(hpun, "fused_pub_q8.out", hpun::kernels::et::fused_pub_q8_out);
