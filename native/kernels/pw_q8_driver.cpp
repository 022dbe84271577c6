// Standalone test / timing driver for the int8 1x1 conv (pw_q8.h).
//
//   hpun_pw_q8_driver N C H W x.f32 qw.i8 w_scale.f32 b.f32 out.f32 --in-scale S --in-zp Z
//                     [--relu] [--residual r.f32] [--direct] [--serial] [--repeat R]
//
// x and out are raw float32 NHWC (N*H*W*C), qw raw int8 (C*C, PyTorch order [o][c]), w_scale and
// b C floats. By default it calls `hpun::pw_q8.out` from ExecuTorch's operator registry through the
// boxed EValue interface, as a loaded .pte would, on ExecuTorch's thread pool (--serial: one
// thread); --direct calls the plain C++ entry point (serial), the only path that takes
// --residual. Built with -DHPUN_Q8_PLAIN (no ExecuTorch: cross-compiled checks under qemu) it runs
// the direct path only. --repeat R: R timed runs after the first; prints min and median ms.
#ifndef HPUN_Q8_PLAIN
#include <executorch/extension/threadpool/threadpool_guard.h>
#include <executorch/runtime/core/evalue.h>
#include <executorch/runtime/core/span.h>
#include <executorch/runtime/kernel/kernel_runtime_context.h>
#include <executorch/runtime/kernel/operator_registry.h>
#include <executorch/runtime/kernel/thread_parallel_interface.h>
#include <executorch/runtime/platform/runtime.h>
#endif

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "driver_util.h"
#include "pw_q8.h"

using hpun::driver::read_raw;

int main(int argc, char** argv) {
  if (argc < 10) {
    std::fprintf(stderr,
                 "usage: %s N C H W x.f32 qw.i8 w_scale.f32 b.f32 out.f32 --in-scale S --in-zp Z "
                 "[--relu] [--residual r.f32] [--direct] [--serial] [--repeat R]\n",
                 argv[0]);
    return 2;
  }
  const int64_t n = std::atoll(argv[1]), c = std::atoll(argv[2]), h = std::atoll(argv[3]),
                w = std::atoll(argv[4]);
  double in_scale = 0;
  int64_t in_zp = 0;
  bool have_scale = false, relu = false, direct = false, serial = false;
  int repeat = 0;
  const char* res_path = nullptr;
  for (int i = 10; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--in-scale") && i + 1 < argc) {
      in_scale = std::atof(argv[++i]);
      have_scale = true;
    } else if (!std::strcmp(argv[i], "--in-zp") && i + 1 < argc) in_zp = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--relu")) relu = true;
    else if (!std::strcmp(argv[i], "--residual") && i + 1 < argc) res_path = argv[++i];
    else if (!std::strcmp(argv[i], "--direct")) direct = true;
    else if (!std::strcmp(argv[i], "--serial")) serial = true;
    else if (!std::strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "unknown argument %s\n", argv[i]);
      return 2;
    }
  }
#ifdef HPUN_Q8_PLAIN
  direct = true;
#endif
  if (!have_scale || n <= 0 || c <= 0 || h <= 0 || w <= 0 || (res_path && !direct)) {
    std::fprintf(stderr, "need positive N C H W and --in-scale; --residual needs --direct\n");
    return 2;
  }
  const size_t count = size_t(n * h * w * c);
  std::vector<float> x = read_raw<float>(argv[5], count);
  std::vector<int8_t> qw = read_raw<int8_t>(argv[6], size_t(c * c));
  std::vector<float> ws = read_raw<float>(argv[7], size_t(c));
  std::vector<float> b = read_raw<float>(argv[8], size_t(c));
  std::vector<float> res = res_path ? read_raw<float>(res_path, count) : std::vector<float>();
  std::vector<float> out(count, 0.f);

  std::function<bool()> run_once;
  long threads = 1;
  hpun::kernels::PointwiseQ8 q;
  if (direct) {
    run_once = [&]() {
      // prepared every call, as the registered op does
      q = hpun::kernels::pw_q8_prepare(qw.data(), ws.data(), b.data(), in_scale, in_zp, c);
      hpun::kernels::pw_q8_nhwc(x.data(), q, res.empty() ? nullptr : res.data(), relu, out.data(),
                                n, h, w);
      return true;
    };
  }
