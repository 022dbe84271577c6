// The kernel without ExecuTorch: for cross-compiled checks (e.g. AArch64 NEON under qemu-user),
// where there is no ExecuTorch runtime for the target.
//
//   hpun_fused_pud_plain N C H W x.f32 w.f32 b.f32 out.f32 [--nhwc]
//
// Same raw float32 files as hpun_fused_pud_driver; prints the code path it dispatched to.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "fused_pud.h"

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
    std::fprintf(stderr, "usage: %s N C H W x.f32 w.f32 b.f32 out.f32 [--nhwc]\n", argv[0]);
    return 2;
  }
  const long n = std::atol(argv[1]), c = std::atol(argv[2]), h = std::atol(argv[3]),
             w = std::atol(argv[4]);
  const bool nhwc = argc > 9 && !std::strcmp(argv[9], "--nhwc");
  if (n <= 0 || c <= 0 || h <= 0 || w <= 0 || h % 2 || w % 2) {
    std::fprintf(stderr, "N, C, H, W must be positive, H and W even\n");
    return 2;
  }
  std::vector<float> x(n * c * h * w), wt(c * 36), b(c), out(x.size());
  if (!io(argv[5], x.data(), x.size(), false) || !io(argv[6], wt.data(), wt.size(), false) ||
      !io(argv[7], b.data(), b.size(), false)) {
    std::fprintf(stderr, "cannot read the inputs\n");
    return 2;
  }
  if (nhwc)
    hpun::kernels::fused_pud_nhwc(x.data(), wt.data(), b.data(), out.data(), n, c, h, w);
  else
    hpun::kernels::fused_pud_planes(x.data(), wt.data(), b.data(), out.data(), c, h, w, 0, n * c);
  if (!io(argv[8], out.data(), out.size(), true)) {
    std::fprintf(stderr, "cannot write %s\n", argv[8]);
    return 2;
  }
  std::printf("isa=%s\n", hpun::kernels::fused_pud_isa());
  return 0;
}
