// The one line hpun_runner prints on stdout: `HPUN_RESULT {json}`, the JSON being one record of the
// project's results.json schema (hpun_edge/report.py, REQUIRED and LATENCY_KEYS).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hpun {

struct Latency {
  double median = 0, p90 = 0;  // milliseconds
  int64_t input_h = 0, input_w = 0;
  int64_t threads = 0, runs = 0, warmup = 0, tiles = 0;
};

struct Record {
  std::string model, target, precision, method, artifact, output;  // method: "" -> absent; output: "" -> null
  int64_t scale = 0, size_bytes = 0, tile = 0, overlap = 0;
  Latency latency, latency_tile;
  std::string executorch_version, arch;
  bool custom_kernels = false;
};

std::string json_string(const std::string& s);  // a quoted, escaped JSON string
std::string record_json(const Record& r);       // one line, no trailing newline

}  // namespace hpun
