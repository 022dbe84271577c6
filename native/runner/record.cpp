#include "record.h"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace hpun {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (ch < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", ch);
          out += buf;
        } else {
          out += static_cast<char>(ch);  // UTF-8 bytes pass through
        }
    }
  }
  return out + "\"";
}

static std::string ms(double v) {  // rounded to 3 decimals, like round(x, 3) in benchmark.py
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", std::round(v * 1000.0) / 1000.0);
  return buf;
}

static std::string latency_json(const Latency& l) {
  std::ostringstream o;
  o << "{\"median\": " << ms(l.median) << ", \"p90\": " << ms(l.p90) << ", \"input_hw\": [" << l.input_h << ", "
    << l.input_w << "], \"threads\": " << l.threads << ", \"runs\": " << l.runs << ", \"warmup\": " << l.warmup
    << ", \"tiles\": " << l.tiles << "}";
  return o.str();
}

std::string record_json(const Record& r) {
  std::ostringstream o;
  o << "{\"model\": " << json_string(r.model) << ", \"scale\": " << r.scale
    << ", \"target\": " << json_string(r.target) << ", \"precision\": " << json_string(r.precision)
    << (r.method.empty() ? std::string() : ", \"method\": " + json_string(r.method)) << ", \"artifact\": " << json_string(r.artifact) << ", \"size_bytes\": " << r.size_bytes
    << ", \"dataset\": \"latency\", \"psnr_y\": null, \"ssim_y\": null, \"psnr_delta_vs_torch_fp32\": null"
    << ", \"latency_ms\": " << latency_json(r.latency) << ", \"latency_tile_ms\": " << latency_json(r.latency_tile)
    << ", \"ops\": null, \"status\": \"ok\", \"reason\": null, \"tile\": " << r.tile << ", \"overlap\": " << r.overlap
    << ", \"runtime\": {\"runner\": \"hpun_runner\", \"executorch\": " << json_string(r.executorch_version)
    << ", \"arch\": " << json_string(r.arch) << ", \"custom_kernels\": " << (r.custom_kernels ? "true" : "false")
    << "}, \"output\": " << (r.output.empty() ? std::string("null") : json_string(r.output)) << "}";
  return o.str();
}

}  // namespace hpun
