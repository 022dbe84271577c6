"""The JSON sidecar beside every artifact, and the digests an artifact is checked and keyed by.

An artifact is one file (``.onnx``, ``.pte``, ``.tflite``) or one directory (``.mlpackage``) with a
sidecar beside it named ``<artifact>.json`` (``hpun_s_x2.onnx`` -> ``hpun_s_x2.onnx.json``). The
sidecar records where the weights came from, the fixed tile it was exported at, the input/output
contract (NCHW float32 in [0, 1], ``lr`` -> ``sr``), the tool versions, the ops the target ended up
with, the kernel library it needs (if any), the sha256 of the artifact (checked before a runner is
handed out), and ``build_key``: a hash of everything that determined the artifact (weights,
settings, tool versions, the code that made it, the kernel sources), by which a later run decides
whether the artifact is still what it would make.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from hpun_edge.versions import tool_versions  # re-exported: sidecars record them

from .base import INPUT_NAME, OUTPUT_NAME, ArtifactError, one_line

SIDECAR_FORMAT = "hpun-edge-artifact/1"
UNTRAINED = "untrained/random init"


@dataclass
class Sidecar:
    """The JSON written beside an artifact; `load_artifact` trusts an artifact only through it."""

    target: str
    artifact: str  # file or folder name of the artifact, beside this sidecar
    artifact_sha256: str
    artifact_bytes: int
    source: str  # the weights file, or UNTRAINED
    source_sha256: str | None
    model: str
    scale: int
    precision: str
    tile: int
    input_shape: list[int]
    output_shape: list[int]
    input_name: str = INPUT_NAME
    output_name: str = OUTPUT_NAME
    value_range: list[float] = field(default_factory=lambda: [0.0, 1.0])
    layout: str = "NCHW"
    dtype: str = "float32"
    tool_versions: dict[str, str] = field(default_factory=dict)
    exporter: str = ""
    exported_at: str = ""
    export_seconds: float = 0.0
    ops: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    quantization: dict[str, Any] | None = None  # int8: quantizer, method, rewrites, calibration, QAT budget
    kernels: dict[str, Any] | None = None  # the project's kernel library it needs: library, sources_sha256
    build_key: str = ""  # hash of what determined the artifact (see the module docstring)
    details: dict[str, Any] = field(default_factory=dict)
    format: str = SIDECAR_FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Sidecar":
        """Parse; raises ValueError naming what is wrong (the caller adds the file name)."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        if data.get("format") != SIDECAR_FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {SIDECAR_FORMAT!r}")
        names = {f.name for f in fields(cls)}
        required = [f.name for f in fields(cls) if f.default is f.default_factory is MISSING]
        missing = [n for n in required if n not in data]
        if missing:
            raise ValueError(f"missing field(s) {', '.join(missing)}")
        sc = cls(**{k: v for k, v in data.items() if k in names})
        for name in ("scale", "tile", "artifact_bytes"):
            if not isinstance(getattr(sc, name), int):
                raise ValueError(f"{name} is not an integer")
        for name in ("input_shape", "output_shape"):
            if not (isinstance(getattr(sc, name), list) and len(getattr(sc, name)) == 4):
                raise ValueError(f"{name} is not a 4-d shape")
        return sc


def sidecar_path(artifact: str | os.PathLike) -> Path:
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".json")


def read_sidecar(artifact: str | os.PathLike) -> Sidecar:
    artifact = Path(artifact)
    sp = sidecar_path(artifact)
    if not sp.is_file():
        raise ArtifactError(f"{artifact}: no sidecar {sp.name} beside it (export it with hpun_edge.converters.export)")
    try:
        return Sidecar.from_json(sp.read_text())
    except (ValueError, TypeError, OSError, UnicodeDecodeError) as e:
        raise ArtifactError(f"{artifact}: sidecar {sp.name} is not usable ({one_line(e)})") from None


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def artifact_digest(path: Path) -> tuple[str, int]:
    """sha256 and size in bytes of a file, or of a directory tree (relative names and contents)."""
    path = Path(path)
    if not path.is_dir():
        return file_sha256(path), path.stat().st_size
    h, total = hashlib.sha256(), 0
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f.relative_to(path).as_posix().encode() + b"\0")
        h.update(bytes.fromhex(file_sha256(f)))
        total += f.stat().st_size
    return h.hexdigest(), total



def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _fsync_tree(root: Path) -> None:
    for p in [root, *root.rglob("*")]:
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())


def _usual_modes(root: Path) -> None:
    """Files 0666 and folders 0777 less the umask (tempfile-made ones come out 0600/0700)."""
    mask = os.umask(0)
    os.umask(mask)
    for p in [root, *root.rglob("*")]:
        if not p.is_symlink():
            os.chmod(p, (0o777 if p.is_dir() else 0o666) & ~mask)


def atomic_write_dir(path: Path, write: Callable[[Path], None]) -> None:
    """`hpun_edge.files.atomic_write_bytes` for an artifact that is a directory (an .mlpackage).

    write(staged) builds the directory at ``<temp dir beside path>/<path.name>``; its files are
    fsynced and it is renamed into place (a previous one at `path` is moved aside, then deleted).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        staged = tmpdir / path.name
        write(staged)
        if not staged.is_dir():
            raise ArtifactError(f"{path}: the writer produced no directory")
        _usual_modes(staged)
        _fsync_tree(staged)
        old = tmpdir / (path.name + ".old")
        if path.exists() or path.is_symlink():
            os.replace(path, old)
        try:
            os.replace(staged, path)
        except BaseException:
            if old.exists() and not path.exists():
                os.replace(old, path)
            raise
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
