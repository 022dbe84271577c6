// The kernels without ExecuTorch: for cross-compiled checks (e.g. AArch64 NEON under qemu-user),
// where there is no ExecuTorch runtime for the target.
//
//   hpun_fused_pud_plain N C H W x.f32 w.f32 b.f32 out.f32 [--nhwc]
//                        [--pw pw_w.f32 pw_b.f32 [--relu] [--residual r.f32]]
//                        [--op dw_pw_add --k K | --op pw_relu | --op pw_relu_pud_pw_add --pre xw xb |
//                         --op fused_pub --pw pw_w pw_b --post dw_w dw_b pw2_w pw2_b]
//
// Same raw float32 files and options as hpun_fused_pud_driver (--pw and --op need --nhwc), run
// serially through the kernels' plain entry points; prints the code path it dispatched to.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "hpun/conv1x1.h"
#include "hpun/dw-pw.h"
#include "hpun/fused-pub.h"
#include "hpun/fused-pud-pw.h"
#include "hpun/fused-pud.h"
#include "hpun/pw-relu-pud-pw-add.h"

static bool io(const char* path, float* data, size_t count, bool write) {
  FILE* f = std::fopen(path, write ? "wb" : "rb");
  if (!f) return false;
  const size_t done = write ? std::fwrite(data, sizeof(float), count, f)
                            : std::fread(data, sizeof(float), count, f);
  std::fclose(f);
  return done == count;
}

