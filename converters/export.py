"""Export an artifact with its sidecar, and load one back checked: the two things every target shares.

``export(model, ExportSpec(...), path)`` converts the target's module of ``model`` at the fixed tile
(``TargetSpec.fp32_module``, ``model.forward_even`` for most; the int8 module of a quantization) and
writes the artifact and its sidecar, each atomically. ``load_artifact(path)`` checks the artifact
against its sidecar and returns a `Runner` (a forward for `hpun_edge.inference.upscale` with
``fixed_size=True``) and the sidecar.
"""
from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from hpun_edge.files import atomic_write_bytes

from . import kernels as kernel_library
from .base import ArtifactError, ExportSpec, TargetSpec, one_line
from .registry import TARGETS, get_target, targets_for_suffix
from .sidecar import (
    UNTRAINED, Sidecar, artifact_digest, atomic_write_dir, file_sha256, read_sidecar, remove_path, sidecar_path,
    tool_versions,
)


def _missing_package(target: TargetSpec, e: ModuleNotFoundError) -> ArtifactError:
    return ArtifactError(f"the {target.name} target needs the Python package {e.name!r} "
                         f"(pip install 'hpun-edge[{target.extra}]')")


def _check_request(model: nn.Module, spec: ExportSpec, target: TargetSpec, out_path: Path, quantized) -> None:
    if out_path.suffix != target.suffix:
        raise ValueError(f"{out_path}: a {target.name} artifact must end in {target.suffix}")
    if spec.precision not in target.precisions:
        raise ValueError(f"{out_path}: {target.name} export supports {', '.join(target.precisions)}, "
                         f"not {spec.precision}")
    name = getattr(getattr(model, "spec", None), "name", None)
    if (name, getattr(model, "scale", None)) != (spec.model, spec.scale):
        raise ValueError(f"{out_path}: the model is {name} x{getattr(model, 'scale', '?')}, "
                         f"the spec says {spec.model} x{spec.scale}")
    if target.hpun_only and not hasattr(model, "forward_features"):
        raise ValueError(f"{out_path}: the {target.name} target converts HPUN models only, not {name}")
    if (spec.precision == "int8") != (quantized is not None):
        raise ValueError(f"{out_path}: int8 export takes a quantized model (hpun_edge.quantization.quantize), "
                         "other precisions none")
    if quantized is not None and (quantized.quantizer, quantized.model, quantized.scale) != (
            target.quantizer, spec.model, spec.scale):
        raise ValueError(f"{out_path}: the quantized model is {quantized.model} x{quantized.scale} for the "
                         f"{quantized.quantizer} quantizer, the spec wants {spec.model} x{spec.scale} for "
                         f"{target.name} ({target.quantizer})")


def export(model: nn.Module, spec: ExportSpec, out_path: str | os.PathLike, *, quantized=None,
           module: nn.Module | None = None, details: dict[str, Any] | None = None, build_key: str = "") -> Sidecar:
    """Convert `model` for ``spec.target`` at ``spec.tile``; write the artifact and its sidecar.

    What is converted: `module` when given (an exact rewrite of `model`, say), else for int8 the
    quantization's module (`quantized`, made for this target's quantizer: its settings go into the
    sidecar), else the target's ``fp32_module(model)``. `model` names the artifact and is what the
    artifact's convolutions are counted against (for int8: the quantization's ``census_model``).
    ``details`` are added to the sidecar's; ``build_key`` is recorded (the pipeline's freshness key).
    Each file is written atomically (temp beside it, fsync, rename); the artifact is described
    while still a temp file; if anything fails, neither file is left, nor a temp file.
    """
    out_path = Path(out_path)
    target = get_target(spec.target)
    _check_request(model, spec, target, out_path, quantized)
    if spec.weights is not None:
        weights = Path(spec.weights)
        if not weights.is_file():
            raise FileNotFoundError(f"{weights}: no such weights file")
        source, source_sha = str(weights), file_sha256(weights)
    else:
        source, source_sha = UNTRAINED, None
    was_training = model.training
    if module is not None:
        module, census_model = module.eval(), module
    elif quantized is not None:  # already in eval mode (an exported PT2E graph cannot be switched)
        module, census_model = quantized.export_module, quantized.census_model
    else:
        module = census_model = target.fp32_module(model)
    sample = torch.rand(spec.input_shape, generator=torch.Generator().manual_seed(0))
    t0 = time.monotonic()
    described: dict[str, Any] = {}
    try:
        try:
            handle = target.convert(module, sample, spec)
        except ModuleNotFoundError:
            raise
        except Exception as e:  # converters raise anything, often many lines long; the cause is chained
            raise ArtifactError(f"{out_path}: {target.name} conversion failed: {type(e).__name__}: {one_line(e)}") from e

        def write(tmp) -> None:
            tmp = Path(tmp)
            target.write(handle, tmp)
            described.update(target.describe(handle, tmp, spec, census_model))
            described["digest"] = artifact_digest(tmp)

        (atomic_write_dir if target.directory else atomic_write_bytes)(out_path, write)
    except ModuleNotFoundError as e:
        raise _missing_package(target, e) from None
    finally:
        model.train(was_training)

    try:
        digest, size = described["digest"]
        sidecar = Sidecar(
            target=target.name, artifact=out_path.name, artifact_sha256=digest, artifact_bytes=size,
            source=source, source_sha256=source_sha, model=spec.model, scale=spec.scale, precision=spec.precision,
            tile=spec.tile, input_shape=spec.input_shape, output_shape=spec.output_shape,
            tool_versions=tool_versions(target.packages), exporter=target.exporter,
            exported_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            export_seconds=round(time.monotonic() - t0, 2), ops=described.get("ops", {}),
            problems=list(described.get("problems", [])), details={**described.get("details", {}), **(details or {})},
            quantization=quantized.settings() if quantized is not None else None,
            kernels=kernel_library.kernels_info() if target.kernels else None, build_key=build_key,
        )
        text = sidecar.to_json()
        atomic_write_bytes(sidecar_path(out_path), lambda tmp: Path(tmp).write_text(text))
    except BaseException:  # no artifact without its sidecar (nor a previous export's sidecar left alone)
        remove_path(out_path)
        sidecar_path(out_path).unlink(missing_ok=True)
        raise
    return sidecar


