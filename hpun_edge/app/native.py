"""The native C++ runner (`native/`, issue 7): build it, run it, read what it prints.

``hpun_runner`` runs an ExecuTorch program (.pte) with the runtime the executorch wheel ships, one
tile or a whole image through the same fixed-size crop-and-stitch tiling as
`hpun_edge.inference.tiled_forward(..., fixed_size=True)`, and prints exactly one line
``HPUN_RESULT {json}`` on stdout, the JSON being one results.json record (`hpun_edge.app.report`).
`parse_runner_output` turns that text into the record (the adb runner reuses it).

Builds go to the cache folder (`hpun_edge.files.cache_dir`, ``~/.cache/hpun-edge``):
``native-host`` (this machine) and ``native-aarch64`` (cross-compiled with Debian's
g++-aarch64-linux-gnu against the aarch64 executorch wheel, which ``native/scripts/setup_aarch64.sh``
fetches into ``aarch64-wheel`` there); the aarch64 binary runs here under ``qemu-aarch64``
(correct, but its timing means nothing). The sources are the package's own (``hpun_edge.csrc``).

Every problem is a `NativeError` whose text is one line naming the fix (a missing cmake, compiler,
cross compiler or qemu names the Debian package). Command line::

    python -m hpun_edge.app.native build [--arch host|aarch64]
    python -m hpun_edge.app.native run --model M.pte [runner options...]
    python -m hpun_edge.app.native smoke-aarch64     # host vs qemu-aarch64 on a small HPUN program
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from hpun_edge.converters.kernels import (
    NativeError, cxx_compiler, missing_host_tools, native_source, need_tool, run_build_step,
)
from hpun_edge.files import cache_dir

NATIVE = native_source()
# one folder per source location (CMake refuses a build folder configured for other sources)
BUILD = cache_dir() / "native" / hashlib.sha256(str(NATIVE).encode()).hexdigest()[:16]
HOST_BUILD = BUILD / "native-host"
AARCH64_BUILD = BUILD / "native-aarch64"
AARCH64_WHEEL = cache_dir() / "aarch64-wheel" / "executorch"  # native/scripts/setup_aarch64.sh fetches it
AARCH64_TOOLCHAIN = NATIVE / "toolchains" / "aarch64-linux-gnu.cmake"
SETUP_AARCH64 = NATIVE / "scripts" / "setup_aarch64.sh"
AARCH64_SYSROOT = Path("/usr/aarch64-linux-gnu")
RUNNER = "hpun_runner"
RESULT_PREFIX = "HPUN_RESULT "
ARCHES = ("host", "aarch64", "android-arm64")
ANDROID_BUILD = BUILD / "native-android-arm64"
ANDROID_PLATFORM = "android-28"
EXIT_BAD_INPUT = 2


# ------------------------------------------------------------------------------------ output
def parse_runner_output(text: str) -> dict:
    """The record in a runner's stdout: the one ``HPUN_RESULT {json}`` line, checked against the
    results.json schema (`hpun_edge.app.report.validate_record`). Other lines are ignored; none, two, or
    a record that does not validate raise NativeError."""
    from .report import validate_record

    lines = [l for l in text.splitlines() if l.startswith(RESULT_PREFIX)]
    if len(lines) != 1:
        raise NativeError(f"expected one '{RESULT_PREFIX.strip()}' line in the runner's output, found {len(lines)}")
    try:
        record = json.loads(lines[0][len(RESULT_PREFIX):])
    except json.JSONDecodeError as e:
        raise NativeError(f"the runner's {RESULT_PREFIX.strip()} line is not JSON ({e})") from None
    if not isinstance(record, dict):
        raise NativeError(f"the runner's {RESULT_PREFIX.strip()} line is not a JSON object")
    errors = validate_record(record)
    if errors:
        raise NativeError(f"the runner's record does not fit results.json: {'; '.join(errors)}")
    return record


def write_f32(path: str | os.PathLike, x) -> tuple[int, int]:
    """Write a (1, 3, H, W) (or (3, H, W)) float image as the runner reads it: raw little-endian
    float32, NCHW. Returns (H, W) for --input-hw."""
    arr = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype="<f4")
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[:2] != (1, 3):
        raise ValueError(f"expected a (1, 3, H, W) image, got shape {arr.shape}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.ascontiguousarray(arr).tofile(path)
    return int(arr.shape[2]), int(arr.shape[3])


def read_f32(path: str | os.PathLike, h: int, w: int) -> np.ndarray:
    """A runner's --output: (1, 3, h, w) float32 (h, w: the upscaled size)."""
    data = np.fromfile(path, dtype="<f4")
    if data.size != 3 * h * w:
        raise NativeError(f"{path}: {data.size} floats, a 1x3x{h}x{w} image has {3 * h * w}")
    return data.reshape(1, 3, h, w)


