// hpun_runner: run an HPUN ExecuTorch program (.pte) natively, one tile or a whole image through the
// fixed-size crop-and-stitch tiling, time it, and print one results.json record.
//
//   hpun_runner --model M.pte [--scale 2] [--tile 256] [--overlap 16] [--threads 2] [--warmup 3] [--runs 10]
//               [--input img.f32 --input-hw HxW | --input-hw 360x640] [--output out.f32]
//               [--model-name hpun_s] [--precision fp32] [--method qat] [--target executorch-native] [--seed 0]
//               [--verbose]
//
// stdout: exactly one line `HPUN_RESULT {json}`; everything else goes to stderr. Exit codes: 0 ok,
// 1 the runtime failed, 2 bad input (one line on stderr: `hpun_runner: <file>: <problem>; <fix>`).
// See native/README.md.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor.h>
#include <executorch/runtime/core/error.h>
#include <executorch/runtime/platform/platform.h>
#include <executorch/runtime/platform/runtime.h>

#include "record.h"
#include "stats.h"
#include "tiling.h"

#ifdef ET_USE_THREADPOOL
// The wheel ships libexecutorch_threadpool.so but not extension/threadpool/threadpool.h: declare the two
// members used here (their definitions are in that library; signatures as in ExecuTorch's header).
namespace executorch::extension::threadpool {
class ThreadPool {
 public:
  size_t get_thread_count() const;
  bool _unsafe_reset_threadpool(uint32_t num_threads);
};
ThreadPool* get_threadpool();
}  // namespace executorch::extension::threadpool
#endif

namespace {

using executorch::extension::Module;
using executorch::runtime::Error;

constexpr const char* kProg = "hpun_runner";

// --------------------------------------------------------------------------------- errors
struct BadInput : std::runtime_error {  // exit 2
  std::string file, fix;
  BadInput(std::string file_, const std::string& problem, std::string fix_)
      : std::runtime_error(problem), file(std::move(file_)), fix(std::move(fix_)) {}
};
struct Failure : std::runtime_error {  // exit 1
  using std::runtime_error::runtime_error;
};

// ------------------------------------------------------------- ExecuTorch log capture (PAL)
std::mutex g_log_mutex;
std::vector<std::string> g_log;  // every message ExecuTorch logged
bool g_verbose = false;

void capture_log(et_timestamp_t, et_pal_log_level_t level, const char* filename, const char*, size_t line,
                 const char* message, size_t length) {
  std::string msg(message, length);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
  std::lock_guard<std::mutex> lock(g_log_mutex);
  if (g_verbose) std::fprintf(stderr, "[executorch %c] %s:%zu %s\n", static_cast<char>(level), filename, line, msg.c_str());
  g_log.push_back(std::move(msg));
}

std::vector<std::string> logged_after(size_t mark, const std::string& prefix) {
  std::lock_guard<std::mutex> lock(g_log_mutex);
  std::vector<std::string> out;
  for (size_t i = mark; i < g_log.size(); ++i) {
    const auto pos = g_log[i].find(prefix);
    if (pos != std::string::npos) out.push_back(g_log[i].substr(pos + prefix.size()));
  }
  return out;
}

size_t log_mark() {
  std::lock_guard<std::mutex> lock(g_log_mutex);
  return g_log.size();
}

// ----------------------------------------------------------------------------------- CLI
struct Options {
  std::string model, input, output, model_name, method, precision = "fp32", target = "executorch-native";
  int64_t scale = 0, tile = 0, overlap = 16, threads = 0, warmup = 3, runs = 10, h = 360, w = 640;
  uint32_t seed = 0;
  bool hw_given = false;
};

const char* kUsage =
    "usage: hpun_runner --model M.pte [--scale S] [--tile T] [--overlap 16] [--threads N] [--warmup 3]\n"
    "                   [--runs 10] [--input img.f32 --input-hw HxW | --input-hw 360x640] [--output out.f32]\n"
    "                   [--model-name NAME] [--precision fp32] [--method ptq|qat] [--target executorch-native]\n"
    "                   [--seed 0] [--verbose]\n"
    "Input/output files: raw little-endian float32, NCHW with N=1, C=3, values in [0, 1]; the output is\n"
    "(1, 3, H*S, W*S). Without --input a seeded uniform [0, 1) image of --input-hw (default 360x640) is timed.\n"
    "stdout: one line `HPUN_RESULT {json}` (a results.json record); exit 0 ok, 1 runtime failure, 2 bad input.\n";

int64_t parse_int(const std::string& flag, const std::string& v, int64_t lo) {
  char* end = nullptr;
  errno = 0;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end || errno || x < lo)
    throw BadInput(flag, "'" + v + "' is not an integer >= " + std::to_string(lo), "see --help");
  return x;
}

