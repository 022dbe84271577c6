// Standalone test / timing driver for the int8 1x1 conv (hpun/pw-q8.h), the building block of the
// int8 block ops (it is not a registered op itself).
//
//   hpun_pw_q8_driver N C H W x.f32 qw.i8 w_scale.f32 b.f32 out.f32 --in-scale S --in-zp Z
//                     [--relu] [--residual r.f32] [--direct] [--serial] [--repeat R]
//
// x and out are raw float32 NHWC (N*H*W*C), qw raw int8 (C*C, PyTorch order [o][c]), w_scale and
// b C floats; in_scale positive and finite, in_zp in [-128, 127] (else exit 2). By default it runs
// pw_q8_nhwc_rows on row bands over ExecuTorch's thread pool (--serial: one thread), preparing the
// weights per call as the block ops do; --direct calls the whole-tensor entry point pw_q8_nhwc
// (serial), the only path that takes --residual. Built with -DHPUN_Q8_PLAIN (no ExecuTorch:
// cross-compiled checks under qemu, target hpun_pw_q8_plain) it runs the direct path only.
// --repeat R: R timed runs after the first; prints min and median ms.
#ifndef HPUN_Q8_PLAIN
#include <executorch/extension/threadpool/threadpool_guard.h>
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
#include "hpun/pw-q8.h"
#ifndef HPUN_Q8_PLAIN
#include "op-util.h"
#endif

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
  (void)serial;
#endif
  if (!have_scale || n <= 0 || c <= 0 || h <= 0 || w <= 0 || (res_path && !direct)) {
    std::fprintf(stderr, "need positive N C H W and --in-scale; --residual needs --direct\n");
    return 2;
  }
  if (!(in_scale > 0 && in_scale < 1e30 && in_zp >= -128 && in_zp <= 127)) {
    std::fprintf(stderr, "in_scale must be positive and finite, in_zp in [-128, 127]\n");
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
  hpun::PointwiseQ8 q;
  if (direct) {
    run_once = [&]() {
      // prepared every call, as the block ops do
      q = hpun::pw_q8_prepare(qw.data(), ws.data(), b.data(), in_scale, in_zp, c);
      hpun::pw_q8_nhwc(x.data(), q, res.empty() ? nullptr : res.data(), relu, out.data(), n, h, w);
      return true;
    };
  }
#ifndef HPUN_Q8_PLAIN
  executorch::runtime::runtime_init();
  std::unique_ptr<executorch::extension::threadpool::NoThreadPoolGuard> guard;
  if (!direct) {
    // row bands over ExecuTorch's thread pool, as the fused int8 ops run their rows
    if (serial) guard.reset(new executorch::extension::threadpool::NoThreadPoolGuard());
    threads = serial ? 1L : long(executorch::extension::get_thread_count());
    run_once = [&]() {
      q = hpun::pw_q8_prepare(qw.data(), ws.data(), b.data(), in_scale, in_zp, c);
      const int64_t image = h * w * c;
      return hpun::et::parallel_rows(n, h, [&](int64_t img, int64_t r0, int64_t r1) {
        std::vector<uint8_t> scratch(hpun::pw_q8_scratch_bytes(w, c));
        hpun::pw_q8_nhwc_rows(x.data() + img * image, q, nullptr, relu, out.data() + img * image, w,
                              r0, r1, scratch.data());
      });
    };
  }
#endif
  if (!run_once()) {
    std::fprintf(stderr, "kernel reported failure\n");
    return 4;
  }
  const char* isa = hpun::pw_q8_isa(c);
  if (repeat > 0) {
    const hpun::driver::Timing t = hpun::driver::time_runs(run_once, repeat);
    std::printf("isa=%s path=%s threads=%ld min_ms=%.3f median_ms=%.3f\n", isa,
                direct ? "direct" : "rows", threads, t.min_ms, t.median_ms);
  } else {
    std::printf("isa=%s path=%s\n", isa, direct ? "direct" : "rows");
  }
  if (!hpun::driver::write_f32(argv[9], out)) {
    std::fprintf(stderr, "cannot write %s\n", argv[9]);
    return 2;
  }
  return 0;
}
