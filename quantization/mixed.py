"""Mixed precision: which parts of an otherwise int8 HPUN stay in fp32.

A PT2E quantizer annotates every op it supports; the ops it is told to skip keep fp32 inputs and
outputs, and the delegates run them in fp32 (XNNPACK computes an unannotated add or conv in fp32,
with int8 <-> fp32 converts at the boundary). Measured on HPUN-S x2 (Set5, PTQ, fake-quant,
256 tiles; README): int8 everywhere -0.39 dB; residual adds in fp32 -0.20 dB; plus the MeanShift
convs -0.18 dB. The residual stream is where int8 hurts most: every block adds a small update to a
large-range tensor, and re-quantizing the sum per tensor after each add throws away most of the
update's bits.

The default (`DEFAULT_FP32_PARTS`, the pipeline's) also keeps the head and tail convs and the 16
PUD pointwise convs in fp32. `quantization.sensitivity` showed where the rest of the error sits:
on HPUN-S x2 the input of the head conv (the image, re-quantized on a grid that is not its own),
the head's output, the tail's input and output, and the PUD pointwise convs' inputs and outputs
hold more than half of it. With them in fp32, PTQ loses -0.052 dB instead of -0.148 on Set5 and
QAT (300 steps) -0.013; one ExecuTorch tile takes 357 ms instead of 343 (fp32: 458), every op
still in the one XNNPACK delegate (README, "int8").

`FloatParts` is data (frozen, recorded in the artifact's sidecar); `node_filter` turns it into the
predicate PT2E quantizers take (True: annotate this node).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Callable

import torch

from .errors import QuantError

ADD_OPS = (torch.ops.aten.add.Tensor, torch.ops.aten.add_.Tensor)
MEAN_SHIFT_MODULES = ("sub_mean", "add_mean")


# The pipeline's default, as CLI/YAML words (`FloatParts.from_names`).
DEFAULT_FP32_PARTS = ("residual_adds", "mean_shift", "module:^head$", "module:^tail$", r"module:pud\.pointwise$")


@dataclass(frozen=True)
class FloatParts:
    """What stays fp32. The default keeps none: plain int8, every supported op annotated."""

    residual_adds: bool = False  # every aten.add (the residual stream and the PUD's + x) in fp32
    mean_shift: bool = False  # the input/output MeanShift 1x1 convs: the model's first and last op
    modules: tuple[str, ...] = ()  # regular expressions on module paths (e.g. r"^tail$", r"pud\.pointwise$")

    def __post_init__(self) -> None:
        for pattern in self.modules:
            try:
                re.compile(pattern)
            except re.error as e:
                raise QuantError(f"fp32 module pattern {pattern!r} is not a regular expression: {e}") from None

    @property
    def empty(self) -> bool:
        return not (self.residual_adds or self.mean_shift or self.modules)

    def to_dict(self) -> dict:
        return {**asdict(self), "modules": list(self.modules)}

    @classmethod
    def from_names(cls, names: list[str] | tuple[str, ...]) -> "FloatParts":
        """From CLI/YAML words: 'residual_adds', 'mean_shift', or 'module:<regex>'."""
        adds = mean = False
        modules: list[str] = []
        for name in names:
            if name == "residual_adds":
                adds = True
            elif name == "mean_shift":
                mean = True
            elif name.startswith("module:"):
                modules.append(name[len("module:"):])
            else:
                raise QuantError(f"unknown fp32 part {name!r}; valid: residual_adds, mean_shift, module:<regex>")
        return cls(adds, mean, tuple(modules))

    def names(self) -> list[str]:
        return (["residual_adds"] if self.residual_adds else []) + (["mean_shift"] if self.mean_shift else []) + [
            f"module:{m}" for m in self.modules]


def module_path(node: torch.fx.Node) -> str:
    """The innermost module an exported node came from ('body.0.1.pud.grouped'), '' for none."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    path = list(stack.values())[-1][0]
    # torch.export prefixes the wrapper's attribute ('model.body.0...' under EvenForward); drop it
    return path.split(".", 1)[1] if path.startswith("model.") else path


def node_filter(parts: FloatParts) -> Callable[[torch.fx.Node], bool]:
    """True for the nodes the quantizer may annotate (everything not kept in fp32)."""
    patterns = [re.compile(p) for p in parts.modules]

    def annotate(node: torch.fx.Node) -> bool:
        if parts.residual_adds and node.target in ADD_OPS:
            return False
        path = module_path(node)
        if parts.mean_shift and path in MEAN_SHIFT_MODULES:
            return False
        return not any(p.search(path) for p in patterns)

    return annotate
