"""Installed, not only checked out: the wheel holds ``hpun_edge`` and nothing else at its top level
(its layers as subpackages, the weights and the C++ sources as package data), and the package runs
from it in another folder: `hpun-edge info` and a one-target pipeline on Set5, building nothing
in the source tree or in the install."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of this working tree, built from a copy of its files (setuptools writes a build/
    folder beside the sources it builds: not into the checkout)."""
    src, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    for name in files:
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(out), str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (path,) = out.glob("hpun_edge-*.whl")
    return path


def test_the_wheel_owns_hpun_edge_only(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"hpun_edge", next(t for t in tops if t.endswith(".dist-info"))}, tops
    for module in ("hpun_edge/quantization/pt2e.py", "hpun_edge/converters/registry.py", "hpun_edge/app/cli.py",
                   "hpun_edge/weights/hpun_s_x2.safetensors", "hpun_edge/csrc/kernels/CMakeLists.txt",
                   "hpun_edge/csrc/runner/main.cpp", "hpun_edge/csrc/CMakeLists.txt"):
        assert module in names, module
    assert not any("/build/" in n or n.endswith((".so", ".o")) for n in names)


@pytest.mark.slow
def test_the_installed_package_runs_from_another_folder(wheel, tmp_path, data_root):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def run(code: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True,
                              timeout=1200)

    r = run("import hpun_edge, hpun_edge.quantization as q, hpun_edge.converters as c, hpun_edge.csrc as s; "
            "print(hpun_edge.__file__, q.__file__, c.__file__, s.__file__)")
    assert r.returncode == 0, r.stderr[-3000:]
    assert all(f.startswith(str(site)) for f in r.stdout.split()), r.stdout  # not the checkout's files
    r = run("from hpun_edge.converters.kernels import sources_sha256; print(sources_sha256())")
    from hpun_edge.converters.kernels import sources_sha256

    assert r.stdout.strip() == sources_sha256()  # the same kernel sources, shipped
    r = run("import sys; from hpun_edge.app.cli import main; sys.exit(main(['info']))")
    assert r.returncode == 0 and "| hpun_s | x2 |" in r.stdout, r.stderr[-3000:]
    (work / "cfg.yaml").write_text("latency_runs: 1\nlatency_warmup: 1\n")
    r = run("import sys; from hpun_edge.app.cli import main; sys.exit(main(['pipeline', '--targets', 'onnx', "
            f"'--precisions', 'fp32', '--datasets', 'Set5', '--data-root', '{data_root}', '--tile', '256', "
            "'--config', 'cfg.yaml', '--out', 'out']))")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert (work / "out" / "report.md").is_file() and list((work / "out" / "artifacts").glob("*.onnx"))
    built = [p for p in site.rglob("*") if p.suffix in (".so", ".o") or p.name == "CMakeCache.txt"]
    assert not built, built  # nothing written into the install
