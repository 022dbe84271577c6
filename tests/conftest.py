"""Shared fixtures. Tests that need the benchmark data skip with a reason where no data root exists,
except under CI (CI=true), where a missing data root is a failure; so do the native-kernel tests
without cmake or a C++ compiler (`kernels_build`)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _find_data_root() -> Path | None:
    for candidate in (os.environ.get("HPUN_EDGE_DATA"), REPO / "data", REPO.parent / "shared" / "datasets"):
        if candidate and (Path(candidate) / "Set5" / "HR").is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = _find_data_root()
    if root is None:
        message = "no data root with Set5/HR ($HPUN_EDGE_DATA, ./data, ../shared/datasets)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)
    return root


@pytest.fixture(scope="session")
def kernels_build(tmp_path_factory) -> Path:
    """native/kernels built once per session (CMake, Release, against the ExecuTorch wheel)."""
    from hpun_edge.converters.kernels import PY_MODULE, kernels_source

    cmake = shutil.which("cmake")
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if not cmake or not cxx:
        message = f"needs cmake and a C++ compiler (cmake={cmake}, c++={cxx})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)
    build = tmp_path_factory.mktemp("hpun_kernels_build")
    configure = [cmake, "-S", str(kernels_source()), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                 f"-DHPUN_PYTHON={sys.executable}"]
    nice = ["nice", "-n", "10"] if shutil.which("nice") else []  # a shared machine: build politely
    for cmd in (configure, [cmake, "--build", str(build), "-j2"]):
        r = subprocess.run(nice + cmd, capture_output=True, text=True)
        assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    assert (build / "hpun_fused_pud_driver").is_file() and (build / PY_MODULE).is_file()
    return build


@pytest.fixture(scope="session")
def kernels_build_aarch64(tmp_path_factory) -> Path:
    """native/kernels cross-built for AArch64 Linux (CMake, the project's toolchain file), without
    ExecuTorch: the static plain drivers hpun_fused_pud_plain and hpun_pw_q8_plain, for qemu-aarch64.
    Skips without the cross compiler or qemu (an optional cross-check; native/scripts/setup_aarch64.sh
    installs them)."""
    from hpun_edge.converters.kernels import kernels_source

    cmake, cxx, qemu = shutil.which("cmake"), shutil.which("aarch64-linux-gnu-g++"), shutil.which("qemu-aarch64")
    if not cmake or not cxx or not qemu:
        pytest.skip("needs cmake, aarch64-linux-gnu-g++ and qemu-aarch64 (an optional cross-check)")
    build = tmp_path_factory.mktemp("hpun_kernels_aarch64")
    toolchain = REPO / "native" / "toolchains" / "aarch64-linux-gnu.cmake"
    configure = [cmake, "-S", str(kernels_source()), "-B", str(build), f"-DCMAKE_TOOLCHAIN_FILE={toolchain}",
                 "-DCMAKE_BUILD_TYPE=Release", "-DHPUN_KERNELS_EXECUTORCH=OFF", "-DCMAKE_EXE_LINKER_FLAGS=-static"]
    nice = ["nice", "-n", "10"] if shutil.which("nice") else []
    for cmd in (configure, [cmake, "--build", str(build), "-j2"]):
        r = subprocess.run(nice + cmd, capture_output=True, text=True)
        assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return build