# ------------------------------------------------------------------------------------- tools
def missing_build_tools(arch: str = "host") -> list[str]:
    """What a build for `arch` lacks here, as one-line messages naming the fix (empty: nothing)."""
    if arch == "host":
        return missing_host_tools("building the native runner")
    problems = []
    checks = [lambda: need_tool("cmake", "cmake", "building the native runner")]
    if arch == "aarch64":
        checks.append(lambda: need_tool("aarch64-linux-gnu-g++", "g++-aarch64-linux-gnu",
                                        "cross-compiling the runner for aarch64"))
    for check in checks:
        try:
            check()
        except NativeError as e:
            problems.append(str(e))
    if arch == "android-arm64":
        problems += android_problems()
    if arch == "aarch64" and not (AARCH64_WHEEL / "share" / "cmake" / "executorch-config.cmake").is_file():
        problems.append(f"the aarch64 build needs the aarch64 executorch wheel in {AARCH64_WHEEL}, "
                        f"not there; fetch it: {SETUP_AARCH64} (make native-aarch64 runs it)")
    return problems


def android_toolchain() -> Path | None:
    ndk = os.environ.get("ANDROID_NDK") or os.environ.get("ANDROID_NDK_HOME")
    return Path(ndk) / "build" / "cmake" / "android.toolchain.cmake" if ndk else None


def android_problems() -> list[str]:
    """An Android build needs the NDK ($ANDROID_NDK) and ExecuTorch built for Android ($EXECUTORCH_ANDROID_ROOT)."""
    problems = []
    tc = android_toolchain()
    if tc is None or not tc.is_file():
        problems.append("the Android build needs the Android NDK; set ANDROID_NDK to one (r26 or newer, "
                        "https://developer.android.com/ndk/downloads)")
    root = os.environ.get("EXECUTORCH_ANDROID_ROOT")
    if not root or not any((Path(root) / d / "executorch-config.cmake").is_file()
                           for d in ("share/cmake", "lib/cmake/ExecuTorch")):
        problems.append("the Android build needs ExecuTorch built for Android arm64-v8a; set EXECUTORCH_ANDROID_ROOT "
                        "to its install prefix (native/README.md, 'Android')")
    return problems


def qemu_prefix() -> list[str]:
    """How to run an aarch64 binary here: qemu-aarch64 with the cross toolchain's sysroot."""
    qemu = need_tool("qemu-aarch64", "qemu-user", "running the aarch64 runner on this machine")
    if not (AARCH64_SYSROOT / "lib").is_dir():
        raise NativeError(f"running the aarch64 runner needs the aarch64 C/C++ libraries in {AARCH64_SYSROOT}, not "
                          "there; install them: apt-get install g++-aarch64-linux-gnu")
    return [qemu, "-L", str(AARCH64_SYSROOT)]


def executorch_root() -> Path:
    """The installed executorch wheel's package folder (include/, lib/, share/cmake/)."""
    spec = importlib.util.find_spec("executorch")
    if spec is None or not spec.submodule_search_locations:
        raise NativeError("the native runner builds against the executorch wheel, not installed; "
                          "pip install 'hpun-edge[executorch]'")
    for loc in spec.submodule_search_locations:
        if (Path(loc) / "share" / "cmake" / "executorch-config.cmake").is_file():
            return Path(loc)
    raise NativeError(f"the executorch package at {list(spec.submodule_search_locations)[0]} has no "
                      "share/cmake/executorch-config.cmake (a wheel without the C++ runtime); reinstall executorch")


# ------------------------------------------------------------------------------------- build
def default_build_dir(arch: str) -> Path:
    return {"host": HOST_BUILD, "aarch64": AARCH64_BUILD, "android-arm64": ANDROID_BUILD}[arch]


