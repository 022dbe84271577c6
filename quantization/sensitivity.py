"""Where an int8 model's error comes from: the share of it that each activation quantizer holds.

A PT2E reference graph (`pt2e.quantize(...).reference`) quantizes each activation once, at a
``quantize_per_tensor`` node whose ``dequantize_per_tensor`` users feed the int8 ops. Bypassing one
such node (its dequantize users read the fp32 value instead) removes exactly that rounding and
clipping and nothing else. `sensitivity` bypasses each in turn and reports how much of the int8
model's mean squared error against the fp32 model it removes, on held-out LR patches:

    share = (MSE(int8) - MSE(int8 without this quantizer)) / MSE(int8)

Shares add up to about 1 when the quantizers' errors are independent. Bypassing every activation
quantizer leaves only the weights' rounding (`weight_only_reference` computes the same thing), which
is how `tests/test_quantization.py` checks the bypass. This is what chose the mixed-precision
default (`mixed.FloatParts`): on HPUN-S x2 the input and output convs and the PUD pointwise convs
hold over half the error, while the weights' rounding costs 0.004 dB (README, "int8").
"""
from __future__ import annotations

import copy
import re
from collections import defaultdict
from dataclasses import dataclass

import torch

from .mixed import module_path


def _qd():
    return torch.ops.quantized_decomposed


def activation_quantizers(ref: torch.fx.GraphModule) -> list[torch.fx.Node]:
    """The per-tensor quantize nodes of a reference graph (weights are per-channel: not listed)."""
    return [n for n in ref.graph.nodes if n.target == _qd().quantize_per_tensor.default]


def bypass(ref: torch.fx.GraphModule, names: set[str] | list[str]) -> torch.fx.GraphModule:
    """A copy of `ref` where the named activation quantizers are skipped (their consumers read fp32)."""
    names = set(names)
    out = copy.deepcopy(ref)
    found = set()
    for node in list(out.graph.nodes):
        if node.name in names and node.target == _qd().quantize_per_tensor.default:
            found.add(node.name)
            for user in list(node.users):
                user.replace_all_uses_with(node.args[0])
    missing = names - found
    if missing:
        raise ValueError(f"no activation quantizer named {', '.join(sorted(missing))} in the graph")
    out.graph.eliminate_dead_code()
    out.recompile()
    return out


@dataclass(frozen=True)
class QuantizerShare:
    node: str  # the quantize node's name in the reference graph
    module: str  # module path of the op whose output it quantizes ('' for an input or an unnamed op)
    producer: str  # that op (conv2d, add, ...)
    consumers: tuple[str, ...]  # the ops that read the quantized value
    scale: float  # its quantization step
    share: float  # fraction of the int8 model's MSE against fp32 that bypassing it removes


def _op_name(node: torch.fx.Node) -> str:
    if node.op != "call_function":
        return node.op
    return getattr(node.target, "__name__", str(node.target)).split(".")[0]


def describe(node: torch.fx.Node) -> tuple[str, str, tuple[str, ...]]:
    src = node.args[0]
    consumers = sorted({_op_name(u) for d in node.users for u in d.users})
    return module_path(src) if src.op == "call_function" else "", _op_name(src), tuple(consumers)


@torch.no_grad()
def mse_against(forward, lr: torch.Tensor, target: torch.Tensor) -> float:
    return float(torch.mean((forward(lr) - target) ** 2))


@torch.no_grad()
def sensitivity(ref: torch.fx.GraphModule, fp32_forward, lr: torch.Tensor) -> tuple[float, list[QuantizerShare]]:
    """(int8 MSE against fp32, one `QuantizerShare` per activation quantizer, largest share first)."""
    target = fp32_forward(lr)
    base = mse_against(ref, lr, target)
    rows = []
    for node in activation_quantizers(ref):
        module, producer, consumers = describe(node)
        err = mse_against(bypass(ref, [node.name]), lr, target)
        rows.append(QuantizerShare(node.name, module, producer, consumers, float(node.args[1]),
                                   (base - err) / base if base > 0 else 0.0))
    return base, sorted(rows, key=lambda r: -r.share)


def grouped(rows: list[QuantizerShare]) -> list[tuple[str, int, float]]:
    """Shares summed over blocks ('body.3.1.pud' -> 'body.N.1.pud'): (group, quantizers, share)."""
    acc: dict[str, list] = defaultdict(lambda: [0, 0.0])
    for r in rows:
        where = re.sub(r"^body\.\d+\.", "body.N.", r.module) or f"({r.producer})"
        key = f"{where} {r.producer} -> {', '.join(r.consumers)}"
        acc[key][0] += 1
        acc[key][1] += r.share
    return sorted(((k, n, s) for k, (n, s) in acc.items()), key=lambda t: -t[2])
