"""Networks the bench times beside HPUN, with seeded random weights: what latency means on a runtime.

* ``conv3x3_64to64``: ONE dense 3x3 conv 64->64 over a 64-channel map. Its rate (Multi-Adds /
  latency) is what dense convolution achieves in a runtime on this machine: the issue's yardstick.
  A one-conv program pays the runtime's boundary work on a 64-channel map (in ExecuTorch, XNNPACK's
  NCHW <-> NHWC conversions in and out), which a network pays once.
* ``conv3x3_64to64_chain8``: EIGHT such convs chained, each followed by relu (HPUN-M's body convs):
  the rate dense convolution reaches inside a network, the stricter yardstick.
* ``imdn``: IMDN (Hui, Gao, Yang, Wang, "Lightweight Image Super-Resolution with Information
  Multi-distillation Network", ACM MM 2019) at x2/x3/x4, the network a user would pick instead of
  HPUN (Set5 x2 38.00, the same quality class), written from the paper and the authors' published
  architecture; random weights: it is timed, never scored. Its counts reproduce the paper's table
  (`IMDN_PAPER`; tests/test_peers.py). It lowers to XNNPACK whole (one delegate, fp32 and int8).

Each peer is an `nn.Module` with what the pipeline reads from a network: ``spec`` (name, title,
input channels, how its int8 is calibrated), ``scale`` and ``forward_even``. Its weights are a pure
function of its name, so an artifact made from it is reused while nothing else changed.
"""
from __future__ import annotations

import copy
import zlib
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class PeerSpec:
    name: str
    title: str
    in_channels: int = 3
    calibration: str = "patches"  # int8 calibration: "patches" (training images) or "random" inputs in [0, 1]
    whole_frame: bool = False  # True: always timed on the whole LR map in one call; False: the bench's tiling policy


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


# ------------------------------------------------------------------------------------------- IMDN
IMDN_SPEC = PeerSpec("imdn", "IMDN (Hui et al. 2019)", 3, "patches", whole_frame=False)  # tiled as HPUN is
IMDN_FEATURES, IMDN_BLOCKS, IMDN_DISTILLED = 64, 6, 16  # nf, IMDBs, distillation rate 0.25 of 64
IMDN_SLOPE = 0.05  # LeakyReLU negative slope (the authors' code)
IMDN_REDUCTION = 16  # CCA's channel reduction
# The paper's Table (params, Multi-Adds for a 1280x720 HR output), per scale
IMDN_PAPER = {2: (694e3, 158.8e9), 3: (703e3, 71.5e9), 4: (715e3, 40.9e9)}


