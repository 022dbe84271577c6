"""What ``--model`` names, as something that upscales: bicubic, a shipped model, weights, or an artifact.

Used by ``hpun-edge eval`` and ``hpun-edge upscale``: an exported artifact runs in its own runtime
(`hpun_edge.converters.load_artifact`) through the same fixed-size tiling as the pipeline.
"""
from __future__ import annotations

from pathlib import Path

import torch

from hpun_edge.converters import ArtifactError, TARGETS, load_artifact
from hpun_edge.evaluate import Upscaler, bicubic_upscaler, model_upscaler
from hpun_edge.inference import InferenceOptions, upscale
from hpun_edge.weights import model_from_weights
from hpun_edge.zoo import create_model

ARTIFACT_SUFFIXES = tuple(sorted({t.suffix for t in TARGETS.values()}))


def resolve_upscaler(model_arg: str, scale: int, opts: InferenceOptions) -> tuple[str, Upscaler]:
    """--model: 'bicubic', a model name (its shipped pretrained weights), a .safetensors file, or an
    exported artifact (.pte, .tflite, .onnx, .mlpackage with its sidecar), run by its runtime on CPU
    at the sidecar's fixed tile with --overlap (--tile, if given, must be that tile)."""
    if model_arg == "bicubic":
        return "bicubic", bicubic_upscaler(scale)
    path = Path(model_arg)
    if path.suffix in ARTIFACT_SUFFIXES:
        runner, sidecar = load_artifact(path, threads=torch.get_num_threads())  # torch's thread budget
        if sidecar.scale != scale:
            raise ArtifactError(f"{path}: artifact is for x{sidecar.scale}, evaluation asked for x{scale}")
        if opts.tile is not None and opts.tile != sidecar.tile:
            raise ValueError(f"{path}: the artifact runs tiles of {sidecar.tile}, --tile {opts.tile} was asked (omit --tile)")
        if sidecar.tile <= 2 * opts.overlap:
            raise ValueError(
                f"{path}: the artifact's tile {sidecar.tile} must exceed twice --overlap {opts.overlap}"
            )
        aopts = InferenceOptions(tile=sidecar.tile, overlap=opts.overlap, self_ensemble=opts.self_ensemble,
                                 fixed_size=True)
        return str(path), lambda lr: upscale(runner, lr, scale, aopts)
    if path.suffix == ".safetensors" or path.exists():
        model = model_from_weights(path)
        if model.scale != scale:
            raise ValueError(f"{path}: weights are for x{model.scale}, evaluation asked for x{scale}")
        return str(path), model_upscaler(model, scale, opts)
    model = create_model(model_arg, scale, pretrained=True)
    return model_arg, model_upscaler(model, scale, opts)
