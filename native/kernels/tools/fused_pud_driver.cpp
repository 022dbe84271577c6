// Standalone test / timing driver for the fused PUD kernel.
//
//   hpun_fused_pud_driver N C H W x.f32 w.f32 b.f32 out.f32 [--direct] [--serial] [--nhwc]
//                         [--repeat R] [--pw pw_w.f32 pw_b.f32 [--relu] [--residual r.f32]]
//
// --pw runs hpun::fused_pud_pw.out (or, with --residual, hpun::fused_pud_pw_add.out): the PUD with
// its 1x1 conv (pw_w: C*C floats, (C, C, 1, 1); pw_b: C) and the epilogue; it needs --nhwc, and the
// residual file is NHWC like x.
//
// --op dw_pw_add --k K: residual + conv1x1(depthwise K x K conv(x)) with w.f32 / b.f32 the depthwise
// conv's (C*K*K, C) floats, and --pw, --residual (needed; K odd, at most 15); --op pw_relu:
// relu(conv1x1(x)) with w.f32 / b.f32 the 1x1 conv's (C*C, C). These are the fused ops' building
// blocks (hpun/dw-pw.h, hpun/conv1x1.h), not registered ops: the driver calls their row functions
// itself, on row bands over ExecuTorch's thread pool as the ops do (--serial: one thread). Both need
// --nhwc; no --direct.
//
// --op pw_relu_pud_pw_add --pre x_w.f32 x_b.f32 --pw pw_w.f32 pw_b.f32: HPUN-S's front block
// (w.f32 / b.f32 the PUD's grouped conv, as for fused_pud; x_w / x_b the first 1x1 conv); --nhwc;
// the registry path or --direct.
//
// --op fused_pub --pw pw_w.f32 pw_b.f32 --post dw_w.f32 dw_b.f32 pw2_w.f32 pw2_b.f32: a whole PUB
// with a folded SRDSC(5) (w.f32 / b.f32 the PUD's grouped conv; dw_w: C*25 floats, (C, 1, 5, 5));
// --nhwc; the registry path or --direct.
//
// The int8 forms (the registry path only; qw: C*C int8, w_scale: C floats, SCALE and ZP the conv's
// input quantization; each int8 conv's bias stays the fp32 form's bias file, its weights file is
// then not read):
//   --q8-pw qw.i8 w_scale.f32 SCALE ZP   the PUD's 1x1 conv (--pw's) int8: with --pw --residual,
//                                        hpun::fused_pud_pw_add_q8.out;
//   --q8 qw.i8 w_scale.f32 SCALE ZP      with --op pw_relu_pud_pw_add or fused_pub: the first
//                                        (--pre's) / last (--post's pw2) 1x1 conv int8,
//                                        hpun::pw_relu_pud_pw_add_q8.out, hpun::fused_pub_q8.out
//                                        (the PUD's 1x1 conv fp32); with --q8-pw both int8,
//                                        hpun::pw_relu_pud_pw_add_q8x2.out, hpun::fused_pub_q8x2.out.
//
// Reads raw little-endian float32 files (x: N*C*H*W, w: C*36, b: C), runs the kernel and writes
// the output raw. x and out are NCHW, or NHWC (channels-last dim order) with --nhwc. By default it looks `hpun::fused_pud.out` up in ExecuTorch's operator registry
// and calls it through the boxed EValue interface, exactly as a loaded .pte does (so the test also
// checks the registration); --direct calls the plain C++ entry point instead (serial). --serial disables
// ExecuTorch's thread pool (1 thread); otherwise the op uses the shared pool (its default size is
// the number of performant cores). --repeat R runs R more timed iterations after one warm-up and
// prints min and median milliseconds.
#include <executorch/extension/threadpool/threadpool_guard.h>
#include <executorch/runtime/core/evalue.h>
#include <executorch/runtime/core/span.h>
#include <executorch/runtime/kernel/kernel_runtime_context.h>
#include <executorch/runtime/kernel/operator_registry.h>
#include <executorch/runtime/kernel/thread_parallel_interface.h>
#include <executorch/runtime/platform/runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "driver_util.h"
#include "hpun/conv1x1.h"
#include "hpun/dw-pw.h"
#include "hpun/fused-pub.h"
#include "hpun/fused-pud-pw.h"
#include "hpun/fused-pud.h"
#include "hpun/pw-relu-pud-pw-add.h"
#include "op-util.h"

