"""What every target shares: the export spec, the sidecar, atomic writing, and checked loading.

An artifact is one file (``.onnx``, ``.pte``, ``.tflite``) or one directory (``.mlpackage``) with a
JSON sidecar beside it named ``<artifact>.json`` (``hpun_s_x2.onnx`` -> ``hpun_s_x2.onnx.json``). The
sidecar records where the weights came from, the fixed tile it was exported at, the input/output
contract (NCHW float32 in [0, 1], ``lr`` -> ``sr``), the tool versions, the ops the target ended up
with, and the sha256 of the artifact, which `load_artifact` checks before handing out a runner.

A target module (``converters/<target>_target.py``) imports its heavy package only inside its
functions and provides:

* ``TARGET``, ``SUFFIX``, ``PRECISIONS``, ``PACKAGES`` (distributions whose versions are recorded),
  ``EXPORTER`` (one line: the API that produced the artifact), ``DIRECTORY`` (artifact is a folder);
* ``convert(module, sample, spec) -> handle``: the conversion, in memory, nothing written;
* ``write(handle, path)``: the writer; `export` hands it a temp path beside the destination;
* ``describe(handle, path, spec, model) -> dict`` with ``ops``, ``problems`` and ``details``;
* ``check_format(path) -> str | None``: a cheap look at the file (no heavy import): the problem, or None;
* ``load(path, sidecar, threads) -> callable``: float32 NCHW tensor of the input shape -> output.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from hpun_edge.variants import check_scale, get_variant
from hpun_edge.weights import atomic_write_bytes

SIDECAR_FORMAT = "hpun-edge-artifact/1"
INPUT_NAME = "lr"
OUTPUT_NAME = "sr"
UNTRAINED = "untrained/random init"
PRECISIONS = ("fp32", "fp16", "int8")

# target -> module; artifact suffix -> target; the pip extra that installs the target's packages
TARGET_MODULES = {
    "onnx": "converters.onnx_target",
    "executorch": "converters.executorch_target",
    "litert": "converters.litert_target",
    "coreml": "converters.coreml_target",
}
SUFFIXES = {".onnx": "onnx", ".pte": "executorch", ".tflite": "litert", ".mlpackage": "coreml"}
TARGETS = tuple(TARGET_MODULES)


class ArtifactError(ValueError):
    """An artifact that cannot be exported, trusted or run; str() is one line naming the file."""


def one_line(e: BaseException | str) -> str:
    """The first non-empty line of an exception's text (runtimes raise multi-line messages)."""
    first = next((l.strip() for l in str(e).splitlines() if l.strip()), "")
    if not first and isinstance(e, BaseException):
        return type(e).__name__
    return first


# ------------------------------------------------------------------------------------------ spec
@dataclass(frozen=True)
class ExportSpec:
    """What to export: target, precision, the fixed LR tile (even), scale, variant, source weights."""

    target: str
    model: str
    scale: int
    tile: int
    precision: str = "fp32"
    weights: str | None = None  # the .safetensors the model was loaded from; None: untrained

    def __post_init__(self) -> None:
        if self.target not in TARGET_MODULES:
            raise ValueError(f"unknown target {self.target!r}; valid targets: {', '.join(TARGETS)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; valid: {', '.join(PRECISIONS)}")
        if not isinstance(self.tile, int) or self.tile <= 0 or self.tile % 2:
            raise ValueError(f"tile must be a positive even number of LR pixels (pixel_unshuffle), got {self.tile}")
        check_scale(get_variant(self.model), self.scale)

    @classmethod
    def for_model(cls, model: nn.Module, target: str, tile: int, precision: str = "fp32",
                  weights: str | os.PathLike | None = None) -> "ExportSpec":
        return cls(target, model.spec.name, model.scale, tile, precision,
                   str(weights) if weights is not None else None)

    @property
    def input_shape(self) -> list[int]:
        return [1, 3, self.tile, self.tile]

    @property
    def output_shape(self) -> list[int]:
        return [1, 3, self.tile * self.scale, self.tile * self.scale]


