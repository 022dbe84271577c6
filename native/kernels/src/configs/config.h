// The hardware config (what this CPU offers, after the HPUN_KERNELS_ISA cap) and, per op, the
// micro-kernels chosen from it. Each is built once, on first use (thread-safe), and never changes.
//
// HPUN_KERNELS_ISA caps the choice so that tests can run every path on one machine:
//   unset or "avx512f"  everything this CPU has
//   "avx2"              x86-64: no AVX-512 kernels (the AVX2 + FMA ones where the CPU has them)
//   "neon"              AArch64: no dot-product kernels
//   anything else       x86-64: the baseline (SSE2) kernels only; AArch64: no effect
#pragma once

#include "common.h"
#include "ukernels.h"

namespace hpun {

struct HardwareConfig {
  bool x86_avx512f = false;     // AVX-512F + VL: the fp32 AVX-512 kernels
  bool x86_avx2_fma = false;    // AVX2 + FMA
  bool x86_avx512vnni = false;  // AVX-512F + BW + VNNI: the int8 6x64 1x1 conv
  bool arm_neon_dot = false;    // AArch64 dot product (Linux / Android HWCAP_ASIMDDP): sdot
  // The name of the baseline kernels' instruction set: "sse2" (x86-64), "neon" (ARM), "generic".
  const char* baseline_isa = "generic";
};
const HardwareConfig& hardware_config();

// The PUD's stages. For channels-last tensors a stage has a generic kernel (any C) and, where the
// CPU has one, a C == 64 kernel (null otherwise); for_channels picks.
struct F32PudUkernels {
  hpun_f32_pud_pool_ukernel_fn pool;
  hpun_f32_pud_gconv_ukernel_fn gconv;
  hpun_f32_pud_up_ukernel_fn up;
};
struct F32PudConfig {
  hpun_f32_pud_chw_ukernel_fn chw = nullptr;  // NCHW: a whole plane
  F32PudUkernels generic{};
  F32PudUkernels c64{};
  const char* isa = nullptr;  // reported by fused_pud_isa(): "avx512f", "avx2", the baseline's
  F32PudUkernels for_channels(i64 c) const { return c == 64 && c64.pool ? c64 : generic; }
};
const F32PudConfig& f32_pud_config();

// The fp32 1x1 conv.
struct F32PwConfig {
  hpun_f32_pw_ukernel_fn generic = nullptr;
  hpun_f32_pw_ukernel_fn c64 = nullptr;  // 6x64, where the CPU has it
  hpun_f32_pw_ukernel_fn for_channels(i64 c) const { return c == 64 && c64 ? c64 : generic; }
};
const F32PwConfig& f32_pw_config();

// The depthwise conv: generic (any odd k, any C), and for k = 5, C == 64 one- and two-row kernels
// where the CPU has them.
struct F32DwconvConfig {
  hpun_f32_dwconv_ukernel_fn generic = nullptr;
  hpun_f32_dwconv5x5_row_ukernel_fn k5_c64 = nullptr;
  hpun_f32_dwconv5x5_2rows_ukernel_fn k5_2rows_c64 = nullptr;
};
const F32DwconvConfig& f32_dwconv_config();

// The int8 1x1 conv: generic (any C), and where the CPU has them, C == 64 (VNNI) and C % 16 == 0
// (AArch64 sdot) kernels. for_channels gives the kernel for C and its name (pw_q8_isa).
struct Qs8PwChoice {
  hpun_qs8_pw_ukernel_fn fn;
  const char* isa;
};
struct Qs8PwConfig {
  Qs8PwChoice generic{};
  Qs8PwChoice c64{};           // "avx512vnni"
  Qs8PwChoice c16_multiple{};  // "neon-dotprod"
  Qs8PwChoice for_channels(i64 c) const {
    if (c == 64 && c64.fn) return c64;
    if (c % 16 == 0 && c16_multiple.fn) return c16_multiple;
    return generic;
  }
};
const Qs8PwConfig& qs8_pw_config();

}  // namespace hpun
