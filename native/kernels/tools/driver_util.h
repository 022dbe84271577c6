// Shared by the test drivers (hpun_fused_pud_driver, hpun_pw_q8_driver): raw files in and out, and
// the min / median of timed repeats. Header-only, no ExecuTorch.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace hpun {
namespace driver {

// count values of T from a raw little-endian file; a missing or short file exits 2, naming it.
template <typename T>
std::vector<T> read_raw(const char* path, size_t count) {
  std::vector<T> v(count);
  FILE* f = std::fopen(path, "rb");
  if (!f) {
    std::fprintf(stderr, "cannot open %s\n", path);
    std::exit(2);
  }
  const size_t got = std::fread(v.data(), sizeof(T), count, f);
  std::fclose(f);
  if (got != count) {
    std::fprintf(stderr, "%s: expected %zu values of %zu bytes, read %zu\n", path, count, sizeof(T), got);
    std::exit(2);
  }
  return v;
}

inline bool write_f32(const char* path, const std::vector<float>& v) {
  FILE* f = std::fopen(path, "wb");
  if (!f) return false;
  const bool ok = std::fwrite(v.data(), sizeof(float), v.size(), f) == v.size();
  return std::fclose(f) == 0 && ok;
}

struct Timing {
  double min_ms, median_ms;
};

// repeat timed calls of run_once() (the caller ran the warm-up); repeat > 0.
template <typename F>
Timing time_runs(F&& run_once, int repeat) {
  std::vector<double> ms;
  for (int r = 0; r < repeat; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    run_once();
    const auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms.front(), ms[ms.size() / 2]};
}

}  // namespace driver
}  // namespace hpun
