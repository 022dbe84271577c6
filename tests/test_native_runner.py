"""The native C++ runner (native/, issue 7): built once per session into build/native-host against the
executorch wheel, it must give the Python ExecuTorch path's output on whole tiled images, print one
results.json record, and refuse bad input (tile-size mismatch, missing custom op, ...) with one line
and exit status 2. Its tiling and statistics are also checked piece by piece against Python.

Without cmake or a C++ compiler the tests skip with the reason, except under CI=true, where that fails.
The aarch64 smoke test (cross build + qemu-aarch64) runs where `native/scripts/setup_aarch64.sh` has
been run (the cross compiler, qemu-user and the aarch64 wheel are present); under CI=true it must run.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from hpun_edge.app import native
from hpun_edge.app.latency import count_tiles, percentile
from hpun_edge.inference import tile_spans, tiled_forward
from hpun_edge.app.report import validate_record

CI = os.environ.get("CI", "").lower() == "true"
TILE, OVERLAP = 16, 4  # the session's program: HPUN-S x2 at 16x16 LR tiles (fast, and many tiles per image)


def _need(problems: list[str]) -> None:
    if problems:
        if CI:
            pytest.fail(f"CI=true but {problems[0]}")
        pytest.skip(problems[0])


@pytest.fixture(scope="session")
def runner() -> Path:
    _need(native.missing_build_tools("host"))
    t0 = time.monotonic()
    path = native.build_runner("host")
    print(f"\nnative runner: built in {time.monotonic() - t0:.1f} s")  # seen with -s; ~30 s the first time
    return path


@pytest.fixture(scope="session")
def hpun_pte(tmp_path_factory) -> Path:
    """The shipped HPUN-S x2, fp32 XNNPACK, exported with its sidecar (load_artifact needs it)."""
    return native.smoke_program(tmp_path_factory.mktemp("native_pte"), TILE)


def _run(runner: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(runner), *args], capture_output=True, text=True, timeout=timeout)


# ------------------------------------------------------------------------------ outputs
@pytest.mark.parametrize("hw", [(37, 50), (10, 12)], ids=["odd-multi-tile", "smaller-than-tile"])
def test_runner_output_equals_the_python_tiled_paths(runner, hpun_pte, tmp_path, hw):
    from hpun_edge.converters import load_artifact
    from hpun_edge.model import EvenForward
    from hpun_edge.zoo import create_model

    x = torch.from_numpy(np.random.RandomState(hw[0]).rand(1, 3, *hw).astype(np.float32))
    h, w = native.write_f32(tmp_path / "in.f32", x)
    rec = native.run_runner(runner, hpun_pte, input=tmp_path / "in.f32", input_hw=(h, w), output=tmp_path / "out.f32",
                            overlap=OVERLAP, threads=1, warmup=0, runs=1)
    assert rec["latency_ms"]["tiles"] == count_tiles(h, w, TILE, OVERLAP) and rec["output"] == str(tmp_path / "out.f32")
    y = native.read_f32(tmp_path / "out.f32", 2 * h, 2 * w)

    et, _ = load_artifact(hpun_pte, threads=1)
    model = EvenForward(create_model("hpun_s", 2, pretrained=True))
    with torch.inference_mode():
        ref_et = tiled_forward(et, x, 2, TILE, OVERLAP, fixed_size=True).numpy()
        ref_torch = tiled_forward(model, x, 2, TILE, OVERLAP, fixed_size=True).numpy()
    assert np.abs(y - ref_et).max() <= 1e-4, "the runner's stitching differs from the Python ExecuTorch path"
    assert np.abs(y - ref_torch).max() <= 1e-4, "the runner's output differs from PyTorch's through the same tiles"


def test_record_fits_results_json_and_counts_what_ran(runner, hpun_pte):
    rec = native.run_runner(runner, hpun_pte, input_hw=(30, 44), overlap=OVERLAP, threads=2, warmup=1, runs=3,
                            model_name="hpun_s", precision="fp32", method="none")
    assert validate_record(rec) == []
    assert (rec["model"], rec["scale"], rec["target"], rec["precision"], rec["method"]) == (
        "hpun_s", 2, "executorch-native", "fp32", "none")
    assert (rec["dataset"], rec["status"], rec["reason"], rec["ops"], rec["psnr_y"]) == ("latency", "ok", None, None, None)
    assert rec["artifact"] == str(hpun_pte) and rec["size_bytes"] == hpun_pte.stat().st_size
    lat, per_tile = rec["latency_ms"], rec["latency_tile_ms"]
    tiles = count_tiles(30, 44, TILE, OVERLAP)
    assert lat | {"median": 0, "p90": 0} == {"median": 0, "p90": 0, "input_hw": [30, 44], "threads": 2, "runs": 3,
                                           "warmup": 1, "tiles": tiles}
    assert 0 < lat["median"] <= lat["p90"] and 0 < per_tile["median"] <= per_tile["p90"]
    assert per_tile["runs"] == 3 * tiles and per_tile["input_hw"] == [TILE, TILE] and per_tile["tiles"] == 1
    assert (rec["tile"], rec["overlap"]) == (TILE, OVERLAP)
    assert rec["runtime"]["executorch"].startswith("1.") and rec["runtime"]["arch"] in ("x86_64", "aarch64")


def test_stdout_is_exactly_the_result_line(runner, hpun_pte):
    proc = _run(runner, "--model", str(hpun_pte), "--input-hw", "16x16", "--overlap", "4", "--runs", "1",
                "--warmup", "0", "--verbose")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("HPUN_RESULT {")
    assert native.parse_runner_output(proc.stdout)["latency_ms"]["tiles"] == 1


# ---------------------------------------------------------------------------- bad input
def test_tile_size_mismatch_exits_2_naming_both_sizes(runner, hpun_pte):
    proc = _run(runner, "--model", str(hpun_pte), "--tile", "64", "--overlap", "4")
    assert proc.returncode == native.EXIT_BAD_INPUT and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"hpun_runner: {hpun_pte}: ") and "16x16" in lines[0] and "--tile is 64" in lines[0]
    assert "run with --tile 16 or export the model at tile 64" in lines[0]
    with pytest.raises(native.NativeError, match="--tile is 64") as e:
        native.run_runner(runner, hpun_pte, tile=64, overlap=OVERLAP)
    assert e.value.returncode == native.EXIT_BAD_INPUT


@pytest.mark.parametrize("case", ["scale", "overlap", "not-a-pte", "input-size", "no-hw", "missing-file"])
def test_bad_input_exits_2_with_one_line_naming_the_fix(runner, hpun_pte, tmp_path, case):
    (tmp_path / "in.f32").write_bytes(b"\0" * 100)
    (tmp_path / "fake.pte").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    args, expect = {
        "scale": (["--model", str(hpun_pte), "--scale", "3"], "the program upscales x2, --scale is 3; run with --scale 2"),
        "overlap": (["--model", str(hpun_pte), "--overlap", "8"], "exceed twice the overlap 8; run with a smaller --overlap"),
        "not-a-pte": (["--model", str(tmp_path / "fake.pte")], "not an ExecuTorch program (.pte)"),
        "input-size": (["--model", str(hpun_pte), "--overlap", "4", "--input", str(tmp_path / "in.f32"),
                        "--input-hw", "8x8"], "100 bytes, a 1x3x8x8 float32 image has 768"),
        "no-hw": (["--model", str(hpun_pte), "--input", str(tmp_path / "in.f32")], "give its size with --input-hw HxW"),
        "missing-file": (["--model", str(tmp_path / "nope.pte")], "cannot open it"),
    }[case]
    proc = _run(runner, *args)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hpun_runner: ") and expect in lines[0] and "; " in lines[0]


_LIB = None


def _custom_op_pte(path: Path) -> Path:
    """A program calling hpun_test::scale2.out (x * 2, defined here), then a nearest x2 upsample."""
    global _LIB
    from executorch.exir import EdgeCompileConfig, to_edge
    from torch.library import Library, impl

    if _LIB is None:
        _LIB = Library("hpun_test", "DEF")
        _LIB.define("scale2(Tensor x) -> Tensor")
        _LIB.define("scale2.out(Tensor x, *, Tensor(a!) out) -> Tensor(a!)")
        impl(_LIB, "scale2", "CompositeExplicitAutograd")(lambda x: x * 2)

        def scale2_out(x, *, out):
            return out.copy_(x * 2)

        impl(_LIB, "scale2.out", "CompositeExplicitAutograd")(scale2_out)

    class M(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.interpolate(torch.ops.hpun_test.scale2(x), scale_factor=2, mode="nearest")

    ep = torch.export.export(M(), (torch.rand(1, 3, TILE, TILE),))
    program = to_edge(ep, compile_config=EdgeCompileConfig(_check_ir_validity=False)).to_executorch()
    path.write_bytes(program.buffer)
    return path


@pytest.fixture(scope="session")
def custom_pte(tmp_path_factory) -> Path:
    return _custom_op_pte(tmp_path_factory.mktemp("native_custom") / "scale2.pte")


def test_a_program_needing_a_missing_custom_op_names_it_and_the_fix(runner, custom_pte):
    proc = _run(runner, "--model", str(custom_pte), "--overlap", "4", "--input-hw", "16x16")
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "needs operator(s) this runner has no kernel for: hpun_test::scale2.out" in lines[0]
    assert "native/kernels" in lines[0] and "export without the custom op" in lines[0]


KERNEL_CMAKE = """add_library(hpun_kernels STATIC scale2.cpp)
target_link_libraries(hpun_kernels PUBLIC hpun_executorch)
"""
KERNEL_CPP = """#include <executorch/extension/kernel_util/make_boxed_from_unboxed_functor.h>
#include <executorch/runtime/kernel/kernel_includes.h>
namespace {
using executorch::aten::Tensor;
Tensor& scale2_out(executorch::runtime::KernelRuntimeContext& ctx, const Tensor& x, Tensor& out) {
  const float* a = x.const_data_ptr<float>();
  float* o = out.mutable_data_ptr<float>();
  for (ssize_t i = 0; i < x.numel(); ++i) o[i] = 2.0f * a[i];
  return out;
}
}  // namespace
EXECUTORCH_LIBRARY(hpun_test, "scale2.out", scale2_out);
"""


@pytest.mark.slow
def test_kernels_folder_is_linked_whole_archive_and_its_ops_run(runner, custom_pte, tmp_path):
    """A copy of native/ whose kernels/ registers hpun_test::scale2.out only from a static initialiser:
    the runner finds the op (nothing references it, so a plain link would drop it)."""
    src = tmp_path / "native"
    shutil.copytree(native.NATIVE / "runner", src / "runner")
    shutil.copy(native.NATIVE / "CMakeLists.txt", src)
    (src / "kernels").mkdir()
    (src / "kernels" / "CMakeLists.txt").write_text(KERNEL_CMAKE)
    (src / "kernels" / "scale2.cpp").write_text(KERNEL_CPP)
    t0 = time.monotonic()
    with_kernels = native.build_runner("host", tmp_path / "build", source=src)
    print(f"\nnative runner with test kernels: built in {time.monotonic() - t0:.1f} s")
    x = np.random.RandomState(3).rand(1, 3, 21, 34).astype(np.float32)
    native.write_f32(tmp_path / "in.f32", x)
    rec = native.run_runner(with_kernels, custom_pte, input=tmp_path / "in.f32", input_hw=(21, 34), overlap=OVERLAP,
                            output=tmp_path / "out.f32", warmup=0, runs=1)
    assert rec["runtime"]["custom_kernels"] is True
    y = native.read_f32(tmp_path / "out.f32", 42, 68)
    assert np.array_equal(y, 2 * x.repeat(2, axis=2).repeat(2, axis=3))


@pytest.mark.slow
def test_the_project_kernels_run_an_hpun_program_with_fused_pud(runner, tmp_path):
    """With native/kernels (hpun::fused_pud.out) linked, the runner runs HPUN-S x2 rewritten to call the
    op between XNNPACK delegates, and agrees with PyTorch through the same tiles."""
    if not (native.NATIVE / "kernels" / "CMakeLists.txt").is_file():
        pytest.skip("no native/kernels in this checkout")
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    from hpun_edge.fused import apply_fused_pud
    from hpun_edge.model import EvenForward
    from hpun_edge.zoo import create_model

    model = create_model("hpun_s", 2, pretrained=True)
    fused = EvenForward(apply_fused_pud(model)).eval()
    ep = torch.export.export(fused, (torch.rand(1, 3, TILE, TILE),), strict=False)
    program = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch()
    gm = program.exported_program().graph_module
    assert any(n.op == "call_function" and "fused_pud" in str(n.target) for n in gm.graph.nodes)
    pte = tmp_path / "fused.pte"
    pte.write_bytes(program.buffer)
    x = torch.from_numpy(np.random.RandomState(5).rand(1, 3, 23, 30).astype(np.float32))
    h, w = native.write_f32(tmp_path / "in.f32", x)
    rec = native.run_runner(runner, pte, input=tmp_path / "in.f32", input_hw=(h, w), overlap=OVERLAP,
                            output=tmp_path / "out.f32", threads=1, warmup=0, runs=1)
    assert rec["runtime"]["custom_kernels"] is True
    with torch.inference_mode():
        ref = tiled_forward(EvenForward(model), x, 2, TILE, OVERLAP, fixed_size=True).numpy()
    assert np.abs(native.read_f32(tmp_path / "out.f32", 2 * h, 2 * w) - ref).max() <= 1e-4


def test_build_configures_without_a_kernels_folder(tmp_path):
    _need(native.missing_build_tools("host"))
    src = tmp_path / "native"
    shutil.copytree(native.NATIVE / "runner", src / "runner")
    shutil.copy(native.NATIVE / "CMakeLists.txt", src)
    proc = subprocess.run(["cmake", "-S", str(src), "-B", str(tmp_path / "build"),
                           f"-DEXECUTORCH_ROOT={native.executorch_root()}"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "hpun_runner has no custom kernels (no native/kernels)" in proc.stdout


# ----------------------------------------------------------------- tiling and statistics
PIECES_DRIVER = r"""
#include <cstdio>
#include <vector>
#include "stats.h"
#include "tiling.h"
int main() {
  char kind;
  while (std::scanf(" %c", &kind) == 1) {
    if (kind == 's') {  // s L T O: tile spans
      long long l, t, o;
      std::scanf("%lld %lld %lld", &l, &t, &o);
      for (const auto& s : hpun::tile_spans(l, t, o))
        std::printf("%lld %lld %lld %lld;", (long long)s.start, (long long)s.stop, (long long)s.keep_start,
                    (long long)s.keep_stop);
      std::printf("\n");
    } else {  // p N v1 .. vN: median, p90
      int n;
      std::scanf("%d", &n);
      std::vector<double> v(n);
      for (auto& x : v) std::scanf("%lf", &x);
      std::printf("%.17g %.17g\n", hpun::median(v), hpun::percentile(v, 90));
    }
  }
}
"""


def test_cxx_tile_spans_and_percentiles_equal_pythons(tmp_path):
    _need(native.missing_build_tools("host"))
    (tmp_path / "driver.cpp").write_text(PIECES_DRIVER)
    runner_src = native.NATIVE / "runner"
    exe = tmp_path / "pieces"
    subprocess.run([native.cxx_compiler(), "-std=c++17", "-O1", f"-I{runner_src}", str(tmp_path / "driver.cpp"),
                    str(runner_src / "tiling.cpp"), str(runner_src / "stats.cpp"), "-o", str(exe)], check=True,
                   timeout=300)
    cases = [(length, tile, overlap) for length in (2, 16, 18, 30, 64, 100, 362, 640) for tile in (8, 16, 64, 128)
             for overlap in (0, 1, 3, 16) if tile > 2 * overlap]
    rng = np.random.RandomState(0)
    samples = [rng.exponential(20, n).round(4).tolist() for n in (1, 2, 3, 4, 7, 10, 11)] + [[5.0] * 6]
    stdin = "".join(f"s {l} {t} {o}\n" for l, t, o in cases)
    stdin += "".join(f"p {len(v)} {' '.join(map(repr, v))}\n" for v in samples)
    out = subprocess.run([str(exe)], input=stdin, capture_output=True, text=True, check=True, timeout=60).stdout
    lines = out.splitlines()
    for (l, t, o), line in zip(cases, lines):
        want = "".join(f"{s.start} {s.stop} {s.keep_start} {s.keep_stop};" for s in tile_spans(l, t, o))
        assert line == want, (l, t, o)
    for v, line in zip(samples, lines[len(cases):]):
        med, p90 = map(float, line.split())
        assert med == float(np.median(v)) and p90 == pytest.approx(percentile(v, 90), rel=1e-15, abs=1e-12)


# ------------------------------------------------------------------------ Python side
def test_parse_runner_output_takes_the_one_valid_record():
    good = ('{"model": "m", "scale": 2, "target": "executorch-native", "precision": "fp32", "artifact": "a.pte", '
            '"size_bytes": 1, "dataset": "latency", "psnr_y": null, "ssim_y": null, "psnr_delta_vs_torch_fp32": null, '
            '"latency_ms": {"median": 1.5, "p90": 2.0, "input_hw": [360, 640], "threads": 2}, "ops": null, '
            '"status": "ok", "reason": null}')
    assert native.parse_runner_output(f"log line\nHPUN_RESULT {good}\nmore\n")["latency_ms"]["median"] == 1.5
    for text, msg in ((f"HPUN_RESULT {good}\nHPUN_RESULT {good}", "found 2"), ("nothing", "found 0"),
                      ("HPUN_RESULT {not json", "not JSON"), ("HPUN_RESULT [1]", "not a JSON object"),
                      ('HPUN_RESULT {"model": "m"}', "missing scale")):
        with pytest.raises(native.NativeError, match=msg):
            native.parse_runner_output(text)


def test_missing_tools_are_one_line_errors_naming_the_package(monkeypatch, tmp_path):
    real_which = shutil.which
    gone: set[str] = set()
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name in gone else real_which(name, *a, **k))
    monkeypatch.delenv("CXX", raising=False)
    gone |= {"cmake"}
    assert any("apt-get install cmake" in p for p in native.missing_build_tools("host"))
    gone |= {"c++", "g++", "clang++"}
    assert any("apt-get install g++" in p for p in native.missing_build_tools("host"))
    gone |= {"aarch64-linux-gnu-g++", "qemu-aarch64"}
    assert any("apt-get install g++-aarch64-linux-gnu" in p for p in native.missing_build_tools("aarch64"))
    with pytest.raises(native.NativeError, match="apt-get install qemu-user"):
        native.qemu_prefix()
    with pytest.raises(native.NativeError, match="apt-get install cmake"):
        native.build_runner("host", tmp_path)
    monkeypatch.delenv("ANDROID_NDK", raising=False)
    monkeypatch.delenv("ANDROID_NDK_HOME", raising=False)
    assert any("set ANDROID_NDK" in p for p in native.missing_build_tools("android-arm64"))
    for p in native.missing_build_tools("aarch64") + native.missing_build_tools("android-arm64"):
        assert "\n" not in p


# ----------------------------------------------------------------------- aarch64 + qemu
@pytest.mark.slow
def test_aarch64_runner_under_qemu_equals_the_host_runner(runner, hpun_pte, tmp_path):
    problems = native.missing_build_tools("aarch64")
    try:
        native.qemu_prefix()
    except native.NativeError as e:
        problems.append(str(e))
    _need(problems)
    result = native.smoke_aarch64(tmp_path, pte=hpun_pte, log=print)
    assert result["max_abs"] <= 1e-4
    assert result["aarch64"]["runtime"]["arch"] == "aarch64" and result["host"]["runtime"]["arch"] != "aarch64"
    assert validate_record(result["aarch64"]) == []


def test_a_wheel_for_another_architecture_is_refused_naming_the_fix(tmp_path):
    """The host (x86-64) wheel with the aarch64 toolchain: CMake stops with one message, and
    build_runner's error is that message on one line."""
    _need([p for p in native.missing_build_tools("aarch64") if "wheel" not in p])
    proc = subprocess.run(["cmake", "-S", str(native.NATIVE), "-B", str(tmp_path / "build"),
                           f"-DCMAKE_TOOLCHAIN_FILE={native.AARCH64_TOOLCHAIN}",
                           f"-DEXECUTORCH_ROOT={native.executorch_root()}"], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    from hpun_edge.converters.kernels import cmake_message

    msg = cmake_message(proc.stdout + proc.stderr)
    import platform

    if platform.machine() == "x86_64":
        assert msg.startswith("hpun: the executorch libraries in ") and "are for x86_64, the compiler targets aarch64" in msg
        assert "native/scripts/setup_aarch64.sh" in msg
