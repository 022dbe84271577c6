"""HPUN (Hybrid Pixel-Unshuffled Network), as `shared/design/hpun-architecture.md` specifies it.

Sun, Zhang, Jiang, Fu, "Hybrid Pixel-Unshuffled Network for Lightweight Image Super-Resolution",
arXiv 2203.08921. The paper ships no code; the design page is the reading of its text that
reproduces Table 3's parameter and Multi-Add counts. Names below follow the paper:

* PUD    pixel-unshuffled downsampling: unshuffle(2) -> max-pool 3x3/1 -> grouped conv (groups=C)
         -> bilinear x2 -> + input -> 1x1 conv.
* SRDSC  self-residual depthwise separable conv, Eq. 2: pw(dw_k(x) + x).
* PUB    Eq. 6: x + SRDSC(5)(relu(PUD(3)(x))).
* HPUB   front block x + PUD(3)(relu(conv3x3(x))), then a PUB.
* PUB pair (HPUN-S) front block x + PUD(3)(relu(SRDSC(1)(x))), then a PUB ("1-3-3-5").

Images are float tensors in [0, 1], NCHW, RGB.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .variants import VariantSpec, check_scale

# EDSR's MeanShift statistics (DIV2K RGB mean, std 1); frozen, counted as parameters (24 of them).
DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


class MeanShift(nn.Conv2d):
    """EDSR's frozen 1x1 conv that subtracts (sign=-1) or adds (sign=+1) the RGB mean."""

    def __init__(self, sign: int, rgb_mean: tuple[float, float, float] = DIV2K_RGB_MEAN):
        super().__init__(3, 3, kernel_size=1)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.bias.copy_(sign * torch.tensor(rgb_mean))
        for p in self.parameters():
            p.requires_grad = False


def conv(c_in: int, c_out: int, k: int, *, groups: int = 1, bias: bool = True) -> nn.Conv2d:
    """Stride-1 'same' convolution (odd k)."""
    return nn.Conv2d(c_in, c_out, k, padding=k // 2, groups=groups, bias=bias)


class PUD(nn.Module):
    """Pixel-unshuffled downsampling with a grouped k x k conv at half resolution."""

    def __init__(self, channels: int, k: int = 3, *, bias: bool = True):
        super().__init__()
        # Output channel j sees the four sub-images 4j..4j+3 of input channel j.
        self.grouped = conv(4 * channels, channels, k, groups=channels, bias=bias)
        self.pointwise = conv(channels, channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.pixel_unshuffle(x, 2)
        y = F.max_pool2d(y, kernel_size=3, stride=1, padding=1)
        y = self.grouped(y)
        y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
        return self.pointwise(y + x)


class SRDSC(nn.Module):
    """Self-residual depthwise separable convolution (paper Eq. 2): pw(dw_k(x) + x)."""

    def __init__(self, channels: int, k: int, *, bias: bool = True):
        super().__init__()
        self.depthwise = conv(channels, channels, k, groups=channels, bias=bias)
        self.pointwise = conv(channels, channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x) + x)


class FrontBlock(nn.Module):
    """x + PUD(3)(relu(X(x))): X is a dense 3x3 conv (HPUB) or SRDSC(1) (HPUN-S)."""

    def __init__(self, channels: int, dense: bool, *, bias: bool = True):
        super().__init__()
        self.x = conv(channels, channels, 3) if dense else SRDSC(channels, 1, bias=bias)
        self.pud = PUD(channels, 3, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pud(F.relu(self.x(x)))


class PUB(nn.Module):
    """Pixel-unshuffled block (paper Eq. 6): x + SRDSC(5)(relu(PUD(3)(x)))."""

    def __init__(self, channels: int, *, bias: bool = True):
        super().__init__()
        self.pud = PUD(channels, 3, bias=bias)
        self.srdsc = SRDSC(channels, 5, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.srdsc(F.relu(self.pud(x)))


class HybridBlock(nn.Sequential):
    """An HPUB (dense=True) or a PUB pair (dense=False): a front block followed by a PUB."""

    def __init__(self, channels: int, dense: bool, *, bias: bool = True):
        super().__init__(FrontBlock(channels, dense, bias=bias), PUB(channels, bias=bias))


# Receptive-field radius, in LR pixels, of one PUD. Bilinear x2 (align_corners=False) reads
# half-resolution rows m-1..m for output row p = 2m and m..m+1 for p = 2m+1; the grouped 3x3 conv and
# the 3x3 max-pool widen that by one half-resolution row each; half-resolution row q covers rows
# 2q, 2q+1. So p depends on rows p-6..p+5 (p even) or p-5..p+6 (p odd): radius 6.
PUD_RADIUS = 6


class HPUN(nn.Module):
    """EDSR body with an IMDN tail; HPUN-S/M/L differ only in their blocks (see `variants`)."""

    def __init__(self, spec: VariantSpec, scale: int):
        super().__init__()
        check_scale(spec, scale)
        self.spec = spec
        self.scale = scale
        c = spec.channels
        self.sub_mean = MeanShift(-1)
        self.head = conv(3, c, 3)
        self.body = nn.Sequential(
            *[HybridBlock(c, spec.dense_front, bias=spec.block_bias) for _ in range(spec.blocks)]
        )
        self.body_tail = conv(c, c, 3)
        self.tail = conv(c, 3 * scale * scale, 3)
        self.add_mean = MeanShift(+1)

    @property
    def receptive_radius(self) -> int:
        """LR pixels on each side of a pixel that can influence its output (an upper bound).

        Tiled inference is exact (to float rounding) when the tile overlap is at least this.
        """
        front = 1 if self.spec.dense_front else 0
        per_block = front + PUD_RADIUS + PUD_RADIUS + 2  # X, two PUDs, the PUB's 5x5 depthwise
        return 1 + self.spec.blocks * per_block + 1 + 1  # head, body, body_tail, tail

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The network up to its tail conv: (N, 3 s^2, H, W), before the pixel shuffle and add_mean."""
        h = self.head(self.sub_mean(x))
        return self.tail(self.body_tail(self.body(h)) + h)

    def forward_even(self, x: torch.Tensor) -> torch.Tensor:
        """The network proper; height and width must be even (pixel_unshuffle(2))."""
        return self.add_mean(F.pixel_shuffle(self.forward_features(x), self.scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Any height and width: odd sizes are edge-padded by one row/column and cropped back."""
        h, w = x.shape[-2:]
        pad_h, pad_w = h % 2, w % 2
        if not (pad_h or pad_w):
            return self.forward_even(x)
        y = self.forward_even(F.pad(x, (0, pad_w, 0, pad_h), mode="replicate"))
        return y[..., : h * self.scale, : w * self.scale]


class EvenForward(nn.Module):
    """``model.forward_even`` as a module's forward, so that an exported graph has no pad/crop branch."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.model.forward_even(lr)


class ChannelsLastForward(nn.Module):
    """`EvenForward` of a copy of `model` held in channels-last memory format, for eager CPU
    inference: oneDNN's grouped and depthwise convolutions run about 1.7x faster so (HPUN-S x2, a
    288x288 tile, 2 threads); outputs agree with the contiguous model's to about 1e-6. A copy, so
    that the model the converters export keeps its contiguous weights."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = copy.deepcopy(model).eval().to(memory_format=torch.channels_last)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.model.forward_even(lr.contiguous(memory_format=torch.channels_last)).contiguous()
