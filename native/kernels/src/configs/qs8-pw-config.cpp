// The int8 1x1 conv's micro-kernels for this CPU (config.h): x86-64: VNNI 6x64 for C == 64, the
// generic kernel compiled for AVX2 + FMA or the baseline otherwise; AArch64: sdot 2x16 for C % 16
// == 0 on cores with the dot-product extension, the baseline (NEON) generic kernel otherwise.
#include "configs/config.h"

namespace hpun {
namespace {

Qs8PwConfig init() {
  const HardwareConfig& hw = hardware_config();
  Qs8PwConfig c;
  c.generic = {hpun_qs8_pw_ukernel_generic__baseline, hw.baseline_isa};
#if HPUN_X86_UKERNELS
  if (hw.x86_avx512vnni) c.c64 = {hpun_qs8_pw_ukernel_6x64__avx512vnni, "avx512vnni"};
  if (hw.x86_avx2_fma) c.generic = {hpun_qs8_pw_ukernel_generic__avx2, "avx2"};
#endif
#if HPUN_ARM_DOTPROD_UKERNELS
  if (hw.arm_neon_dot) c.c16_multiple = {hpun_qs8_pw_ukernel_2x16__neondot, "neon-dotprod"};
#endif
  return c;
}

}  // namespace

const Qs8PwConfig& qs8_pw_config() {
  static const Qs8PwConfig c = init();
  return c;
}

}  // namespace hpun
