// Latency statistics as hpun_edge/benchmark.py computes them: statistics.median and numpy's default
// (linear) percentile.
#pragma once

#include <vector>

namespace hpun {

double median(std::vector<double> values);                 // Python's statistics.median
double percentile(std::vector<double> values, double q);   // numpy.percentile(values, q), method "linear"

}  // namespace hpun
