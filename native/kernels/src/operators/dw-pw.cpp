// The depthwise + 1x1 conv building block (hpun/dw-pw.h): each output row's depthwise conv into a
// scratch row, then its 1x1 conv and epilogue while that row is in cache. With the k = 5, C == 64
// kernels, two output rows at a time (they share four of their six input rows).
#include "hpun/dw-pw.h"

#include "operators/conv1x1-row.h"
#include "operators/dwconv-row.h"

namespace hpun {

void dw_transpose_weights(const float* dw_w, std::int64_t channels, std::int64_t k, float* dwt) {
  for (i64 c = 0; c < channels; ++c)
    for (i64 t = 0; t < k * k; ++t) dwt[t * channels + c] = dw_w[c * k * k + t];
}

void dw_pw_nhwc_rows(const float* x, const float* dwt, const float* dwb, std::int64_t k,
                     const PointwiseEpilogue& pw, float* out, std::int64_t channels,
                     std::int64_t height, std::int64_t width, std::int64_t row_begin,
                     std::int64_t row_end, float* scratch) {
  const i64 C = channels, W = width, rowF = W * C;
  const F32DwconvConfig& dw = f32_dwconv_config();
  const Conv1x1Row conv(pw, C);
  float* trow = scratch;
  float* trow1 = scratch + rowF;
  auto epilogue = [&](const float* t, i64 r) {
    const i64 at = r * rowF;
    conv(t, pw.residual ? pw.residual + at : nullptr, pw.relu, out + at, W);
  };
  const float* rows[kMaxDepthwiseK + 1];
  for (i64 r = row_begin; r < row_end; ++r) {
    if (C == 64 && k == 5 && dw.k5_2rows_c64 && r + 1 < row_end) {
      dwconv_input_rows(x, height, rowF, 5, r, 1, rows);
      dw.k5_2rows_c64(rows, W, dwt, dwb, trow, trow1, 0, W);
      epilogue(trow, r);
      epilogue(trow1, r + 1);
      ++r;
      continue;
    }
    dwconv_input_rows(x, height, rowF, k, r, 0, rows);
    dwconv_row(dw, rows, W, C, dwt, dwb, k, trow);
    epilogue(trow, r);
  }
}

}  // namespace hpun
