// The 1x1 conv building block (hpun/conv1x1.h): row by row through the f32-pw micro-kernel.
#include "hpun/conv1x1.h"

#include "operators/conv1x1-row.h"

namespace hpun {

void conv1x1_transpose_weights(const float* pw_w, std::int64_t channels, float* pwt) {
  for (i64 co = 0; co < channels; ++co)
    for (i64 ci = 0; ci < channels; ++ci) pwt[ci * channels + co] = pw_w[co * channels + ci];
}

void conv1x1_nhwc_rows(const float* x, const PointwiseEpilogue& pw, float* out,
                       std::int64_t channels, std::int64_t height, std::int64_t width,
                       std::int64_t row_begin, std::int64_t row_end) {
  (void)height;
  const Conv1x1Row conv(pw, channels);
  for (i64 r = row_begin; r < row_end; ++r) {
    const i64 at = r * width * channels;
    conv(x + at, pw.residual ? pw.residual + at : nullptr, pw.relu, out + at, width);
  }
}

}  // namespace hpun