void parse_hw(const std::string& v, int64_t& h, int64_t& w) {
  const auto x = v.find_first_of("xX");
  if (x == std::string::npos) throw BadInput("--input-hw", "'" + v + "' is not HxW", "write it as e.g. 360x640");
  h = parse_int("--input-hw", v.substr(0, x), 1);
  w = parse_int("--input-hw", v.substr(x + 1), 1);
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stderr);
      std::exit(0);
    }
    if (a == "--verbose") {
      g_verbose = true;
      continue;
    }
    if (a.rfind("--", 0) != 0 || i + 1 >= argc)
      throw BadInput(a, a.rfind("--", 0) == 0 ? "needs a value" : "unexpected argument", "see --help");
    const std::string v = argv[++i];
    if (a == "--model") o.model = v;
    else if (a == "--input") o.input = v;
    else if (a == "--output") o.output = v;
    else if (a == "--model-name") o.model_name = v;
    else if (a == "--precision") o.precision = v;
    else if (a == "--method") o.method = v;
    else if (a == "--target") o.target = v;
    else if (a == "--scale") o.scale = parse_int(a, v, 1);
    else if (a == "--tile") o.tile = parse_int(a, v, 2);
    else if (a == "--overlap") o.overlap = parse_int(a, v, 0);
    else if (a == "--threads") o.threads = parse_int(a, v, 0);
    else if (a == "--warmup") o.warmup = parse_int(a, v, 0);
    else if (a == "--runs") o.runs = parse_int(a, v, 1);
    else if (a == "--seed") o.seed = static_cast<uint32_t>(parse_int(a, v, 0));
    else if (a == "--input-hw") { parse_hw(v, o.h, o.w); o.hw_given = true; }
    else throw BadInput(a, "unknown option", "see --help");
  }
  if (o.model.empty()) throw BadInput("--model", "missing", "give the .pte to run (--model M.pte)");
  if (!o.input.empty() && !o.hw_given)
    throw BadInput(o.input, "a raw float32 file has no header", "give its size with --input-hw HxW");
  if (o.model_name.empty()) {  // the file's stem: hpun_s_x2.pte -> hpun_s_x2
    std::string base = o.model.substr(o.model.find_last_of('/') + 1);
    o.model_name = base.substr(0, base.rfind('.'));
  }
  return o;
}

// ---------------------------------------------------------------------------------- files
int64_t file_size(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  return f ? static_cast<int64_t>(f.tellg()) : -1;
}

void check_pte(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw BadInput(path, "cannot open it", "check the path to the .pte");
  char head[8] = {};
  f.read(head, 8);
  if (f.gcount() < 8 || head[4] != 'E' || head[5] != 'T')
    throw BadInput(path, "not an ExecuTorch program (.pte)", "export one with converters.export (target executorch)");
}

hpun::Image read_image(const Options& o) {
  hpun::Image x;
  x.c = 3, x.h = o.h, x.w = o.w;
  const size_t n = static_cast<size_t>(3 * o.h * o.w);
  x.data.resize(n);
  if (o.input.empty()) {  // seeded uniform [0, 1): 24-bit mantissas from mt19937
    std::mt19937 gen(o.seed);
    for (auto& v : x.data) v = static_cast<float>(gen() >> 8) * (1.0f / 16777216.0f);
    return x;
  }
  const int64_t size = file_size(o.input);
  if (size < 0) throw BadInput(o.input, "cannot open it", "check the path of --input");
  if (size != static_cast<int64_t>(n * sizeof(float)))
    throw BadInput(o.input,
                   std::to_string(size) + " bytes, a 1x3x" + std::to_string(o.h) + "x" + std::to_string(o.w) +
                       " float32 image has " + std::to_string(n * sizeof(float)),
                   "write raw little-endian float32 NCHW and give its size with --input-hw HxW");
  std::ifstream f(o.input, std::ios::binary);
  f.read(reinterpret_cast<char*>(x.data.data()), static_cast<std::streamsize>(n * sizeof(float)));
  if (!f) throw BadInput(o.input, "short read", "check the file");
  return x;
}

void write_image(const std::string& path, const hpun::Image& y) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(y.data.data()), static_cast<std::streamsize>(y.data.size() * sizeof(float)));
    if (!f) throw BadInput(path, "cannot write it", "check that its folder exists and is writable");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw BadInput(path, "cannot write it", "check that its folder exists and is writable");
  }
}

