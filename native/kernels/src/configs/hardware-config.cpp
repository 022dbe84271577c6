// The hardware config: the CPU's instruction sets (x86-64: CPUID through the compiler's
// __builtin_cpu_supports, which also checks that the OS saves the vector registers; AArch64 Linux /
// Android: the HWCAP bits), capped by HPUN_KERNELS_ISA (config.h), read once.
#include <cstdlib>
#include <cstring>

#include "configs/config.h"

#if HPUN_ARM_DOTPROD_UKERNELS
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#endif

namespace hpun {
namespace {

bool cap_is(const char* cap, const char* isa) {
  return cap && std::strcmp(cap, isa) == 0;
}

HardwareConfig detect() {
  HardwareConfig hw;
  const char* cap = std::getenv("HPUN_KERNELS_ISA");
  (void)cap;
#if defined(__x86_64__) || defined(_M_X64)
  hw.baseline_isa = "sse2";
#elif defined(__ARM_NEON) || defined(__ARM_NEON__)
  hw.baseline_isa = "neon";
#endif
#if HPUN_X86_UKERNELS
  const bool allow512 = !cap || cap_is(cap, "avx512f");
  const bool allow2 = allow512 || cap_is(cap, "avx2");
  __builtin_cpu_init();
  hw.x86_avx512f =
      allow512 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
  hw.x86_avx512vnni = allow512 && __builtin_cpu_supports("avx512f") &&
                      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
  hw.x86_avx2_fma = allow2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
#if HPUN_ARM_DOTPROD_UKERNELS
  hw.arm_neon_dot = !cap_is(cap, "neon") && (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#endif
  return hw;
}

}  // namespace

const HardwareConfig& hardware_config() {
  static const HardwareConfig hw = detect();
  return hw;
}

}  // namespace hpun
