#include "stats.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace hpun {

double median(std::vector<double> v) {
  if (v.empty()) throw std::invalid_argument("median of no values");
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) throw std::invalid_argument("percentile of no values");
  std::sort(v.begin(), v.end());
  const double pos = (static_cast<double>(v.size()) - 1.0) * q / 100.0;
  const double lo = std::floor(pos);
  const size_t i = static_cast<size_t>(lo), j = std::min(i + 1, v.size() - 1);
  const double t = pos - lo, a = v[i], b = v[j];
  // numpy's _lerp: a + (b - a) * t, computed from the upper end when t >= 0.5
  return t >= 0.5 ? b - (b - a) * (1.0 - t) : a + (b - a) * t;
}

}  // namespace hpun
