// A 16-float vector type from the GCC / Clang vector extensions (HPUN_V16 == 1 where they exist),
// for generic sources that block 16 channels at a time whatever the ISA they are compiled for.
#pragma once

#include <cstring>

#include "common.h"

#if defined(__GNUC__) || defined(__clang__)
#define HPUN_V16 1
// Always inlined: the vector-return ABI note GCC gives for the baseline translation units does not
// apply.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace hpun {
namespace {

typedef float v16 __attribute__((vector_size(64)));

HPUN_INLINE v16 ld16(const float* p) {
  v16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

HPUN_INLINE void st16(float* p, v16 v) {
  std::memcpy(p, &v, sizeof v);
}

}  // namespace
}  // namespace hpun
#else
#define HPUN_V16 0
#endif
