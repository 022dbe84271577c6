// The fp32 1x1 conv's micro-kernels for this CPU (config.h): AVX-512F (6x64 intrinsics for C == 64,
// 4x64 vector blocks for other multiples of 64), else AVX2 + FMA, else the baseline build.
#include "configs/config.h"

namespace hpun {
namespace {

F32PwConfig init() {
  const HardwareConfig& hw = hardware_config();
  (void)hw;
  F32PwConfig c;
  c.generic = hpun_f32_pw_ukernel_generic__baseline;
#if HPUN_X86_UKERNELS
  if (hw.x86_avx512f) {
    c.generic = hpun_f32_pw_ukernel_generic__avx512f;
    c.c64 = hpun_f32_pw_ukernel_6x64__avx512f;
  } else if (hw.x86_avx2_fma) {
    c.generic = hpun_f32_pw_ukernel_generic__avx2;
  }
#endif
  return c;
}

}  // namespace

const F32PwConfig& f32_pw_config() {
  static const F32PwConfig c = init();
  return c;
}

}  // namespace hpun