#ifndef HPUN_Q8_PLAIN
  executorch::runtime::runtime_init();
  using executorch::aten::ScalarType;
  using executorch::aten::Tensor;
  using executorch::runtime::EValue;
  using TensorImpl = executorch::runtime::etensor::TensorImpl;
  using SizesType = TensorImpl::SizesType;
  using DimOrderType = TensorImpl::DimOrderType;
  using StridesType = TensorImpl::StridesType;
  SizesType xs[4] = {SizesType(n), SizesType(c), SizesType(h), SizesType(w)};
  DimOrderType dcl[4] = {0, 2, 3, 1}, d4[4] = {0, 1, 2, 3}, d1[1] = {0};
  StridesType xst[4] = {StridesType(c * h * w), 1, StridesType(w * c), StridesType(c)};
  SizesType qs[4] = {SizesType(c), SizesType(c), 1, 1}, vs[1] = {SizesType(c)};
  StridesType qst[4] = {StridesType(c), 1, 1, 1}, vst[1] = {1};
  TensorImpl xi(ScalarType::Float, 4, xs, x.data(), dcl, xst);
  TensorImpl oi(ScalarType::Float, 4, xs, out.data(), dcl, xst);
  TensorImpl qi(ScalarType::Char, 4, qs, qw.data(), d4, qst);
  TensorImpl si(ScalarType::Float, 1, vs, ws.data(), d1, vst);
  TensorImpl bi(ScalarType::Float, 1, vs, b.data(), d1, vst);
  EValue ex{Tensor(&xi)}, eq{Tensor(&qi)}, es{Tensor(&si)}, eb{Tensor(&bi)};
  EValue escale{in_scale}, ezp{in_zp}, erelu{relu}, eo{Tensor(&oi)}, eret{Tensor(&oi)};
  std::vector<EValue*> stack_vec = {&ex, &eq, &es, &eb, &escale, &ezp, &erelu, &eo, &eret};
  executorch::runtime::Span<EValue*> stack(stack_vec.data(), stack_vec.size());
  executorch::runtime::OpFunction op = nullptr;
  std::unique_ptr<executorch::extension::threadpool::NoThreadPoolGuard> guard;
  if (!direct) {
    auto found = executorch::runtime::get_op_function_from_registry("hpun::pw_q8.out", {});
    if (!found.ok()) {
      std::fprintf(stderr, "hpun::pw_q8.out is not registered\n");
      return 3;
    }
    op = found.get();
    if (serial) guard.reset(new executorch::extension::threadpool::NoThreadPoolGuard());
    threads = serial ? 1L : long(executorch::extension::get_thread_count());
    run_once = [&]() {
      executorch::runtime::KernelRuntimeContext ctx;
      op(ctx, stack);
      return ctx.failure_state() == executorch::runtime::Error::Ok;
    };
  }
#endif
  if (!run_once()) {
    std::fprintf(stderr, "kernel reported failure\n");
    return 4;
  }
  const char* isa = hpun::kernels::pw_q8_isa(c);
  if (repeat > 0) {
    const hpun::driver::Timing t = hpun::driver::time_runs(run_once, repeat);
    std::printf("isa=%s path=%s threads=%ld min_ms=%.3f median_ms=%.3f\n", isa,
                direct ? "direct" : "registry", threads, t.min_ms, t.median_ms);
  } else {
    std::printf("isa=%s path=%s\n", isa, direct ? "direct" : "registry");
  }
  if (!hpun::driver::write_f32(argv[9], out)) {
    std::fprintf(stderr, "cannot write %s\n", argv[9]);
    return 2;
  }
  return 0;
}
