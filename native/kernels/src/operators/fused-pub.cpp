// hpun::fused_pub(_q8) (hpun/fused-pub.h): the PUD's row pipeline (pud-band.h), each output row
// blended, 1x1-convolved and relu'd in L1-sized chunks into a ring of kTRing rows t instead of
// memory; after each step, every output row whose five t rows are complete gets the 5x5 depthwise
// conv (two rows at a time where the CPU has the two-row kernel, in column chunks of kDwChunk that
// stay in L1), its last 1x1 conv and the residual add (x). A band of output half rows runs the PUD
// over one half row more each side (the 5x5 conv's reach).
#include "hpun/fused-pub.h"

#include <vector>

#include "hpun/dw-pw.h"
#include "hpun/fused-pud.h"
#include "operators/dwconv-row.h"
#include "operators/pud-band.h"

namespace hpun {
namespace {

constexpr i64 kPubK = 5, kTRing = kPubK + 1;  // two depthwise rows at once read six t rows
constexpr i64 kDwChunk = 48;                  // pixels

// The PUB's tail: output rows [next, end) = x + conv1x1(dwconv5(t)), written as their t rows
// arrive.
class PubTail {
 public:
  PubTail(const float* x, const float* dwt, const float* dwb, const Conv1x1Row& conv, float* out,
          i64 H, i64 W, i64 C, const float* t_ring, float* dw0, float* dw1, i64 row_begin,
          i64 row_end)
      : x_(x),
        dwt_(dwt),
        dwb_(dwb),
        conv_(conv),
        out_(out),
        H_(H),
        W_(W),
        C_(C),
        t_ring_(t_ring),
        dw0_(dw0),
        dw1_(dw1),
        next_(row_begin),
        end_(row_end),
        dw_(f32_dwconv_config()) {}

  // t rows [.., t_avail) are in the ring: write every output row whose t rows are there.
  void emit(i64 t_avail) {
    const i64 rowF = W_ * C_;
    const float* rows[kTRing];
    while (next_ < end_ && min_i64(next_ + 3, H_) <= t_avail) {
      for (i64 u = 0; u < kTRing; ++u) {  // t rows next - 2 .. next + 3
        const i64 rr = next_ - 2 + u;
        rows[u] = (rr < 0 || rr >= H_) ? nullptr : t_ring_ + (rr % kTRing) * rowF;
      }
      if (C_ == 64 && dw_.k5_2rows_c64 && next_ + 1 < end_ && min_i64(next_ + 4, H_) <= t_avail) {
        for (i64 ja = 0; ja < W_; ja += kDwChunk) {
          const i64 jb = min_i64(W_, ja + kDwChunk);
          dw_.k5_2rows_c64(rows, W_, dwt_, dwb_, dw0_, dw1_, ja, jb);
          for (int q = 0; q < 2; ++q) {
            const i64 a = (next_ + q) * rowF + ja * C_;
            conv_(q ? dw1_ : dw0_, x_ + a, /*relu=*/false, out_ + a, jb - ja);
          }
        }
        next_ += 2;
        continue;
      }
      dwconv_row(dw_, rows, W_, C_, dwt_, dwb_, kPubK, dw0_);
      const i64 a = next_ * rowF;
      conv_(dw0_, x_ + a, /*relu=*/false, out_ + a, W_);
      ++next_;
    }
  }

 private:
  const float* x_;
  const float* dwt_;
  const float* dwb_;
  const Conv1x1Row& conv_;
  float* out_;
  i64 H_, W_, C_;
  const float* t_ring_;
  float *dw0_, *dw1_;
  i64 next_, end_;
  const F32DwconvConfig& dw_;
};

}  // namespace

std::size_t fused_pub_nhwc_scratch_floats(std::int64_t width, std::int64_t channels) {
  return static_cast<std::size_t>(PudBand::scratch_floats(width, channels) +
                                  (1 + kTRing + 2) * width * channels);
}

void fused_pub_nhwc_band(const float* x, const float* kt, const float* b, const float* pwt,
                         const float* pwb, const float* dwt, const float* dwb, const float* pw2t,
                         const float* pw2b, float* out, std::int64_t channels, std::int64_t height,
                         std::int64_t width, std::int64_t row_begin, std::int64_t row_end,
                         float* scratch, const PointwiseQ8* pw2_q8, const PointwiseQ8* pw_q8) {
  const i64 rowF = width * channels, h = height / 2;
  // the 5x5 conv reads two t rows beyond the band each side: one more half row of the PUD
  const i64 o0 = row_begin - 1 < 0 ? 0 : row_begin - 1, o1 = min_i64(h, row_end + 1);
  PudBand pud(kt, b, height, width, channels, o0, o1, scratch);
  float* t = pud.scratch_end();  // one row
  float* t_ring = t + rowF;      // kTRing rows
  float* dw0 = t_ring + kTRing * rowF;
  float* dw1 = dw0 + rowF;
  PointwiseEpilogue pw, pw2;
  if (pw_q8) {
    pw.q8 = pw_q8;
  } else {
    pw.pwt = pwt;
    pw.pwb = pwb;
  }
  if (pw2_q8) {
    pw2.q8 = pw2_q8;
  } else {
    pw2.pwt = pw2t;
    pw2.pwb = pw2b;
  }
  const Conv1x1Row conv(pw, channels), conv2(pw2, channels);
  PubTail tail(x, dwt, dwb, conv2, out, height, width, channels, t_ring, dw0, dw1, 2 * row_begin,
               2 * row_end);
  const RowSource L{x, rowF};
  for (i64 k = pud.first_step(); k < o1; ++k) {
    pud.pool_and_conv(k, L);
    if (k < o0) continue;
    for (int dy = 0; dy < 2; ++dy) {
      const i64 r = 2 * k + dy;
      pud.blend_conv1x1(k, dy, L(r), conv, nullptr, /*relu=*/true, t_ring + (r % kTRing) * rowF, t);
    }
    tail.emit(2 * k + 2);
  }
}

void fused_pub_nhwc(const float* x, const float* w, const float* b, const float* pw_w,
                    const float* pw_b, const float* dw_w, const float* dw_b, const float* pw2_w,
                    const float* pw2_b, float* out, std::int64_t batch, std::int64_t channels,
                    std::int64_t height, std::int64_t width) {
  std::vector<float> kt(36 * channels), pwt(channels * channels), dwt(25 * channels),
      pw2t(channels * channels);
  fused_pud_nhwc_transpose_weights(w, channels, kt.data());
  conv1x1_transpose_weights(pw_w, channels, pwt.data());
  dw_transpose_weights(dw_w, channels, 5, dwt.data());
  conv1x1_transpose_weights(pw2_w, channels, pw2t.data());
  std::vector<float> scratch(fused_pub_nhwc_scratch_floats(width, channels));
  const i64 image = height * width * channels;
  for (i64 n = 0; n < batch; ++n)
    fused_pub_nhwc_band(x + n * image, kt.data(), b, pwt.data(), pw_b, dwt.data(), dw_b,
                        pw2t.data(), pw2_b, out + n * image, channels, height, width, 0, height / 2,
                        scratch.data());
}

}  // namespace hpun
