"""What ``--model`` names, as a network that upscales: a shipped model, weights, or an artifact.

Used by ``hpun-edge eval`` (which also takes ``bicubic``) and ``hpun-edge upscale``. An exported
artifact (.pte, .tflite, .onnx, .mlpackage with its sidecar) runs in its own runtime
(`hpun_edge.converters.load_artifact`, which checks the runtime's real shapes against the sidecar)
at its fixed tile, through the same fixed-size tiling as the pipeline.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from hpun_edge.converters import TARGETS, ArtifactError, load_artifact
from hpun_edge.evaluate import Upscaler, bicubic_upscaler
from hpun_edge.inference import Forward, InferenceOptions, upscale
from hpun_edge.weights import model_from_weights
from hpun_edge.zoo import create_model

ARTIFACT_SUFFIXES = tuple(sorted({t.suffix for t in TARGETS.values()}))
DEFAULT_SCALE = 2


@dataclass(frozen=True)
class Network:
    """A network that upscales: what it is called, its forward, its scale, and the fixed tile an
    artifact takes (None: any size)."""

    label: str
    forward: Forward
    scale: int
    fixed_tile: int | None = None

    def options(self, tile: int | None, overlap: int, self_ensemble: bool = False) -> InferenceOptions:
        """The tiling to run it with: an artifact's own tile (a different --tile is refused), else `tile`."""
        if self.fixed_tile is not None:
            if tile is not None and tile != self.fixed_tile:
                raise ValueError(f"{self.label}: the artifact runs tiles of {self.fixed_tile}, --tile {tile} was "
                                 "asked (omit --tile)")
            tile = self.fixed_tile
        if tile is not None and (tile % 2 or tile <= 2 * overlap):
            raise ValueError(f"{self.label}: the tile {tile} must be even and exceed twice --overlap {overlap}")
        return InferenceOptions(tile=tile, overlap=overlap, self_ensemble=self_ensemble,
                                fixed_size=self.fixed_tile is not None)


def resolve_network(model_arg: str, scale: int | None, threads: int | None = None,
                    purpose: str = "the run") -> Network:
    """--model: a model name (its shipped pretrained weights; --scale, default 2), a .safetensors
    file or an exported artifact (their own scale: a different --scale is refused, naming `purpose`)."""
    path = Path(model_arg)
    if path.suffix in ARTIFACT_SUFFIXES:
        runner, sidecar = load_artifact(path, threads=threads or torch.get_num_threads())
        if scale is not None and sidecar.scale != scale:
            raise ArtifactError(f"{path}: artifact is for x{sidecar.scale}, {purpose} asked for x{scale}")
        return Network(str(path), runner, sidecar.scale, sidecar.tile)
    if path.suffix == ".safetensors" or path.exists():
        model = model_from_weights(path).eval()
        if scale is not None and model.scale != scale:
            raise ValueError(f"{path}: weights are for x{model.scale}, {purpose} asked for x{scale}")
        return Network(str(path), model, model.scale)
    s = scale or DEFAULT_SCALE
    return Network(model_arg, create_model(model_arg, s, pretrained=True), s)


def resolve_upscaler(model_arg: str, scale: int, opts: InferenceOptions) -> tuple[str, Upscaler]:
    """eval's --model: 'bicubic', or a network (`resolve_network`) through the tiling of `opts`."""
    if model_arg == "bicubic":
        return "bicubic", bicubic_upscaler(scale)
    net = resolve_network(model_arg, scale, purpose="evaluation")
    run_opts = net.options(opts.tile, opts.overlap, opts.self_ensemble)
    return net.label, lambda lr: upscale(net.forward, lr, scale, run_opts)