def build_runner(arch: str = "host", build_dir: str | os.PathLike | None = None, *, kernels: bool = True,
                 jobs: int = 2, build_type: str = "Release", source: str | os.PathLike | None = None,
                 timeout: float = 1200) -> Path:
    """Configure (first time) and build hpun_runner; returns its path. Incremental: a second call
    with nothing changed takes a second. ``kernels``: link native/kernels when it exists.
    ``source``: another copy of native/ (tests)."""
    if arch not in ARCHES:
        raise NativeError(f"unknown arch {arch!r}; valid: {', '.join(ARCHES)}")
    problems = missing_build_tools(arch)
    if problems:
        raise NativeError(problems[0])
    build_dir = Path(build_dir) if build_dir is not None else default_build_dir(arch)
    source = Path(source) if source is not None else NATIVE
    et_root = {"host": executorch_root, "aarch64": lambda: AARCH64_WHEEL,
               "android-arm64": lambda: Path(os.environ["EXECUTORCH_ANDROID_ROOT"])}[arch]()
    configure = ["cmake", "-S", str(source), "-B", str(build_dir), f"-DCMAKE_BUILD_TYPE={build_type}",
                 f"-DEXECUTORCH_ROOT={et_root}", f"-DHPUN_PYTHON={sys.executable}",
                 f"-DHPUN_WITH_KERNELS={'ON' if kernels else 'OFF'}"]
    if not (build_dir / "CMakeCache.txt").is_file() and shutil.which("ninja"):
        configure += ["-G", "Ninja"]
    if arch == "aarch64":
        configure += [f"-DCMAKE_TOOLCHAIN_FILE={AARCH64_TOOLCHAIN}"]
    elif arch == "android-arm64":
        configure += [f"-DCMAKE_TOOLCHAIN_FILE={android_toolchain()}", "-DANDROID_ABI=arm64-v8a",
                      f"-DANDROID_PLATFORM={ANDROID_PLATFORM}", "-DANDROID_STL=c++_static"]
    elif not (build_dir / "CMakeCache.txt").is_file():
        configure += [f"-DCMAKE_CXX_COMPILER={cxx_compiler()}"]
    run_build_step(configure, "configuring the native runner", build_dir, timeout)
    run_build_step(["cmake", "--build", str(build_dir), "--parallel", str(jobs)], "building the native runner",
                   build_dir, timeout)
    runner = build_dir / RUNNER
    if not runner.is_file():
        raise NativeError(f"{build_dir}: the build finished without {RUNNER}; see cmake's output above")
    return runner


# --------------------------------------------------------------------------------------- run
def runner_args(model: str | os.PathLike, *, scale: int | None = None, tile: int | None = None, overlap: int = 16,
                threads: int | None = None, warmup: int = 3, runs: int = 10, input: str | os.PathLike | None = None,
                input_hw: tuple[int, int] | None = None, output: str | os.PathLike | None = None,
                model_name: str | None = None, precision: str | None = None, method: str | None = None,
                target: str | None = None, seed: int | None = None) -> list[str]:
    """The runner's command-line arguments (after the binary)."""
    args = ["--model", str(model), "--overlap", str(overlap), "--warmup", str(warmup), "--runs", str(runs)]
    for flag, value in (("--scale", scale), ("--tile", tile), ("--threads", threads), ("--input", input),
                        ("--output", output), ("--model-name", model_name), ("--precision", precision),
                        ("--method", method), ("--target", target), ("--seed", seed)):
        if value is not None:
            args += [flag, str(value)]
    if input_hw is not None:
        args += ["--input-hw", f"{int(input_hw[0])}x{int(input_hw[1])}"]
    return args


def run_runner(runner: str | os.PathLike, model: str | os.PathLike, *, qemu: bool = False,
               timeout: float = 600, **options) -> dict:
    """Run hpun_runner (under qemu-aarch64 with ``qemu=True``) and return its record. Options are
    `runner_args`'s. A runner that fails raises NativeError with its one-line message and exit status."""
    cmd = (qemu_prefix() if qemu else []) + [str(runner)] + runner_args(model, **options)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise NativeError(f"{runner}: no such runner; build it: make native") from None
    except subprocess.TimeoutExpired:
        raise NativeError(f"{runner}: no result within {timeout:.0f} s") from None
    if proc.returncode != 0:
        lines = [l for l in proc.stderr.splitlines() if l.strip()]
        msg = next((l for l in reversed(lines) if l.startswith(f"{RUNNER}:")), lines[-1] if lines else "")
        raise NativeError(msg or f"{runner} exited with status {proc.returncode}", proc.returncode, proc.stderr)
    return parse_runner_output(proc.stdout)


# ------------------------------------------------------------------------------------- smoke
SMOKE_DIR = BUILD / "native-smoke"
SMOKE_TILE, SMOKE_OVERLAP, SMOKE_HW = 16, 4, (20, 30)  # hpun_s x2: 6 tiles; about 10 s under qemu