class EvenForward(nn.Module):
    """``model.forward_even`` as a module's forward, so the exported graph has no pad/crop branch."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.model.forward_even(lr)


def conv_census(model: nn.Module) -> dict[str, int]:
    """The model's convolutions by kind: dense k x k, pointwise 1x1, depthwise, grouped."""
    census = {"dense": 0, "pointwise": 0, "depthwise": 0, "grouped": 0}
    for m in model.modules():
        kind = getattr(m, "CONV_KIND", None)  # a conv held as constants (converters.int8_ops._Q8Pointwise)
        if kind is not None:
            census[kind] += 1
        elif isinstance(m, nn.Conv2d):
            if m.groups == 1:
                census["pointwise" if m.kernel_size == (1, 1) else "dense"] += 1
            elif m.groups == m.in_channels == m.out_channels:
                census["depthwise"] += 1
            else:
                census["grouped"] += 1
    census["total"] = sum(census.values())
    return census


def conv_group_problems(groups: list[int], model: nn.Module, what: str) -> list[str]:
    """Where an artifact's conv ops (given by their group counts) do not match the model's convs."""
    census = conv_census(model)
    problems = []
    if len(groups) != census["total"]:
        problems.append(f"{len(groups)} {what} for the model's {census['total']} convolutions")
    grouped, wanted = sum(g > 1 for g in groups), census["depthwise"] + census["grouped"]
    if grouped != wanted:
        problems.append(f"{grouped} {what} with groups > 1 for the model's {wanted} depthwise/grouped convolutions")
    return problems


# --------------------------------------------------------------------------------------- sidecar
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
    quantization: dict[str, Any] | None = None  # int8: method, rewrites, calibration, QAT budget (quantization/)
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
        raise ArtifactError(f"{artifact}: no sidecar {sp.name} beside it (export it with converters.export)")
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