std::string shape_str(executorch::runtime::Span<const int32_t> sizes) {
  std::string s = "[";
  for (size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
  return s + "]";
}

const char* arch() {
#if defined(__aarch64__)
  return "aarch64";
#elif defined(__x86_64__)
  return "x86_64";
#elif defined(__arm__)
  return "arm";
#else
  return "unknown";
#endif
}

bool has_custom_kernels() {
#ifdef HPUN_WITH_CUSTOM_KERNELS
  return true;
#else
  return false;
#endif
}

// ------------------------------------------------------------------------------------ run
int run(int argc, char** argv) {
  Options o = parse_args(argc, argv);
  if (o.tile && (o.tile % 2 || o.tile <= 2 * o.overlap))
    throw BadInput("--tile", "tile size " + std::to_string(o.tile) + " must be even and exceed twice the overlap " +
                                 std::to_string(o.overlap),
                   "choose another --tile or a smaller --overlap");
  check_pte(o.model);
  hpun::Image x = read_image(o);

  executorch::runtime::register_pal(executorch::runtime::PalImpl::create(capture_log, __FILE__));
  executorch::runtime::runtime_init();

  Module module(o.model, Module::LoadMode::File);
  if (const Error e = module.load(); e != Error::Ok)
    throw BadInput(o.model, std::string("ExecuTorch cannot load the program (") + executorch::runtime::to_string(e) + ")",
                   "re-export it with executorch " HPUN_EXECUTORCH_VERSION " (the runtime this runner links)");
  auto meta = module.method_meta("forward");
  if (!meta.ok()) {
    std::string names;
    if (auto m = module.method_names(); m.ok())
      for (const auto& n : *m) names += (names.empty() ? "" : ", ") + n;
    throw BadInput(o.model, "no 'forward' method (methods: " + names + ")", "export the model's forward");
  }
  auto in_meta = meta->num_inputs() == 1 ? meta->input_tensor_meta(0) : Error::InvalidArgument;
  auto out_meta = meta->num_outputs() >= 1 ? meta->output_tensor_meta(0) : Error::InvalidArgument;
  if (!in_meta.ok() || !out_meta.ok())
    throw BadInput(o.model, "forward takes " + std::to_string(meta->num_inputs()) + " inputs and returns " +
                                std::to_string(meta->num_outputs()) + " outputs, not one image tensor each",
                   "export an HPUN model (converters.export)");
  const auto in_sizes = in_meta->sizes(), out_sizes = out_meta->sizes();
  if (in_sizes.size() != 4 || in_sizes[0] != 1 || in_sizes[1] != 3 || in_sizes[2] != in_sizes[3] ||
      in_meta->scalar_type() != executorch::aten::ScalarType::Float)
    throw BadInput(o.model, "forward takes " + shape_str(in_sizes) + ", not one float32 [1, 3, T, T] tile",
                   "export an HPUN model with a square tile (converters.export)");
  const int64_t tile = in_sizes[2];
  if (o.tile && o.tile != tile)
    throw BadInput(o.model,
                   "the program takes " + std::to_string(tile) + "x" + std::to_string(tile) + " tiles, --tile is " +
                       std::to_string(o.tile),
                   "run with --tile " + std::to_string(tile) + " or export the model at tile " + std::to_string(o.tile));
  if (out_sizes.size() != 4 || out_sizes[0] != 1 || out_sizes[1] != 3 || out_sizes[2] != out_sizes[3] ||
      out_sizes[2] % tile || out_meta->scalar_type() != executorch::aten::ScalarType::Float)
    throw BadInput(o.model, "forward returns " + shape_str(out_sizes) + " for a " + shape_str(in_sizes) + " input",
                   "export an HPUN model (float32 [1, 3, T*s, T*s] output)");
  const int64_t scale = out_sizes[2] / tile;
  if (o.scale && o.scale != scale)
    throw BadInput(o.model, "the program upscales x" + std::to_string(scale) + ", --scale is " + std::to_string(o.scale),
                   "run with --scale " + std::to_string(scale) + " or export the x" + std::to_string(o.scale) + " model");
  if (tile % 2 || tile <= 2 * o.overlap)
    throw BadInput(o.model, "its tile " + std::to_string(tile) + " must be even and exceed twice the overlap " +
                                std::to_string(o.overlap),
                   "run with a smaller --overlap");

  int64_t threads = 1;
#ifdef ET_USE_THREADPOOL
  auto* pool = executorch::extension::threadpool::get_threadpool();
  if (o.threads > 0 && pool && pool->get_thread_count() != static_cast<size_t>(o.threads))
    pool->_unsafe_reset_threadpool(static_cast<uint32_t>(o.threads));  // before the delegate takes the pool
  threads = pool ? static_cast<int64_t>(pool->get_thread_count()) : 1;
#else
  if (o.threads > 1) std::fprintf(stderr, "%s: this build has no threadpool; running on one thread\n", kProg);
#endif

  const size_t mark = log_mark();
  if (const Error e = module.load_method("forward"); e != Error::Ok) {
    const auto missing = logged_after(mark, "Missing operator: ");
    if (e == Error::OperatorMissing || !missing.empty()) {
      std::string ops;
      for (const auto& m : missing) {  // "[12] hpun::fused_pud.out" -> "hpun::fused_pud.out"
        const auto sp = m.find("] ");
        const std::string name = sp == std::string::npos ? m : m.substr(sp + 2);
        if (ops.find(name) == std::string::npos) ops += (ops.empty() ? "" : ", ") + name;
      }
      if (ops.empty()) ops = "(see --verbose)";
      throw BadInput(o.model, "needs operator(s) this runner has no kernel for: " + ops,
                     has_custom_kernels()
                         ? "add their kernels to native/kernels and rebuild, or export without the custom op"
                         : "rebuild the runner with the native/kernels library (make native), or export without the custom op");
    }
    const auto backend = logged_after(mark, "Backend ");
    for (const auto& b : backend)
      if (b.find("not registered") != std::string::npos || b.find("not available") != std::string::npos)
        throw BadInput(o.model, "uses a delegate this runner lacks: Backend " + b,
                       "export it with the XNNPACK partitioner, or link that backend");
    throw BadInput(o.model, std::string("ExecuTorch cannot load method forward (") + executorch::runtime::to_string(e) + ")",
                   "run with --verbose for the runtime's log");
  }

  // One tile: input tensor over a buffer the tiling fills, output checked and handed back.
  std::vector<float> in_buf(static_cast<size_t>(3 * tile * tile));
  auto input = executorch::extension::from_blob(in_buf.data(), {1, 3, static_cast<int32_t>(tile), static_cast<int32_t>(tile)});
  const size_t out_numel = static_cast<size_t>(3 * tile * scale * tile * scale);
  std::vector<double> tile_ms;
  bool timing = false;
  int64_t calls = 0;
  hpun::TileForward forward = [&](const float* tile_in) -> const float* {
    std::copy(tile_in, tile_in + in_buf.size(), in_buf.begin());
    const auto t0 = std::chrono::steady_clock::now();
    auto result = module.execute("forward", executorch::runtime::EValue(*input));
    const auto t1 = std::chrono::steady_clock::now();
    ++calls;
    if (!result.ok())
      throw Failure(o.model + ": forward failed at call " + std::to_string(calls) + " (" +
                    executorch::runtime::to_string(result.error()) + "); run with --verbose for the runtime's log");
    if (result->empty() || !(*result)[0].isTensor()) throw Failure(o.model + ": forward returned no tensor");
    const auto& t = (*result)[0].toTensor();
    if (static_cast<size_t>(t.numel()) != out_numel) throw Failure(o.model + ": forward returned a tensor of the wrong size");
    if (timing) tile_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    return t.const_data_ptr<float>();
  };

  for (int64_t i = 0; i < o.warmup; ++i) hpun::tiled_forward(x, scale, tile, o.overlap, forward);
  timing = true;
  std::vector<double> image_ms;
  hpun::Image y;
  for (int64_t i = 0; i < o.runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    y = hpun::tiled_forward(x, scale, tile, o.overlap, forward);
    image_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  if (!o.output.empty()) write_image(o.output, y);

  hpun::Record r;
  r.model = o.model_name, r.target = o.target, r.precision = o.precision, r.method = o.method, r.artifact = o.model, r.output = o.output;
  r.scale = scale, r.size_bytes = file_size(o.model), r.tile = tile, r.overlap = o.overlap;
  r.latency = {hpun::median(image_ms), hpun::percentile(image_ms, 90), o.h, o.w, threads, o.runs, o.warmup,
               hpun::count_tiles(o.h, o.w, tile, o.overlap)};
  r.latency_tile = {hpun::median(tile_ms), hpun::percentile(tile_ms, 90), tile, tile, threads,
                    static_cast<int64_t>(tile_ms.size()), o.warmup, 1};
  r.executorch_version = HPUN_EXECUTORCH_VERSION, r.arch = arch(), r.custom_kernels = has_custom_kernels();
  std::fprintf(stderr, "%s: %s x%lld, %lldx%lld image, %lld tile(s) of %lld, %lld thread(s): median %.3f ms, p90 %.3f ms\n",
               kProg, o.model.c_str(), static_cast<long long>(scale), static_cast<long long>(o.h),
               static_cast<long long>(o.w), static_cast<long long>(r.latency.tiles), static_cast<long long>(tile),
               static_cast<long long>(threads), r.latency.median, r.latency.p90);
  std::cout << "HPUN_RESULT " << hpun::record_json(r) << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const BadInput& e) {
    std::fprintf(stderr, "%s: %s: %s; %s\n", kProg, e.file.c_str(), e.what(), e.fix.c_str());
    return 2;
  } catch (const Failure& e) {
    std::fprintf(stderr, "%s: %s\n", kProg, e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", kProg, e.what());
    return 1;
  }
}