int main(int argc, char** argv) {
  if (argc < 9) {
    std::fprintf(stderr,
                 "usage: %s N C H W x.f32 w.f32 b.f32 out.f32 [--nhwc] [--pw pw_w pw_b [--relu] "
                 "[--residual r]] [--op dw_pw_add --k K | --op pw_relu | --op pw_relu_pud_pw_add --pre xw xb | "
                 "--op fused_pub --pw pw_w pw_b --post dw_w dw_b pw2_w pw2_b]\n",
                 argv[0]);
    return 2;
  }
  const long n = std::atol(argv[1]), c = std::atol(argv[2]), h = std::atol(argv[3]),
             w = std::atol(argv[4]);
  bool nhwc = false, relu = false;
  long k = 0;
  std::string op = "fused_pud";
  const char *pw_w = nullptr, *pw_b = nullptr, *res_path = nullptr, *pre_w = nullptr, *pre_b = nullptr;
  const char* post[4] = {nullptr, nullptr, nullptr, nullptr};
  for (int i = 9; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--nhwc")) nhwc = true;
    else if (!std::strcmp(argv[i], "--relu")) relu = true;
    else if (!std::strcmp(argv[i], "--pw") && i + 2 < argc) {
      pw_w = argv[++i];
      pw_b = argv[++i];
    } else if (!std::strcmp(argv[i], "--pre") && i + 2 < argc) {
      pre_w = argv[++i];
      pre_b = argv[++i];
    } else if (!std::strcmp(argv[i], "--post") && i + 4 < argc) {
      for (auto& p : post) p = argv[++i];
    } else if (!std::strcmp(argv[i], "--residual") && i + 1 < argc) res_path = argv[++i];
    else if (!std::strcmp(argv[i], "--op") && i + 1 < argc) op = argv[++i];
    else if (!std::strcmp(argv[i], "--k") && i + 1 < argc) k = std::atol(argv[++i]);
    else {
      std::fprintf(stderr, "unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  const bool dwpw = op == "dw_pw_add", pwrelu = op == "pw_relu";
  const bool fused = op == "fused_pud", front = op == "pw_relu_pud_pw_add", pub = op == "fused_pub";
  if (n <= 0 || c <= 0 || h <= 0 || w <= 0 || ((fused || front || pub) && (h % 2 || w % 2)) ||
      (!fused && !dwpw && !pwrelu && !front && !pub) || ((pw_w || !fused) && !nhwc) ||
      (dwpw && (k % 2 != 1 || k > hpun::kMaxDepthwiseK || !pw_w || !res_path)) || (front != (pre_w != nullptr)) ||
      (front && (!pw_w || res_path || relu)) || (pub != (post[0] != nullptr)) ||
      (pub && (!pw_w || res_path || relu))) {
    std::fprintf(stderr, "bad sizes or options (see the usage)\n");
    return 2;
  }
  const long wcount = dwpw ? c * k * k : (pwrelu ? c * c : c * 36);
  std::vector<float> x(n * c * h * w), wt(wcount), b(c), out(x.size()), pww, pwb, res;
  bool ok = io(argv[5], x.data(), x.size(), false) && io(argv[6], wt.data(), wt.size(), false) &&
            io(argv[7], b.data(), b.size(), false);
  if (pw_w) {
    pww.resize(c * c);
    pwb.resize(c);
    ok = ok && io(pw_w, pww.data(), pww.size(), false) && io(pw_b, pwb.data(), pwb.size(), false);
  }
  std::vector<float> prew, preb;
  if (front) {
    prew.resize(c * c);
    preb.resize(c);
    ok = ok && io(pre_w, prew.data(), prew.size(), false) && io(pre_b, preb.data(), preb.size(), false);
  }
  std::vector<float> dww, dwb, pw2w, pw2b;
  if (pub) {
    dww.resize(c * 25);
    dwb.resize(c);
    pw2w.resize(c * c);
    pw2b.resize(c);
    ok = ok && io(post[0], dww.data(), dww.size(), false) && io(post[1], dwb.data(), dwb.size(), false) &&
         io(post[2], pw2w.data(), pw2w.size(), false) && io(post[3], pw2b.data(), pw2b.size(), false);
  }
  if (res_path) {
    res.resize(x.size());
    ok = ok && io(res_path, res.data(), res.size(), false);
  }
  if (!ok) {
    std::fprintf(stderr, "cannot read the inputs\n");
    return 2;
  }
  using namespace hpun;
  const long image = h * w * c;
  if (pub) {
    fused_pub_nhwc(x.data(), wt.data(), b.data(), pww.data(), pwb.data(), dww.data(), dwb.data(),
                   pw2w.data(), pw2b.data(), out.data(), n, c, h, w);
  } else if (front) {
    pw_relu_pud_pw_add_nhwc(x.data(), prew.data(), preb.data(), wt.data(), b.data(), pww.data(),
                            pwb.data(), out.data(), n, c, h, w);
  } else if (dwpw || pwrelu) {
    std::vector<float> dwt(dwpw ? k * k * c : 0), pwt(c * c), row(2 * w * c);
    if (dwpw) dw_transpose_weights(wt.data(), c, k, dwt.data());
    conv1x1_transpose_weights(dwpw ? pww.data() : wt.data(), c, pwt.data());
    for (long i = 0; i < n; ++i) {
      PointwiseEpilogue e;
      e.pwt = pwt.data();
      e.pwb = dwpw ? pwb.data() : b.data();
      e.residual = dwpw ? res.data() + i * image : nullptr;
      e.relu = pwrelu;
      if (dwpw)
        dw_pw_nhwc_rows(x.data() + i * image, dwt.data(), b.data(), k, e, out.data() + i * image,
                        c, h, w, 0, h, row.data());
      else
        conv1x1_nhwc_rows(x.data() + i * image, e, out.data() + i * image, c, h, w, 0, h);
    }
  } else if (pw_w) {
    fused_pud_pw_nhwc(x.data(), wt.data(), b.data(), pww.data(), pwb.data(),
                      res.empty() ? nullptr : res.data(), relu, out.data(), n, c, h, w);
  } else if (nhwc) {
    fused_pud_nhwc(x.data(), wt.data(), b.data(), out.data(), n, c, h, w);
  } else {
    fused_pud_planes(x.data(), wt.data(), b.data(), out.data(), c, h, w, 0, n * c);
  }
  if (!io(argv[8], out.data(), out.size(), true)) {
    std::fprintf(stderr, "cannot write %s\n", argv[8]);
    return 2;
  }
  std::printf("isa=%s\n", fused_pud_isa());
  return 0;
}