using hpun::driver::read_raw;
static std::vector<float> read_f32(const char* path, size_t count) { return read_raw<float>(path, count); }

int main(int argc, char** argv) {
  if (argc < 9) {
    std::fprintf(stderr,
                 "usage: %s N C H W x.f32 w.f32 b.f32 out.f32 [--direct] [--serial] [--nhwc] "
                 "[--repeat R]\n",
                 argv[0]);
    return 2;
  }
  const int64_t n = std::atoll(argv[1]), c = std::atoll(argv[2]), h = std::atoll(argv[3]),
                w = std::atoll(argv[4]);
  bool direct = false, serial = false, nhwc = false, relu = false;
  int repeat = 0, k = 0;
  std::string op_arg = "fused_pud";
  const char *pw_w_path = nullptr, *pw_b_path = nullptr, *res_path = nullptr;
  const char *pre_w_path = nullptr, *pre_b_path = nullptr;
  const char* post_paths[4] = {nullptr, nullptr, nullptr, nullptr};
  const char *q8_w_path = nullptr, *q8_s_path = nullptr;
  double q8_scale = 0;
  int64_t q8_zp = 0;
  const char *q8pw_w_path = nullptr, *q8pw_s_path = nullptr;
  double q8pw_scale = 0;
  int64_t q8pw_zp = 0;
  for (int i = 9; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--direct")) direct = true;
    else if (!std::strcmp(argv[i], "--serial")) serial = true;
    else if (!std::strcmp(argv[i], "--nhwc")) nhwc = true;
    else if (!std::strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--pw") && i + 2 < argc) {
      pw_w_path = argv[++i];
      pw_b_path = argv[++i];
    } else if (!std::strcmp(argv[i], "--pre") && i + 2 < argc) {
      pre_w_path = argv[++i];
      pre_b_path = argv[++i];
    } else if (!std::strcmp(argv[i], "--post") && i + 4 < argc) {
      for (auto& path : post_paths) path = argv[++i];
    } else if (!std::strcmp(argv[i], "--relu")) relu = true;
    else if (!std::strcmp(argv[i], "--op") && i + 1 < argc) op_arg = argv[++i];
    else if (!std::strcmp(argv[i], "--k") && i + 1 < argc) k = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--residual") && i + 1 < argc) res_path = argv[++i];
    else if (!std::strcmp(argv[i], "--q8") && i + 4 < argc) {
      q8_w_path = argv[++i];
      q8_s_path = argv[++i];
      q8_scale = std::atof(argv[++i]);
      q8_zp = std::atoll(argv[++i]);
    } else if (!std::strcmp(argv[i], "--q8-pw") && i + 4 < argc) {
      q8pw_w_path = argv[++i];
      q8pw_s_path = argv[++i];
      q8pw_scale = std::atof(argv[++i]);
      q8pw_zp = std::atoll(argv[++i]);
    } else {
      std::fprintf(stderr, "unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  executorch::runtime::runtime_init();
  std::vector<float> x = read_f32(argv[5], n * c * h * w);
  const bool dwpw = op_arg == "dw_pw_add", pwrelu = op_arg == "pw_relu";
  const bool front = op_arg == "pw_relu_pud_pw_add", pub = op_arg == "fused_pub";
  const bool q8 = q8_w_path != nullptr, q8pw = q8pw_w_path != nullptr;
  if ((q8 && !(front || pub)) || (q8pw && (front || pub) && !q8) ||
      (q8pw && !(front || pub) && (op_arg != "fused_pud" || !pw_w_path || !res_path)) ||
      ((q8 || q8pw) && direct)) {
    std::fprintf(stderr, "--q8 goes with --op pw_relu_pud_pw_add or fused_pub; --q8-pw with --pw --residual "
                         "(fused_pud_pw_add_q8), or with --q8 and one of those ops; the registry path only\n");
    return 2;
  }
  if ((!dwpw && !pwrelu && !front && !pub && op_arg != "fused_pud") ||
      (dwpw && (k % 2 != 1 || k > hpun::kMaxDepthwiseK || !res_path)) ||
      ((dwpw || pwrelu) && (direct || !nhwc)) ||
      (front && (!nhwc || !pre_w_path || !pw_w_path || res_path || relu)) ||
      (!front && pre_w_path) ||
      (pub && (!nhwc || !pw_w_path || !post_paths[0] || res_path || relu)) || (!pub && post_paths[0])) {
    std::fprintf(stderr, "--op fused_pud | dw_pw_add --k K (odd, at most 15) --pw .. --residual .. | "
                         "pw_relu | pw_relu_pud_pw_add --pre .. --pw .. | fused_pub --pw .. --post ..; "
                         "all but fused_pud need --nhwc; dw_pw_add and pw_relu take no --direct\n");
    return 2;
  }
  const int64_t wcount = dwpw ? c * k * k : (pwrelu ? c * c : c * 36);
  std::vector<float> wt = read_f32(argv[6], wcount);
  std::vector<float> b = read_f32(argv[7], c);
  std::vector<float> out(x.size(), 0.f);
  const bool pw = pw_w_path != nullptr;
  std::vector<float> pww, pwb, res, prew, preb;
  if (front) {
    if (!q8) prew = read_f32(pre_w_path, c * c);
    preb = read_f32(pre_b_path, c);
  }
  std::vector<int8_t> q8w, q8pww;
  std::vector<float> q8s, q8pws;
  if (q8) {
    q8w = read_raw<int8_t>(q8_w_path, c * c);
    q8s = read_f32(q8_s_path, c);
  }
  if (q8pw) {
    q8pww = read_raw<int8_t>(q8pw_w_path, c * c);
    q8pws = read_f32(q8pw_s_path, c);
  }
  std::vector<float> dww, dwb, pw2w, pw2b;
  if (pub) {
    dww = read_f32(post_paths[0], c * 25);
    dwb = read_f32(post_paths[1], c);
    if (!q8) pw2w = read_f32(post_paths[2], c * c);
    pw2b = read_f32(post_paths[3], c);
  }
  if (pw) {
    if (!q8pw) pww = read_f32(pw_w_path, c * c);
    pwb = read_f32(pw_b_path, c);
    if (res_path) res = read_f32(res_path, x.size());
  } else if (relu || res_path) {
    std::fprintf(stderr, "--relu and --residual need --pw\n");
    return 2;
  }

  using executorch::aten::ScalarType;
  using executorch::aten::Tensor;
  using executorch::runtime::EValue;
  using TensorImpl = executorch::runtime::etensor::TensorImpl;
  using SizesType = TensorImpl::SizesType;
  using DimOrderType = TensorImpl::DimOrderType;
  using StridesType = TensorImpl::StridesType;

  SizesType xs[4] = {SizesType(n), SizesType(c), SizesType(h), SizesType(w)};
  SizesType ws[4] = {SizesType(c), 4, 3, 3};
  if (dwpw) {
    ws[1] = 1;
    ws[2] = ws[3] = SizesType(k);
  } else if (pwrelu) {
    ws[1] = SizesType(c);
    ws[2] = ws[3] = 1;
  }
  SizesType bs[1] = {SizesType(c)};
  DimOrderType d4[4] = {0, 1, 2, 3}, d1[1] = {0}, dcl[4] = {0, 2, 3, 1};
  StridesType xst[4] = {StridesType(c * h * w), StridesType(h * w), StridesType(w), 1};
  if (nhwc) {
    xst[1] = 1;
    xst[2] = StridesType(w * c);
    xst[3] = StridesType(c);
  }
  StridesType wst[4] = {StridesType(ws[1] * ws[2] * ws[3]), StridesType(ws[2] * ws[3]),
                        StridesType(ws[3]), 1};
  StridesType bst[1] = {1};
  TensorImpl xi(ScalarType::Float, 4, xs, x.data(), nhwc ? dcl : d4, xst);
  TensorImpl wi(ScalarType::Float, 4, ws, wt.data(), d4, wst);
  TensorImpl bi(ScalarType::Float, 1, bs, b.data(), d1, bst);
  TensorImpl oi(ScalarType::Float, 4, xs, out.data(), nhwc ? dcl : d4, xst);
  SizesType pws[4] = {SizesType(c), SizesType(c), 1, 1};
  StridesType pwst[4] = {StridesType(c), 1, 1, 1};
  TensorImpl pwi(ScalarType::Float, 4, pws, pw ? pww.data() : nullptr, d4, pwst);
  TensorImpl pbi(ScalarType::Float, 1, bs, pw ? pwb.data() : nullptr, d1, bst);
  TensorImpl ri(ScalarType::Float, 4, xs, res.empty() ? nullptr : res.data(), nhwc ? dcl : d4, xst);
  TensorImpl prewi(ScalarType::Float, 4, pws, front ? prew.data() : nullptr, d4, pwst);
  TensorImpl prebi(ScalarType::Float, 1, bs, front ? preb.data() : nullptr, d1, bst);
  SizesType dws[4] = {SizesType(c), 1, 5, 5};
  StridesType dwst[4] = {25, 25, 5, 1};
  TensorImpl dwwi(ScalarType::Float, 4, dws, pub ? dww.data() : nullptr, d4, dwst);
  TensorImpl dwbi(ScalarType::Float, 1, bs, pub ? dwb.data() : nullptr, d1, bst);
  TensorImpl pw2wi(ScalarType::Float, 4, pws, pub ? pw2w.data() : nullptr, d4, pwst);
  TensorImpl pw2bi(ScalarType::Float, 1, bs, pub ? pw2b.data() : nullptr, d1, bst);
  EValue ex{Tensor(&xi)}, ew{Tensor(&wi)}, eb{Tensor(&bi)}, eo{Tensor(&oi)}, eret{Tensor(&oi)};
  EValue epw{Tensor(&pwi)}, epb{Tensor(&pbi)}, erelu{relu}, eres{Tensor(&ri)};
  EValue eprew{Tensor(&prewi)}, epreb{Tensor(&prebi)};
  EValue edww{Tensor(&dwwi)}, edwb{Tensor(&dwbi)}, epw2w{Tensor(&pw2wi)}, epw2b{Tensor(&pw2bi)};
  TensorImpl q8wi(ScalarType::Char, 4, pws, q8 ? q8w.data() : nullptr, d4, pwst);
  TensorImpl q8si(ScalarType::Float, 1, bs, q8 ? q8s.data() : nullptr, d1, bst);
  EValue eq8w{Tensor(&q8wi)}, eq8s{Tensor(&q8si)}, eq8scale{q8_scale}, eq8zp{q8_zp};
  TensorImpl q8pwwi(ScalarType::Char, 4, pws, q8pw ? q8pww.data() : nullptr, d4, pwst);
  TensorImpl q8pwsi(ScalarType::Float, 1, bs, q8pw ? q8pws.data() : nullptr, d1, bst);
  EValue eq8pww{Tensor(&q8pwwi)}, eq8pws{Tensor(&q8pwsi)}, eq8pwscale{q8pw_scale}, eq8pwzp{q8pw_zp};
  // the boxed stack: the schema's arguments, then out, then the return value
  std::vector<EValue*> stack_vec = {&ex, &ew, &eb};
  if (front && q8 && q8pw)
    stack_vec = {&ex,  &eq8w, &eq8s,   &epreb,     &eq8scale, &eq8zp,  &ew,
                 &eb,  &eq8pww, &eq8pws, &epb,     &eq8pwscale, &eq8pwzp};
  else if (front && q8)
    stack_vec = {&ex, &eq8w, &eq8s, &epreb, &eq8scale, &eq8zp, &ew, &eb, &epw, &epb};
  else if (front) stack_vec = {&ex, &eprew, &epreb, &ew, &eb, &epw, &epb};
  else if (pub && q8 && q8pw)
    stack_vec = {&ex,    &ew,    &eb,     &eq8pww, &eq8pws,   &epb,   &eq8pwscale, &eq8pwzp,
                 &edww,  &edwb,  &eq8w,   &eq8s,   &epw2b,    &eq8scale, &eq8zp};
  else if (pub && q8)
    stack_vec = {&ex, &ew, &eb, &epw, &epb, &edww, &edwb, &eq8w, &eq8s, &epw2b, &eq8scale, &eq8zp};
  else if (pub) stack_vec = {&ex, &ew, &eb, &epw, &epb, &edww, &edwb, &epw2w, &epw2b};
  else if (q8pw)
    stack_vec = {&ex, &ew, &eb, &eq8pww, &eq8pws, &epb, &eq8pwscale, &eq8pwzp, &eres};
  else if (pw && !pwrelu && !dwpw) {
    stack_vec.push_back(&epw);
    stack_vec.push_back(&epb);
    stack_vec.push_back(res.empty() ? &erelu : &eres);
  }
  stack_vec.push_back(&eo);
  stack_vec.push_back(&eret);
  executorch::runtime::Span<EValue*> stack(stack_vec.data(), stack_vec.size());
  const char* op_name = front ? (q8 ? (q8pw ? "hpun::pw_relu_pud_pw_add_q8x2.out" : "hpun::pw_relu_pud_pw_add_q8.out")
                                  : "hpun::pw_relu_pud_pw_add.out")
                       : pub ? (q8 ? (q8pw ? "hpun::fused_pub_q8x2.out" : "hpun::fused_pub_q8.out") : "hpun::fused_pub.out")
                       : !pw ? "hpun::fused_pud.out"
                       : q8pw ? "hpun::fused_pud_pw_add_q8.out"
                             : (res.empty() ? "hpun::fused_pud_pw.out" : "hpun::fused_pud_pw_add.out");

  // dw_pw_add and pw_relu: the building blocks' row functions on row bands (no registered op)
  const bool block = dwpw || pwrelu;
  executorch::runtime::OpFunction op = nullptr;
  if (!direct && !block) {
    auto found = executorch::runtime::get_op_function_from_registry(op_name, {});
    if (!found.ok()) {
      std::fprintf(stderr, "%s is not registered\n", op_name);
      return 3;
    }
    op = found.get();
  }

  std::unique_ptr<executorch::extension::threadpool::NoThreadPoolGuard> guard;
  if (serial) guard.reset(new executorch::extension::threadpool::NoThreadPoolGuard());

  auto run_block = [&]() -> bool {  // weights prepared per call, as a registered op does
    std::vector<float> dwt(dwpw ? c * k * k : 0), pwt(c * c);
    if (dwpw) hpun::dw_transpose_weights(wt.data(), c, k, dwt.data());
    hpun::conv1x1_transpose_weights(dwpw ? pww.data() : wt.data(), c, pwt.data());
    const int64_t image = h * w * c;
    return hpun::et::parallel_rows(n, h, [&](int64_t img, int64_t r0, int64_t r1) {
      hpun::PointwiseEpilogue e;
      e.pwt = pwt.data();
      e.pwb = dwpw ? pwb.data() : b.data();
      e.residual = dwpw ? res.data() + img * image : nullptr;
      e.relu = pwrelu;
      if (dwpw) {
        std::vector<float> rows(2 * w * c);
        hpun::dw_pw_nhwc_rows(x.data() + img * image, dwt.data(), b.data(), k, e,
                              out.data() + img * image, c, h, w, r0, r1, rows.data());
      } else {
        hpun::conv1x1_nhwc_rows(x.data() + img * image, e, out.data() + img * image, c, h, w, r0,
                                r1);
      }
    });
  };
  auto run_once = [&]() -> bool {
    if (block) return run_block();
    if (direct && front) {
      hpun::pw_relu_pud_pw_add_nhwc(x.data(), prew.data(), preb.data(), wt.data(),
                                             b.data(), pww.data(), pwb.data(), out.data(), n, c, h,
                                             w);
      return true;
    }
    if (direct && pub) {
      hpun::fused_pub_nhwc(x.data(), wt.data(), b.data(), pww.data(), pwb.data(),
                                    dww.data(), dwb.data(), pw2w.data(), pw2b.data(), out.data(), n,
                                    c, h, w);
      return true;
    }
    if (direct && pw) {
      if (!nhwc) return false;
      hpun::fused_pud_pw_nhwc(x.data(), wt.data(), b.data(), pww.data(), pwb.data(),
                                       res.empty() ? nullptr : res.data(), relu, out.data(), n, c,
                                       h, w);
      return true;
    }
    if (direct) {
      if (nhwc)
        hpun::fused_pud_nhwc(x.data(), wt.data(), b.data(), out.data(), n, c, h, w);
      else
        hpun::fused_pud_planes(x.data(), wt.data(), b.data(), out.data(), c, h, w, 0,
                                        n * c);
      return true;
    }
    executorch::runtime::KernelRuntimeContext ctx;
    op(ctx, stack);
    return ctx.failure_state() == executorch::runtime::Error::Ok;
  };
  if (!run_once()) {
    std::fprintf(stderr, "kernel reported failure\n");
    return 4;
  }
  const char* path = direct ? "direct" : block ? "rows" : "registry";
  if (repeat > 0) {
    const hpun::driver::Timing t = hpun::driver::time_runs(run_once, repeat);
    const long threads = (serial || direct) ? 1L : long(executorch::extension::get_thread_count());
    std::printf("isa=%s path=%s threads=%ld min_ms=%.3f median_ms=%.3f\n", hpun::fused_pud_isa(),
                path, threads, t.min_ms, t.median_ms);
  } else {
    std::printf("isa=%s path=%s\n", hpun::fused_pud_isa(), path);
  }
  if (!hpun::driver::write_f32(argv[8], out)) {
    std::fprintf(stderr, "cannot write %s\n", argv[8]);
    return 2;
  }
  return 0;
}