def tool_versions(packages: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for name in ("torch", *packages):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


# ---------------------------------------------------------------------------------------- export
def target_module(target: str):
    if target not in TARGET_MODULES:
        raise ValueError(f"unknown target {target!r}; valid targets: {', '.join(TARGETS)}")
    return importlib.import_module(TARGET_MODULES[target])


def _missing_package(target: str, e: ModuleNotFoundError) -> ArtifactError:
    return ArtifactError(
        f"the {target} target needs the Python package {e.name!r} (pip install 'hpun-edge[{target}]')"
    )


def export(model: nn.Module, spec: ExportSpec, out_path: str | os.PathLike, quantized=None, *,
           forward_module: nn.Module | None = None, details: dict[str, Any] | None = None,
           quantization: dict[str, Any] | None = None) -> Sidecar:
    """Convert ``model.forward_even`` at ``spec.tile`` for ``spec.target``; write artifact + sidecar.

    int8 needs ``quantized``, a `quantization.QuantizedModel` made from `model` for this target: its
    reference graph (quantize/dequantize around int8 ops) is what is lowered, and its settings go
    into the sidecar.

    ``forward_module``: what is converted instead of ``model.forward_even``, a rewrite of `model`
    that computes the same function (e.g. ``ChannelsLastIO(apply_fused_pud(model), "forward_even")``,
    converters.custom_ops); `model` still names the artifact and is what its ops are checked
    against. ``details``: added to the sidecar's details (say what the rewrite is). An int8
    ``forward_module`` carries its own quantization (the fused int8 kernels' blocks,
    quantization.fused_int8) and comes with ``quantization``, its settings for the sidecar, instead
    of a QuantizedModel.

    Each of the two is written atomically (temp beside it, fsync, rename). The artifact is described
    (ops, problems) while still a temp file; if anything fails, no file is left at ``out_path`` and
    no temp file beside it.
    """
    out_path = Path(out_path)
    mod = target_module(spec.target)
    if out_path.suffix != mod.SUFFIX:
        raise ValueError(f"{out_path}: a {spec.target} artifact must end in {mod.SUFFIX}")
    if spec.precision not in mod.PRECISIONS:
        raise ValueError(
            f"{out_path}: {spec.target} export supports {', '.join(mod.PRECISIONS)}, not {spec.precision}"
        )
    if (model.spec.name, model.scale) != (spec.model, spec.scale):
        raise ValueError(
            f"{out_path}: the model is {model.spec.name} x{model.scale}, the spec says {spec.model} x{spec.scale}"
        )
    if spec.weights is not None:
        weights = Path(spec.weights)
        if not weights.is_file():
            raise FileNotFoundError(f"{weights}: no such weights file")
        source, source_sha = str(weights), file_sha256(weights)
    else:
        source, source_sha = UNTRAINED, None

    own_int8 = forward_module is not None and quantization is not None
    if (spec.precision == "int8") != (quantized is not None or own_int8):
        raise ValueError(f"{out_path}: int8 export takes a QuantizedModel (quantization.quantize) or a forward_module "
                         f"with its quantization settings, other precisions neither")
    from quantization.targets import FAMILY

    if quantized is not None and (FAMILY[quantized.target], quantized.model, quantized.scale) != (
        FAMILY[spec.target], spec.model, spec.scale
    ):
        raise ValueError(
            f"{out_path}: the quantized model is {quantized.model} x{quantized.scale} for {quantized.target}, "
            f"the spec says {spec.model} x{spec.scale} for {spec.target}"
        )
    if forward_module is not None and quantized is not None:
        raise ValueError(f"{out_path}: forward_module replaces the fp32 forward; int8 export takes quantized only")
    was_training = model.training
    # what is converted, and the fp32 module its convolutions are counted against (an exact rewrite
    # can change their number: srdsc_fold turns HPUN-S's SRDSC(1) into one 1x1 conv)
    if forward_module is not None:
        module = census_model = forward_module.eval()
    elif quantized is None or spec.target == "coreml":  # Core ML int8 is weight-only: the fp32 graph
        module, census_model = EvenForward(model).eval(), model
    else:
        from quantization.rewrites import apply_rewrites

        module, census_model = quantized.reference, apply_rewrites(model, quantized.rewrites)
    sample = torch.rand(spec.input_shape, generator=torch.Generator().manual_seed(0))
    t0 = time.monotonic()
    described: dict[str, Any] = {}
    try:
        try:
            handle = mod.convert(module, sample, spec)
        except ModuleNotFoundError:
            raise
        except Exception as e:  # converters raise anything, often many lines long; the cause is chained
            raise ArtifactError(
                f"{out_path}: {spec.target} conversion failed: {type(e).__name__}: {one_line(e)}"
            ) from e

        def write(tmp) -> None:
            tmp = Path(tmp)
            mod.write(handle, tmp)
            described.update(mod.describe(handle, tmp, spec, census_model))
            described["digest"] = artifact_digest(tmp)

        if getattr(mod, "DIRECTORY", False):
            atomic_write_dir(out_path, write)
        else:
            atomic_write_bytes(out_path, write)
    except ModuleNotFoundError as e:
        raise _missing_package(spec.target, e) from None
    finally:
        model.train(was_training)

    try:
        digest, size = described["digest"]
        sidecar = Sidecar(
            target=spec.target,
            artifact=out_path.name,
            artifact_sha256=digest,
            artifact_bytes=size,
            source=source,
            source_sha256=source_sha,
            model=spec.model,
            scale=spec.scale,
            precision=spec.precision,
            tile=spec.tile,
            input_shape=spec.input_shape,
            output_shape=spec.output_shape,
            tool_versions=tool_versions(mod.PACKAGES),
            exporter=mod.EXPORTER,
            exported_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            export_seconds=round(time.monotonic() - t0, 2),
            ops=described.get("ops", {}),
            problems=list(described.get("problems", [])),
            details={**described.get("details", {}), **(details or {})},
            quantization=quantized.settings() if quantized is not None else quantization,
        )
        text = sidecar.to_json()
        atomic_write_bytes(sidecar_path(out_path), lambda tmp: Path(tmp).write_text(text))
    except BaseException:  # no artifact without its sidecar (nor a previous export's sidecar left alone)
        remove_path(out_path)
        sidecar_path(out_path).unlink(missing_ok=True)
        raise
    return sidecar


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
    """`atomic_write_bytes` for an artifact that is a directory (an .mlpackage).

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


# ------------------------------------------------------------------------------------------ load
class Runner:
    """A loaded artifact as a forward: float (1, 3, T, T) tensor -> (1, 3, T*s, T*s) tensor.

    Plugs into `hpun_edge.inference.upscale` / `tiled_forward` with ``fixed_size=True``.
    """

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], sidecar: Sidecar, path: Path):
        self._fn = fn
        self.sidecar = sidecar
        self.path = path
        self.scale = sidecar.scale
        self.tile = sidecar.tile

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        expected = tuple(self.sidecar.input_shape)
        if tuple(x.shape) != expected:
            raise ValueError(
                f"{self.path}: input of shape {tuple(x.shape)}, the artifact takes exactly {expected} "
                f"(tile with fixed_size=True)"
            )
        y = self._fn(x.detach().to("cpu", torch.float32).contiguous())
        if tuple(y.shape) != tuple(self.sidecar.output_shape):
            raise ArtifactError(
                f"{self.path}: returned shape {tuple(y.shape)}, the sidecar says {tuple(self.sidecar.output_shape)}"
            )
        return y

    def __repr__(self) -> str:
        return f"Runner({self.sidecar.target}, {self.path})"


def sniff(head: bytes) -> str:
    """What a file that is not the expected artifact looks like, for the error message."""
    if len(head) == 0:
        return "an empty file"
    for magic, what in (
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"PK\x03\x04", "a ZIP archive (a PyTorch .pt checkpoint?)"),
        (b"GIF8", "a GIF image"),
        (b"{", "a JSON/text file"),
    ):
        if head.startswith(magic):
            return what
    return f"a file starting with bytes {head[:8].hex(' ')}"


def load_artifact(path: str | os.PathLike, *, threads: int | None = None) -> tuple[Runner, Sidecar]:
    """Check an artifact against its sidecar and load it with its runtime (CPU).

    Refuses with `ArtifactError` (one line naming the file): unknown suffix, missing file, a file
    that is not of the target's format, a missing/unreadable sidecar, a size or sha256 that differs
    from the sidecar (truncated, modified, foreign), and a runtime that cannot load it.
    ``threads``: intra-op threads of the runtime (None: the runtime's default).
    """
    path = Path(path)
    target = SUFFIXES.get(path.suffix)
    if target is None:
        raise ArtifactError(f"{path}: not an artifact (expected one of {', '.join(SUFFIXES)})")
    if not path.exists():
        raise ArtifactError(f"{path}: no such artifact")
    mod = target_module(target)
    problem = mod.check_format(path)
    if problem:
        raise ArtifactError(f"{path}: {problem}")
    sidecar = read_sidecar(path)
    if sidecar.target != target:
        raise ArtifactError(f"{path}: the sidecar is for a {sidecar.target} artifact, the file is {target}")
    digest, size = artifact_digest(path)
    if size != sidecar.artifact_bytes:
        what = "truncated" if size < sidecar.artifact_bytes else "not the exported file"
        raise ArtifactError(f"{path}: {what}: {size} bytes, the sidecar records {sidecar.artifact_bytes}")
    if digest != sidecar.artifact_sha256:
        raise ArtifactError(
            f"{path}: contents differ from the exported file (sha256 {digest[:12]}..., "
            f"the sidecar records {sidecar.artifact_sha256[:12]}...)"
        )
    try:
        fn = mod.load(path, sidecar, threads)
    except ArtifactError:
        raise
    except ModuleNotFoundError as e:
        raise _missing_package(target, e) from None
    except Exception as e:  # the runtimes raise RuntimeError, ValueError, their own types
        raise ArtifactError(f"{path}: the {target} runtime cannot load it ({one_line(e)})") from None
    return Runner(fn, sidecar, path), sidecar
