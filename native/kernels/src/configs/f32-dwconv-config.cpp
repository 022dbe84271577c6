// The depthwise conv's micro-kernels for this CPU (config.h): AVX-512F (with the k = 5, C == 64
// intrinsics), else AVX2 + FMA, else the baseline build.
#include "configs/config.h"

namespace hpun {
namespace {

F32DwconvConfig init() {
  const HardwareConfig& hw = hardware_config();
  (void)hw;
  F32DwconvConfig c;
  c.generic = hpun_f32_dwconv_ukernel_generic__baseline;
#if HPUN_X86_UKERNELS
  if (hw.x86_avx512f) {
    c.generic = hpun_f32_dwconv_ukernel_generic__avx512f;
    c.k5_c64 = hpun_f32_dwconv5x5_ukernel_1x8c64__avx512f;
    c.k5_2rows_c64 = hpun_f32_dwconv5x5_ukernel_2x8c64__avx512f;
  } else if (hw.x86_avx2_fma) {
    c.generic = hpun_f32_dwconv_ukernel_generic__avx2;
  }
#endif
  return c;
}

}  // namespace

const F32DwconvConfig& f32_dwconv_config() {
  static const F32DwconvConfig c = init();
  return c;
}

}  // namespace hpun
