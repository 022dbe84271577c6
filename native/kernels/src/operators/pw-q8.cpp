// The int8 1x1 conv (hpun/pw-q8.h): the weights in the kernels' layouts, and rows of pixels through
// the qs8-pw micro-kernel the hardware config chose for C.
#include "hpun/pw-q8.h"

#include "common.h"
#include "configs/config.h"

namespace hpun {
namespace {

hpun_qs8_pw_params params_of(const PointwiseQ8& q) {
  return {q.channels,  q.padded,      q.inv_in_scale,       q.in_zp,        q.wp.data(),
          q.wt.data(), q.corr.data(), q.corr_signed.data(), q.scale.data(), q.bias.data()};
}

}  // namespace

PointwiseQ8 pw_q8_prepare(const std::int8_t* qw, const float* w_scale, const float* b,
                          double in_scale, std::int64_t in_zp, std::int64_t channels) {
  PointwiseQ8 q;
  const i64 C = channels, Cp = (C + 3) / 4 * 4;
  q.channels = C;
  q.padded = Cp;
  q.inv_in_scale = static_cast<float>(1.0 / in_scale);
  q.in_zp = static_cast<std::int32_t>(in_zp);
  q.wp.assign(Cp * C, 0);
  q.wt.assign(C * C, 0);
  q.corr.assign(C, 0);
  q.corr_signed.assign(C, 0);
  q.scale.assign(C, 0.f);
  q.bias.assign(C, 0.f);
  const float s = static_cast<float>(in_scale);
  for (i64 o = 0; o < C; ++o) {
    std::int32_t sum = 0;
    for (i64 c = 0; c < C; ++c) {
      const std::int8_t w = qw[o * C + c];
      q.wp[(c / 4) * C * 4 + o * 4 + c % 4] = w;
      q.wt[c * C + o] = w;
      sum += w;
    }
    q.corr[o] = -(q.in_zp + 128) * sum;
    q.corr_signed[o] = -q.in_zp * sum;
    q.scale[o] = s * w_scale[o];
    q.bias[o] = b ? b[o] : 0.f;
  }
  return q;
}

std::size_t pw_q8_scratch_bytes(std::int64_t width, std::int64_t channels) {
  const i64 Cp = (channels + 3) / 4 * 4;
  return static_cast<std::size_t>((width * Cp + 63) / 64 * 64 + 4 * channels);
}

void pw_q8_nhwc_rows(const float* x, const PointwiseQ8& q, const float* residual, bool relu,
                     float* out, std::int64_t width, std::int64_t r0, std::int64_t r1,
                     std::uint8_t* scratch) {
  const hpun_qs8_pw_ukernel_fn fn = qs8_pw_config().for_channels(q.channels).fn;
  const hpun_qs8_pw_params params = params_of(q);
  const i64 rowF = width * q.channels;
  for (i64 r = r0; r < r1; ++r)
    fn(x + r * rowF, &params, residual ? residual + r * rowF : nullptr, relu, out + r * rowF, width,
       scratch);
}

void pw_q8_row(const float* x, const PointwiseQ8& q, const float* residual, bool relu, float* out,
               std::int64_t n) {
  thread_local std::vector<std::uint8_t> scratch;
  const std::size_t need = pw_q8_scratch_bytes(n, q.channels);
  if (scratch.size() < need) scratch.resize(need);
  const hpun_qs8_pw_params params = params_of(q);
  qs8_pw_config().for_channels(q.channels).fn(x, &params, residual, relu, out, n, scratch.data());
}

void pw_q8_nhwc(const float* x, const PointwiseQ8& q, const float* residual, bool relu, float* out,
                std::int64_t batch, std::int64_t height, std::int64_t width) {
  std::vector<std::uint8_t> scratch(pw_q8_scratch_bytes(width, q.channels));
  const i64 image = height * width * q.channels;
  for (i64 n = 0; n < batch; ++n)
    pw_q8_nhwc_rows(x + n * image, q, residual ? residual + n * image : nullptr, relu,
                    out + n * image, width, 0, height, scratch.data());
}

const char* pw_q8_isa(std::int64_t channels) {
  return qs8_pw_config().for_channels(channels).isa;
}

}  // namespace hpun
