// The PUD's micro-kernels for this CPU (config.h): AVX-512F (with the C == 64 intrinsics), else
// AVX2 + FMA, else the baseline build.
#include "configs/config.h"

namespace hpun {
namespace {

F32PudConfig init() {
  const HardwareConfig& hw = hardware_config();
  F32PudConfig c;
  c.chw = hpun_f32_pud_chw_ukernel_generic__baseline;
  c.generic = {hpun_f32_pud_pool_ukernel_generic__baseline,
               hpun_f32_pud_gconv_ukernel_generic__baseline,
               hpun_f32_pud_up_ukernel_generic__baseline};
  c.isa = hw.baseline_isa;
#if HPUN_X86_UKERNELS
  if (hw.x86_avx512f) {
    c.chw = hpun_f32_pud_chw_ukernel_generic__avx512f;
    c.generic = {hpun_f32_pud_pool_ukernel_generic__avx512f,
                 hpun_f32_pud_gconv_ukernel_generic__avx512f,
                 hpun_f32_pud_up_ukernel_generic__avx512f};
    c.c64 = {hpun_f32_pud_pool_ukernel_c64__avx512f, hpun_f32_pud_gconv_ukernel_c64__avx512f,
             hpun_f32_pud_up_ukernel_c64__avx512f};
    c.isa = "avx512f";
  } else if (hw.x86_avx2_fma) {
    c.chw = hpun_f32_pud_chw_ukernel_generic__avx2;
    c.generic = {hpun_f32_pud_pool_ukernel_generic__avx2, hpun_f32_pud_gconv_ukernel_generic__avx2,
                 hpun_f32_pud_up_ukernel_generic__avx2};
    c.isa = "avx2";
  }
#endif
  return c;
}

}  // namespace

const F32PudConfig& f32_pud_config() {
  static const F32PudConfig c = init();
  return c;
}

}  // namespace hpun
