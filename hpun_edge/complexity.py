"""Parameter and Multi-Add counts in the IMDN/CARN convention the paper's Table 3 uses.

Multi-Adds: for every Conv2d, ``weight.numel() * H_out * W_out`` for the LR input of a 1280x720 HR
frame (1280*720/s^2 LR pixels; for x3 that is the paper's 102,400, not a rounded integer size).
Biases, ReLU, pooling, interpolation, (un)shuffle and additions are not counted. Parameters include
the 24 frozen MeanShift values.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .zoo import create_model

HR_FRAME = (720, 1280)  # height, width of the paper's cost convention


@dataclass(frozen=True)
class Complexity:
    model: str
    scale: int
    params: int
    multi_adds: float  # multiply-accumulates for one 1280x720 HR output
    paper_params: float
    paper_multi_adds: float
    note: str = ""

    @property
    def params_diff_pct(self) -> float:
        return 100.0 * (self.params - self.paper_params) / self.paper_params

    @property
    def multi_adds_diff_pct(self) -> float:
        return 100.0 * (self.multi_adds - self.paper_multi_adds) / self.paper_multi_adds


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv_macs_per_lr_pixel(model: nn.Module, probe: int = 16) -> float:
    """Sum over Conv2d of weight.numel() * (output pixels per LR input pixel), traced on 'meta'."""
    total = 0.0

    def hook(mod: nn.Conv2d, inputs, output) -> None:
        nonlocal total
        total += mod.weight.numel() * output.shape[-2] * output.shape[-1] / (probe * probe)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            model.to("meta")(torch.empty(1, 3, probe, probe, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return total


def complexity(name: str, scale: int) -> Complexity:
    model = create_model(name, scale)
    spec = model.spec
    lr_pixels = HR_FRAME[0] * HR_FRAME[1] / (scale * scale)
    return Complexity(
        model=name,
        scale=scale,
        params=count_params(model),
        multi_adds=conv_macs_per_lr_pixel(model) * lr_pixels,
        paper_params=spec.paper.params_k[scale] * 1e3,
        paper_multi_adds=spec.paper.multi_adds_g[scale] * 1e9,
        note=spec.paper.notes.get(scale, ""),
    )