# ------------------------------------------------------------------------------------------ load
class Runner:
    """A loaded artifact as a forward: float (1, C, T, T) tensor -> (1, C, T*s, T*s) tensor.

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
            raise ValueError(f"{self.path}: input of shape {tuple(x.shape)}, the artifact takes exactly {expected} "
                             "(tile with fixed_size=True)")
        y = self._fn(x.detach().to("cpu", torch.float32).contiguous())
        if tuple(y.shape) != tuple(self.sidecar.output_shape):
            raise ArtifactError(f"{self.path}: returned shape {tuple(y.shape)}, the sidecar says "
                                f"{tuple(self.sidecar.output_shape)}")
        return y

    def __repr__(self) -> str:
        return f"Runner({self.sidecar.target}, {self.path})"


def artifact_target(path: Path) -> TargetSpec:
    """The target of an artifact file: by its suffix, and by its sidecar where targets share one (.pte).
    A file that is not of the suffix's format is refused before its sidecar is read."""
    candidates = targets_for_suffix(path.suffix)
    if not candidates:
        suffixes = sorted({t.suffix for t in TARGETS.values()})
        raise ArtifactError(f"{path}: not an artifact (expected one of {', '.join(suffixes)})")
    problems = [t.check_format(path) for t in candidates]
    if all(problems):
        raise ArtifactError(f"{path}: {problems[0]}")
    if len(candidates) == 1:
        return candidates[0]
    name = read_sidecar(path).target
    for t in candidates:
        if t.name == name:
            return t
    raise ArtifactError(f"{path}: the sidecar is for a {name} artifact, a {path.suffix} file is "
                        f"{' or '.join(t.name for t in candidates)}")


def load_artifact(path: str | os.PathLike, *, threads: int | None = None) -> tuple[Runner, Sidecar]:
    """Check an artifact against its sidecar and load it with its runtime (CPU).

    Refuses with `ArtifactError` (one line naming the file): unknown suffix, missing file, a file
    that is not of the target's format, a missing/unreadable sidecar, a size or sha256 that differs
    from the sidecar (truncated, modified, foreign), a runtime whose real input/output shapes are
    not the sidecar's, and a runtime that cannot load it. ``threads``: intra-op threads of the
    runtime (None: the runtime's default). A program that calls the project's kernels loads them
    first (building them if needed: a `NativeError` naming the fix).
    """
    path = Path(path)
    if targets_for_suffix(path.suffix) and not path.exists():
        raise ArtifactError(f"{path}: no such artifact")
    target = artifact_target(path)
    sidecar = read_sidecar(path)
    if sidecar.target != target.name:
        raise ArtifactError(f"{path}: the sidecar is for a {sidecar.target} artifact, the file is {target.name}")
    digest, size = artifact_digest(path)
    if size != sidecar.artifact_bytes:
        what = "truncated" if size < sidecar.artifact_bytes else "not the exported file"
        raise ArtifactError(f"{path}: {what}: {size} bytes, the sidecar records {sidecar.artifact_bytes}")
    if digest != sidecar.artifact_sha256:
        raise ArtifactError(f"{path}: contents differ from the exported file (sha256 {digest[:12]}..., "
                            f"the sidecar records {sidecar.artifact_sha256[:12]}...)")
    if sidecar.output_shape[2:] != [d * sidecar.scale for d in sidecar.input_shape[2:]]:
        raise ArtifactError(f"{path}: the sidecar's shapes {sidecar.input_shape} -> {sidecar.output_shape} "
                            f"disagree with its scale {sidecar.scale}")
    if target.kernels:
        kernel_library.load_kernels()
    try:
        fn = target.load(path, sidecar, threads)
    except ArtifactError:
        raise
    except ModuleNotFoundError as e:
        raise _missing_package(target, e) from None
    except Exception as e:  # the runtimes raise RuntimeError, ValueError, their own types
        raise ArtifactError(f"{path}: the {target.name} runtime cannot load it ({one_line(e)})") from None
    return Runner(fn, sidecar, path), sidecar
