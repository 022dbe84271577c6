// A 1x1 conv on rows of NHWC pixels, bound to its weights and to the micro-kernel the hardware
// config chose for C: the int8 conv (pw_q8_row) where the epilogue's q8 is set, the fp32 one
// otherwise. The fused ops run it on rows (or chunks of rows) that are still in cache.
#pragma once

#include "common.h"
#include "configs/config.h"
#include "hpun/conv1x1.h"
#include "hpun/pw-q8.h"

namespace hpun {

class Conv1x1Row {
 public:
  Conv1x1Row(const PointwiseEpilogue& e, i64 channels)
      : pwt_(e.pwt),
        pwb_(e.pwb),
        q8_(e.q8),
        channels_(channels),
        fp32_(f32_pw_config().for_channels(channels)) {}

  // out = conv1x1(t) then max(., 0) if relu, then + res (may be null); n pixels.
  void operator()(const float* t, const float* res, bool relu, float* out, i64 n) const {
    if (q8_) return pw_q8_row(t, *q8_, res, relu, out, n);
    fp32_(t, pwt_, pwb_, res, relu, out, n, channels_);
  }

 private:
  const float* pwt_;
  const float* pwb_;
  const PointwiseQ8* q8_;
  i64 channels_;
  hpun_f32_pw_ukernel_fn fp32_;
};

}  // namespace hpun
