"""Converters (layer 3, installed as ``hpun_edge.converters``): one module per target, one registry.

``TARGETS`` holds one `TargetSpec` per target module (``executorch``, ``executorch-fused``,
``litert``, ``onnx``, ``coreml``); ``export(model, ExportSpec(...), path)`` writes an artifact and
its sidecar; ``load_artifact(path)`` checks one against its sidecar and returns a runner. Importing
this package imports torch and the core only: each target imports its runtime inside its functions.
"""
from .base import ArtifactError, ExportSpec, TargetSpec
from .export import Runner, export, load_artifact
from .registry import TARGETS, get_target, target_names
from .sidecar import Sidecar, read_sidecar, sidecar_path

__all__ = [
    "TARGETS", "ArtifactError", "ExportSpec", "Runner", "Sidecar", "TargetSpec", "export", "get_target",
    "load_artifact", "read_sidecar", "sidecar_path", "target_names",
]
