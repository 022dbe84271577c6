"""The targets, one `TargetSpec` per target module: the only place that lists them.

Adding a target is adding its module (``<name>_target.py`` with a ``SPEC``) and its line here.
"""
from __future__ import annotations

from . import coreml_target, executorch_fused_target, executorch_target, litert_target, onnx_target
from .base import TargetSpec

TARGETS: dict[str, TargetSpec] = {spec.name: spec for spec in (
    executorch_target.SPEC,
    executorch_fused_target.SPEC,
    litert_target.SPEC,
    onnx_target.SPEC,
    coreml_target.SPEC,
)}
ALIASES: dict[str, str] = {alias: spec.name for spec in TARGETS.values() for alias in spec.aliases}


def target_names(*, include_aliases: bool = False) -> list[str]:
    return [*TARGETS, *ALIASES] if include_aliases else list(TARGETS)


def get_target(name: str) -> TargetSpec:
    """The spec of a target by its name or an alias; an unknown name lists the valid ones."""
    spec = TARGETS.get(ALIASES.get(name, name))
    if spec is None:
        raise ValueError(f"unknown target {name!r}; valid: {', '.join(target_names(include_aliases=True))}")
    return spec


def targets_for_suffix(suffix: str) -> list[TargetSpec]:
    return [t for t in TARGETS.values() if t.suffix == suffix]
