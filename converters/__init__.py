"""Converters to ExecuTorch, LiteRT, Core ML and ONNX, each importing its own dependency: issue 5.

One module per target (`onnx_target`, `executorch_target`, `litert_target`, `coreml_target`) behind
one interface (`base`): ``export(model, ExportSpec(...), path)`` converts ``model.forward_even`` at a
fixed even LR tile and writes the artifact and its ``<artifact>.json`` sidecar, each atomically;
``load_artifact(path)`` checks the artifact against its sidecar and returns a runner (a forward for
`hpun_edge.inference.upscale` with ``fixed_size=True``) and the sidecar. fp32 now; int8 comes with
the quantization work (issue 4). Importing this package imports torch only: executorch,
coremltools, litert_torch, ai_edge_litert and onnxruntime are imported by the functions that use them.
"""
from .base import TARGETS, ArtifactError, ExportSpec, Runner, Sidecar, export, load_artifact, read_sidecar, sidecar_path

__all__ = [
    "TARGETS", "ArtifactError", "ExportSpec", "Runner", "Sidecar", "export", "load_artifact", "read_sidecar",
    "sidecar_path",
]