def smoke_program(directory: Path = SMOKE_DIR, tile: int = SMOKE_TILE) -> Path:
    """The shipped HPUN-S x2 as an fp32 XNNPACK .pte at a small tile (exported once, then reused)."""
    from hpun_edge.converters import ExportSpec, export
    from hpun_edge.zoo import create_model, pretrained_path

    path = Path(directory) / f"hpun_s_x2_t{tile}.pte"
    if not path.is_file():
        model = create_model("hpun_s", 2, pretrained=True)
        export(model, ExportSpec.for_model(model, "executorch", tile, weights=pretrained_path("hpun_s", 2)), path)
    return path


def smoke_aarch64(directory: Path = SMOKE_DIR, pte: Path | None = None, log=print) -> dict:
    """Cross-build the runner, run it under qemu-aarch64 and natively on the same image, compare.

    Returns {"max_abs": ..., "host": record, "aarch64": record, "seconds": {...}}; raises NativeError
    when the outputs differ by more than 1e-4. ``pte``: the program to run (default: `smoke_program`,
    whose tile fits SMOKE_OVERLAP)."""
    directory = Path(directory)
    t0 = time.monotonic()
    host = build_runner("host")
    t1 = time.monotonic()
    cross = build_runner("aarch64")
    t2 = time.monotonic()
    pte = Path(pte) if pte is not None else smoke_program(directory)
    rng = np.random.RandomState(0)
    x = rng.rand(1, 3, *SMOKE_HW).astype(np.float32)
    h, w = write_f32(directory / "smoke_in.f32", x)
    common = dict(overlap=SMOKE_OVERLAP, threads=1, warmup=0, runs=1, input=directory / "smoke_in.f32",
                  input_hw=(h, w), model_name="hpun_s", precision="fp32")
    rec_host = run_runner(host, pte, output=directory / "smoke_host.f32", **common)
    t3 = time.monotonic()
    rec_arm = run_runner(cross, pte, qemu=True, output=directory / "smoke_aarch64.f32", **common)
    t4 = time.monotonic()
    s = rec_host["scale"]
    a = read_f32(directory / "smoke_host.f32", h * s, w * s)
    b = read_f32(directory / "smoke_aarch64.f32", h * s, w * s)
    diff = float(np.abs(a - b).max())
    log(f"aarch64 smoke: {pte.name} on {h}x{w} ({rec_arm['latency_ms']['tiles']} tiles): max |host - aarch64| = "
        f"{diff:.3g}; host build {t1 - t0:.0f} s, cross build {t2 - t1:.0f} s, qemu run {t4 - t3:.0f} s")
    if not diff <= 1e-4:
        raise NativeError(f"the aarch64 runner's output differs from the host's by {diff:.3g} (> 1e-4)")
    return {"max_abs": diff, "host": rec_host, "aarch64": rec_arm,
            "seconds": {"host_build": t1 - t0, "cross_build": t2 - t1, "qemu_run": t4 - t3}}


# --------------------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hpun_edge.app.native", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="configure and build hpun_runner")
    b.add_argument("--arch", choices=ARCHES, default="host")
    b.add_argument("--build-dir", default=None)
    b.add_argument("--no-kernels", action="store_true", help="do not link native/kernels")
    b.add_argument("--jobs", type=int, default=2)
    r = sub.add_parser("run", help="run hpun_runner (host build; --arch aarch64: under qemu), print its record")
    r.add_argument("--arch", choices=ARCHES, default="host")
    sub.add_parser("smoke-aarch64", help="cross-build, run under qemu-aarch64, compare with the host runner")
    args, rest = p.parse_known_args(argv)
    try:
        if args.cmd == "build":
            if rest:
                p.error(f"unrecognized arguments: {' '.join(rest)}")
            t0 = time.monotonic()
            runner = build_runner(args.arch, args.build_dir, kernels=not args.no_kernels, jobs=args.jobs)
            print(f"{runner} ({time.monotonic() - t0:.0f} s)")
        elif args.cmd == "run":
            runner = default_build_dir(args.arch) / RUNNER
            if not runner.is_file():
                raise NativeError(f"{runner}: not built; build it: make native"
                                  + ("-aarch64" if args.arch == "aarch64" else ""))
            cmd = (qemu_prefix() if args.arch == "aarch64" else []) + [str(runner)] + rest
            return subprocess.call(cmd)
        else:
            if rest:
                p.error(f"unrecognized arguments: {' '.join(rest)}")
            smoke_aarch64()
    except NativeError as e:
        print(f"hpun-edge native: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
