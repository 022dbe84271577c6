"""Where a runtime's time goes: the groups a per-op profile is folded into, shared by every target's profiler.

Groups (`GROUPS`): dense k x k conv, 1x1 conv, depthwise conv, grouped conv, (un)shuffle/transposes
(pixel (un)shuffle, transposes, layout reorders, copies), pooling, interpolation, elementwise (add,
ReLU, clamp, ...), the project's fused kernels (each ``hpun::`` op's group is in its `OpDef`),
quantize/convert (int8 boundaries), other, and runtime overhead (the part of a call that no op
accounts for). Times are milliseconds per call (one tile), the median over the profiled calls after
one warm-up call. Each target's module has its ``profile`` (``TargetSpec.profile``): ExecuTorch's
ETDump, onnxruntime's profiler, LiteRT's benchmark_model.
"""
from __future__ import annotations

import statistics
from collections import defaultdict

from hpun_edge.ops import op_for

GROUPS = ("dense conv", "1x1 conv", "depthwise conv", "grouped conv", "(un)shuffle/transposes", "pooling",
          "interpolation", "elementwise", "fused PUD kernel", "fused PUB kernel", "quantize/convert", "other",
          "runtime overhead")


def conv_kind(c_in: int, w_out: int, w_in_per_group: int, kh: int, kw: int) -> str:
    """The group of a convolution: input channels, weight (out, in/groups, kh, kw)."""
    groups = max(1, c_in // max(1, w_in_per_group))
    if groups == 1:
        return "1x1 conv" if (kh, kw) == (1, 1) else "dense conv"
    if w_in_per_group == 1 and w_out == groups:
        return "depthwise conv"
    return "grouped conv"


_XNN = (  # XNNPACK operator names (ExecuTorch's delegate, LiteRT's default delegate), checked in order
    ("DWConv", "depthwise conv"), ("IGEMM", "dense conv"), ("GEMM", "1x1 conv"), ("Fully Connected", "1x1 conv"),
    ("Deconvolution", "dense conv"), ("Convolution", "dense conv"),
    ("Depth To Space", "(un)shuffle/transposes"), ("Space To Depth", "(un)shuffle/transposes"),
    ("Transpose", "(un)shuffle/transposes"), ("Copy", "(un)shuffle/transposes"), ("Reshape", "(un)shuffle/transposes"),
    ("Slice", "(un)shuffle/transposes"), ("Concat", "(un)shuffle/transposes"), ("Pad", "(un)shuffle/transposes"),
    ("Pooling", "pooling"), ("Resize", "interpolation"), ("Convert", "quantize/convert"),
    ("Add", "elementwise"), ("Multiply", "elementwise"), ("Subtract", "elementwise"), ("Divide", "elementwise"),
    ("Clamp", "elementwise"), ("ReLU", "elementwise"), ("Minimum", "elementwise"), ("Maximum", "elementwise"),
    ("Binary", "elementwise"), ("Unary", "elementwise"), ("Sigmoid", "elementwise"), ("HardSwish", "elementwise"),
)


def classify_xnnpack(name: str) -> str:
    for key, group in _XNN:
        if key.lower() in name.lower():
            return group
    return "other"


_ATEN = (
    ("quantize", "quantize/convert"), ("dequantize", "quantize/convert"), ("_to_copy", "quantize/convert"),
    ("pixel_shuffle", "(un)shuffle/transposes"), ("pixel_unshuffle", "(un)shuffle/transposes"),
    ("permute", "(un)shuffle/transposes"), ("transpose", "(un)shuffle/transposes"), ("view", "(un)shuffle/transposes"),
    ("clone", "(un)shuffle/transposes"), ("cat", "(un)shuffle/transposes"), ("pad", "(un)shuffle/transposes"),
    ("pool", "pooling"), ("upsample", "interpolation"), ("interpolate", "interpolation"), ("grid_sample", "interpolation"),
    ("convolution", "dense conv"),
    ("add", "elementwise"), ("mul", "elementwise"), ("sub", "elementwise"), ("div", "elementwise"), ("relu", "elementwise"),
    ("clamp", "elementwise"), ("hardtanh", "elementwise"), ("sigmoid", "elementwise"), ("minimum", "elementwise"),
    ("maximum", "elementwise"),
)


def classify_aten(op: str) -> str:
    """The group of an op outside the delegates: the project's own ops by their table entry."""
    own = op_for(op)
    if own is not None:
        return own.profile_group
    for key, group in _ATEN:
        if key in op:
            return group
    return "other"


def empty_profile(runtime: str, tool: str, available: bool = True, reason: str | None = None) -> dict:
    return {"runtime": runtime, "tool": tool, "available": available, "reason": reason, "per_call_ms": None,
            "calls": 0, "groups": {}, "ops": [], "notes": []}


def finish(profile: dict, ops: dict[str, tuple[str, float]], per_call_ms: float | None, calls: int) -> dict:
    """ops: name -> (group, ms per call). Fills groups (in GROUPS order), the top ops, overhead."""
    groups: dict[str, float] = defaultdict(float)
    for group, ms in ops.values():
        groups[group] += ms
    if per_call_ms is not None:
        groups["runtime overhead"] += max(per_call_ms - sum(groups.values()), 0.0)
    profile["groups"] = {g: round(groups[g], 4) for g in GROUPS if groups.get(g)}
    profile["per_call_ms"] = round(per_call_ms, 4) if per_call_ms is not None else round(sum(groups.values()), 4)
    profile["calls"] = calls
    top = sorted(ops.items(), key=lambda kv: -kv[1][1])[:12]
    profile["ops"] = [{"name": n, "group": g, "ms": round(ms, 4)} for n, (g, ms) in top]
    return profile


def median_after_first(values: list[float]) -> float:
    vals = values[1:] if len(values) > 1 else values
    return statistics.median(vals) if vals else 0.0


def conv_order(model, input_shape: list[int]) -> list[str]:
    """The groups of the model's convolutions in forward order (for telling XNNPACK's IGEMM convs
    apart), traced on a 'meta' copy of the model (no compute)."""
    import copy

    import torch
    from torch import nn

    order: list[str] = []

    def hook(m: nn.Conv2d, inputs, output) -> None:
        w = m.weight.shape
        order.append(conv_kind(inputs[0].shape[1], w[0], w[1], w[2], w[3]))

    meta = copy.deepcopy(model).to("meta")
    for m in meta.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(hook)
    with torch.no_grad():
        getattr(meta, "forward_even", meta)(torch.empty(*input_shape, device="meta"))
    return order