def _conv(c_in: int, c_out: int, k: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, k, padding=k // 2)


class ContrastChannelAttention(nn.Module):
    """CCA: per channel, the standard deviation plus the mean over the map (the 'contrast'), then a
    1x1 conv C -> C/16, relu, a 1x1 conv C/16 -> C and a sigmoid; the input scaled by the result.
    The std is the population one, sqrt(mean((x - mean)^2)), as the authors' ``stdv_channels``."""

    def __init__(self, channels: int, reduction: int = IMDN_REDUCTION):
        super().__init__()
        self.squeeze = nn.Conv2d(channels, channels // reduction, 1)
        self.excite = nn.Conv2d(channels // reduction, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean((2, 3), keepdim=True)
        d = x - mean
        contrast = (d * d).mean((2, 3), keepdim=True).sqrt() + mean
        return x * torch.sigmoid(self.excite(torch.relu(self.squeeze(contrast))))


class IMDB(nn.Module):
    """One information multi-distillation block: four 3x3 convs with progressive splitting (each of
    the first three keeps 16 distilled channels and passes 48 on; the fourth makes 16), the four
    16-channel parts concatenated (64), CCA, a 1x1 fusion conv, plus the block's input."""

    def __init__(self, channels: int = IMDN_FEATURES, distilled: int = IMDN_DISTILLED):
        super().__init__()
        self.distilled, self.remaining = distilled, channels - distilled
        self.c1 = _conv(channels, channels, 3)
        self.c2 = _conv(self.remaining, channels, 3)
        self.c3 = _conv(self.remaining, channels, 3)
        self.c4 = _conv(self.remaining, distilled, 3)
        self.act = nn.LeakyReLU(IMDN_SLOPE)
        self.cca = ContrastChannelAttention(4 * distilled)
        self.fuse = _conv(4 * distilled, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = []
        y = x
        for conv in (self.c1, self.c2, self.c3):
            # channel slices rather than torch.split: XNNPACK takes slices, while split_with_sizes_copy
            # would be left to the portable kernels and cut the program into 19 delegates
            z = self.act(conv(y))
            parts.append(z[:, : self.distilled])
            y = z[:, self.distilled :]
        parts.append(self.c4(y))
        return self.fuse(self.cca(torch.cat(parts, dim=1))) + x


class IMDN(nn.Module):
    """IMDN x`scale`: a 3x3 conv 3 -> 64; six IMDBs; a 1x1 conv over their six outputs concatenated
    (384 -> 64) with LeakyReLU; a 3x3 conv 64 -> 64 plus the head's output (the global residual);
    a 3x3 conv 64 -> 3*s^2 and pixel shuffle. Every conv has a bias. Weights: seeded random, a pure
    function of the name and the scale (`seed`)."""

    def __init__(self, scale: int):
        super().__init__()
        if scale not in IMDN_PAPER:
            raise ValueError(f"IMDN scale {scale}: valid {', '.join(map(str, IMDN_PAPER))}")
        nf = IMDN_FEATURES
        self.head = _conv(3, nf, 3)
        self.blocks = nn.ModuleList(IMDB(nf) for _ in range(IMDN_BLOCKS))
        self.collect = _conv(nf * IMDN_BLOCKS, nf, 1)
        self.act = nn.LeakyReLU(IMDN_SLOPE)
        self.body_tail = _conv(nf, nf, 3)
        self.upsample = _conv(nf, 3 * scale * scale, 3)
        self.shuffle = nn.PixelShuffle(scale)
        self.spec, self.scale = IMDN_SPEC, scale
        seeded_init(self, seed(IMDN_SPEC.name, scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fea = self.head(x)
        outs, y = [], fea
        for block in self.blocks:
            y = block(y)
            outs.append(y)
        body = self.body_tail(self.act(self.collect(torch.cat(outs, dim=1)))) + fea
        return self.shuffle(self.upsample(body))

    forward_even = forward  # no pixel-unshuffle: any height and width


def seed(name: str, scale: int) -> int:
    """The weight seed of a peer: crc32 of ``<name>_x<scale>``."""
    return zlib.crc32(f"{name}_x{scale}".encode())


def seeded_init(model: nn.Module, seed_value: int) -> None:
    """Every conv: weights N(0, 1/fan_in) (activations keep their scale through the network, so
    int8 calibration sees ordinary ranges), biases N(0, 0.01^2), drawn in module order."""
    g = torch.Generator().manual_seed(seed_value)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / fan_in ** 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.01)


def conv_multi_adds(model: nn.Module, hw: tuple[int, int]) -> float:
    """Multi-Adds of `model` on one (1, C, *hw) input in the IMDN convention: over every Conv2d,
    ``weight.numel() * H_out * W_out`` (biases, activations, pooling, shuffles and additions not
    counted; CCA's two 1x1 convs run on a 1x1 map). Traced on the 'meta' device (no arithmetic)."""
    total = 0.0

    def hook(mod: nn.Conv2d, inputs, output) -> None:
        nonlocal total
        total += mod.weight.numel() * output.shape[-2] * output.shape[-1]

    probe = copy.deepcopy(model)
    handles = [m.register_forward_hook(hook) for m in probe.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            probe.to("meta")(torch.empty(1, getattr(probe.spec, "in_channels", 3), *hw, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return total


PEERS = {CONV_SPEC.name: lambda scale: DenseConvReference(1), CHAIN_SPEC.name: lambda scale: DenseConvReference(CHAIN),
         IMDN_SPEC.name: IMDN}


def create_peer(name: str, scale: int = 1) -> nn.Module:
    """A peer network by name (its seeded weights), in eval mode; an unknown name lists the valid ones."""
    try:
        make = PEERS[name]
    except KeyError:
        raise ValueError(f"unknown peer network {name!r}; valid: {', '.join(PEERS)}") from None
    return make(scale).eval()
