"""The project's kernel library: built from its shipped C++ sources, loaded into ExecuTorch's runtime.

The sources are ``native/`` of the repository, installed with the package as ``hpun_edge.csrc``
(`native_source`). `build_kernels` configures them with CMake against the installed executorch
wheel and builds ``libhpun_kernels_py.so`` into the cache folder (`hpun_edge.files.cache_dir`, one
folder per source location and executorch version; incremental after the first time);
`load_kernels` loads it into this process, whose ExecuTorch runtime then resolves the ``hpun::``
operators of a .pte from it. `sources_sha256` fingerprints the kernel sources: an artifact that
needs the library records it (a changed kernel invalidates the artifacts made for the old one).

Every problem is a `NativeError` whose text is one line naming the fix (a missing cmake or C++
compiler names the Debian package). The build helpers here (`missing_build_tools`,
`run_build_step`) also build the native runner (`hpun_edge.app.native`).
"""
from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from hpun_edge.files import cache_dir

PY_MODULE = "libhpun_kernels_py.so"
SOURCE_SUFFIXES = (".cpp", ".h", ".hpp", ".cmake", ".txt", ".json")  # what a build reads (not docs, scripts)


class NativeError(RuntimeError):
    """Building, loading or running native code failed; str() is one line naming the fix."""

    def __init__(self, message: str, returncode: int | None = None, stderr: str = ""):
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr


# ------------------------------------------------------------------------------------- sources
def native_source() -> Path:
    """The shipped C++ sources: the repository's ``native/`` (``hpun_edge.csrc`` when installed)."""
    spec = importlib.util.find_spec("hpun_edge.csrc")
    if spec is None or spec.origin is None:
        raise NativeError("the package has no C++ sources (hpun_edge.csrc); reinstall hpun-edge")
    return Path(spec.origin).resolve().parent


def kernels_source() -> Path:
    return native_source() / "kernels"


def sources_sha256(folder: Path | None = None) -> str:
    """sha256 over the kernel sources' relative names and contents (what a build of them reads)."""
    folder = Path(folder) if folder is not None else kernels_source()
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in SOURCE_SUFFIXES):
        h.update(f.relative_to(folder).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def kernels_info() -> dict:
    """What an artifact that calls the ``hpun::`` ops records about the library it needs."""
    return {"library": PY_MODULE, "cmake_target": "hpun_kernels", "sources_sha256": sources_sha256()}


# ----------------------------------------------------------------------------------- build tools
def need_tool(tool: str, package: str, why: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise NativeError(f"{why} needs {tool}, not found; install it: apt-get install {package}")
    return path


def cxx_compiler() -> str:
    """The host C++ compiler CMake will pick ($CXX, c++, g++, clang++)."""
    for name in filter(None, (os.environ.get("CXX"), "c++", "g++", "clang++")):
        if shutil.which(name.split()[0]):
            return name
    raise NativeError("building the project's C++ code needs a C++ compiler, none found; install it: "
                      "apt-get install g++")


def missing_host_tools(why: str = "building the project's C++ code") -> list[str]:
    """What a host build lacks here (cmake, a C++ compiler), one line each naming the fix."""
    problems = []
    for check in (lambda: need_tool("cmake", "cmake", why), cxx_compiler):
        try:
            check()
        except NativeError as e:
            problems.append(str(e))
    return problems


def cmake_message(text: str) -> str | None:
    """Our own FATAL_ERROR message ('hpun: ...') out of CMake's output, which wraps it over indented lines."""
    at = text.find("hpun: ")
    if at < 0:
        return None
    return " ".join(text[at:].split("\n\n", 1)[0].split())


def run_build_step(cmd: list[str], what: str, build_dir: Path, timeout: float) -> None:
    """Run one CMake step; its whole output goes to ``<build_dir>/build.log``; a failure is one line."""
    build_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    text = proc.stdout + proc.stderr
    with open(build_dir / "build.log", "a") as log:
        log.write(f"$ {' '.join(cmd)}\n{text}\n")
    if proc.returncode != 0:
        first = cmake_message(text) or next(
            (l.strip() for l in text.splitlines() if "error" in l.lower()), f"exit status {proc.returncode}")
        raise NativeError(f"{what} in {build_dir} failed: {first} (full output: {build_dir / 'build.log'})",
                          proc.returncode, text)


def executorch_version() -> str:
    try:
        return version("executorch")
    except PackageNotFoundError:
        raise NativeError("the project's kernels build against the executorch wheel, not installed; "
                          "pip install 'hpun-edge[executorch]'") from None


# ----------------------------------------------------------------------------- kernel library
def kernels_build_dir() -> Path:
    """The cache folder of this source location and executorch version (CMake builds incrementally there)."""
    key = hashlib.sha256(f"{kernels_source()}\0{executorch_version()}\0{sys.executable}".encode()).hexdigest()
    return cache_dir() / "kernels" / key[:16]


def build_kernels(build_dir: Path | None = None, timeout: float = 1200) -> Path:
    """Configure (the first time) and build ``libhpun_kernels_py.so``; returns its path. Without
    cmake or a C++ compiler an existing build is used as it is; with neither, a NativeError."""
    build = Path(build_dir) if build_dir is not None else kernels_build_dir()
    lib = build / PY_MODULE
    problems = missing_host_tools("building the project's kernels (the executorch-fused target)")
    if problems:
        if lib.is_file():
            return lib
        raise NativeError(problems[0])
    if not (build / "CMakeCache.txt").is_file():
        run_build_step(["cmake", "-S", str(kernels_source()), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                        f"-DHPUN_PYTHON={sys.executable}", "-DHPUN_KERNELS_BUILD_PY_MODULE=ON"],
                       "configuring the kernels", build, timeout)
    run_build_step(["cmake", "--build", str(build), "--target", "hpun_kernels_py", "--parallel", "2"],
                   "building the kernels", build, timeout)
    if not lib.is_file():
        raise NativeError(f"{build}: the build finished without {PY_MODULE}; see {build / 'build.log'}")
    return lib


_LOADED: dict[str, Path] = {}


def load_kernels(path: Path | None = None) -> Path:
    """Register the ``hpun::`` operators with the ExecuTorch runtime of this process: the library
    at `path`, else ``$HPUN_KERNELS_LIB``, else `build_kernels()`'s. The shared module links the
    wheel's libexecutorch.so, the library the ExecuTorch Python extension uses, so its static
    initializers register into the registry that loaded programs resolve their operators from.
    Loading twice is a no-op; the registration lasts for the life of the process."""
    if "lib" in _LOADED:
        return _LOADED["lib"]
    if path is None and os.environ.get("HPUN_KERNELS_LIB"):
        path = Path(os.environ["HPUN_KERNELS_LIB"])
        if not path.is_file():
            raise NativeError(f"HPUN_KERNELS_LIB={path}: no such file; unset it to build the kernels")
    lib = Path(path) if path is not None else build_kernels()
    try:
        ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
    except OSError as e:
        raise NativeError(f"{lib}: cannot be loaded ({e}); delete {lib.parent} to rebuild it") from None
    _LOADED["lib"] = lib
    return lib


def registered_ops() -> list[str]:
    """The ``hpun::`` operators ExecuTorch's registry holds in this process (after `load_kernels`)."""
    from executorch.extension.pybindings import portable_lib

    return sorted(name for name in portable_lib._get_operator_names() if name.startswith("hpun::"))
