"""Networks the bench times beside HPUN, with seeded random weights: what latency means on a runtime.

* ``conv3x3_64to64``: ONE dense 3x3 conv 64->64 over a 64-channel map. Its rate (Multi-Adds /
  latency) is what dense convolution achieves in a runtime on this machine: the issue's yardstick.
  A one-conv program pays the runtime's boundary work on a 64-channel map (in ExecuTorch, XNNPACK's
  NCHW <-> NHWC conversions in and out), which a network pays once.
* ``conv3x3_64to64_chain8``: EIGHT such convs chained, each followed by relu (HPUN-M's body convs):
  the rate dense convolution reaches inside a network, the stricter yardstick.

Each peer is an `nn.Module` with what the pipeline reads from a network: ``spec`` (name, title,
input channels, how its int8 is calibrated), ``scale`` and ``forward_even``. Its weights are a pure
function of its name, so an artifact made from it is reused while nothing else changed.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class PeerSpec:
    name: str
    title: str
    in_channels: int = 3
    calibration: str = "patches"  # int8 calibration: "patches" (training images) or "random" inputs in [0, 1]
    whole_frame: bool = False  # timed on the whole LR map in one call (no tiling)


CONV_CHANNELS = 64
CONV_KERNEL = 3
CHAIN = 8
CONV_SPEC = PeerSpec("conv3x3_64to64", "dense 3x3 conv 64->64", CONV_CHANNELS, "random", whole_frame=True)
CHAIN_SPEC = PeerSpec(f"conv3x3_64to64_chain{CHAIN}", f"{CHAIN} chained dense 3x3 convs + relu", CONV_CHANNELS,
                      "random", whole_frame=True)


class DenseConvReference(nn.Module):
    """`chain` seeded dense 3x3 convs 64->64 (each followed by relu when chained): scale 1."""

    def __init__(self, chain: int = 1):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        layers: list[nn.Module] = []
        for _ in range(chain):
            conv = nn.Conv2d(CONV_CHANNELS, CONV_CHANNELS, CONV_KERNEL, padding=CONV_KERNEL // 2)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * 0.05)
                conv.bias.copy_(torch.randn(conv.bias.shape, generator=g) * 0.01)
            layers += [conv, nn.ReLU()] if chain > 1 else [conv]
        self.body = nn.Sequential(*layers)
        self.spec = CONV_SPEC if chain == 1 else CHAIN_SPEC
        self.scale = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    forward_even = forward

    @staticmethod
    def macs(hw: tuple[int, int], chain: int = 1) -> float:
        return float(chain * CONV_CHANNELS * CONV_CHANNELS * CONV_KERNEL * CONV_KERNEL * hw[0] * hw[1])


PEERS = {CONV_SPEC.name: lambda scale: DenseConvReference(1), CHAIN_SPEC.name: lambda scale: DenseConvReference(CHAIN)}


def create_peer(name: str, scale: int = 1) -> nn.Module:
    """A peer network by name (its seeded weights), in eval mode; an unknown name lists the valid ones."""
    try:
        make = PEERS[name]
    except KeyError:
        raise ValueError(f"unknown peer network {name!r}; valid: {', '.join(PEERS)}") from None
    return make(scale).eval()
