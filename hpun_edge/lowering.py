"""Exact lowerings of the PUD for runtimes whose int8 kernels lack the PUD's ops.

A PUD computes ``pw(up2(grouped(maxpool3(unshuffle2(x)))) + x)``. Torch's ``pixel_unshuffle``
is a rank-6 reshape + permute; LiteRT's GPU delegate caps tensors at rank 4, and litert-torch's int8
conversion of it failed in its layout pass (fixed since: `converters.base.own_dequantize_per_consumer`).
`hpun_edge.rewrites`' ``pud_dilated`` avoids it with a dilated max-pool at full resolution, which
TFLite has no builtin for (it becomes STABLEHLO_REDUCE_WINDOW + MIRROR_PAD on LiteRT's reference
kernels, outside XNNPACK).

The lowerings here compute the same function (to float rounding: only the order of the sums
differs) with ops that TFLite has as builtins on rank-4 tensors:

* ``pud_phases``: the unshuffle as four strided slices ``x[:, :, dy::2, dx::2]`` (STRIDED_SLICE),
  concatenated phase-major: channel ``k*C + c`` holds phase ``k = 2*dy + dx`` of channel ``c`` (the
  channel order of TFLite's SPACE_TO_DEPTH, whereas torch's pixel_unshuffle orders ``4*c + k``).
  The 3x3 max-pool is per channel, so the order does not matter to it (one MAX_POOL_2D). The
  grouped conv (groups=C, 4 inputs each) needs its four inputs next to each other, which that
  order does not give; it is a depthwise 3x3 conv on the 4C phase-major channels with the weights
  reordered ``D[k*C + c] = W[c, k]``, whose four C-channel slices are then summed (3 ADDs; the
  grouped conv's bias goes on the first slice). Same multiply-adds as the grouped conv.
* ``pud_phases_split``: the same without the concatenation: each phase is max-pooled and
  convolved on its own (4 MAX_POOL_2D, 4 DEPTHWISE_CONV_2D), and the four are summed.
* ``pud_shiftmax``: `pud_dilated` (the 6x6 stride-2 depthwise conv on the full-resolution map)
  with the dilated 3x3 max-pool as the maximum of shifted copies, separably: rows h-2, h, h+2 then
  columns. A shift is a SLICE + CONCATENATION that repeats the first (or last) two rows, which
  are in every window they enter, so the max is that of -inf padding: 4 MAXIMUM, 4
  CONCATENATION, 8 SLICE per PUD, all at full resolution.
* ``pud_sepmax``: `pud_dilated`'s depthwise conv with the dilated max-pool as two plain max-pools
  on free (contiguous, rank-4) views of the NCHW map: ``x.view(N, C, H/2, 2W)`` pooled (3, 1)
  pools rows h-2, h, h+2 (row h = 2a + i sits at (a, i*W + w)), then ``view(N, C*H, W/2, 2)``
  pooled (3, 1) pools columns w-2, w, w+2; max_pool2d's padding is -inf. For ONNX Runtime, whose
  dilated MaxPool outside its NCHWc path is a slow generic loop (uint8 or fp32); in NHWC
  converters (litert-torch) the views cost layout transposes.

Measured (HPUN-S x2, benchmarks/measured/int8_runtimes.md): none is needed for LiteRT, whose int8
converter takes the PUD as it is once every consumer of a dequantize has its own copy
(`hpun_edge.converters.base.own_dequantize_per_consumer`): XNNPACK does not take stride-2
STRIDED_SLICE (``pud_phases*``) nor int8 MAXIMUM (``pud_shiftmax``), and ``pud_shiftmax`` makes
fp32 LiteRT slower. In ONNX Runtime ``pud_dilated`` beats all of them (fp32 and int8; ``pud_sepmax``
made int8 slower still).

Each is tested equal to the original PUD (``tests/test_lowering.py``) and is a rewrite of
`hpun_edge.rewrites` by its name. This module is model algebra (core): torch and the core model.
"""
from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import nn

from .model import PUD

LOWERINGS = ("pud_phases", "pud_phases_split", "pud_shiftmax", "pud_sepmax")


def phases(x: torch.Tensor) -> list[torch.Tensor]:
    """The four 2x2 phases of x, k = 2*dy + dx: pixel_unshuffle(x, 2)[:, 4c + k] is phases(x)[k][:, c]."""
    return [x[:, :, dy::2, dx::2] for dy in (0, 1) for dx in (0, 1)]


def phase_major_kernel(weight: torch.Tensor) -> torch.Tensor:
    """Grouped PUD kernel (C, 4, k, k) -> depthwise kernel (4C, 1, k, k), phase-major: D[k*C + c] = W[c, k]."""
    c, four, kh, kw = weight.shape
    if four != 4:
        raise ValueError(f"expected a PUD grouped kernel (C, 4, k, k), got {tuple(weight.shape)}")
    return weight.transpose(0, 1).reshape(4 * c, 1, kh, kw).contiguous()


def _shift(x: torch.Tensor, dim: int, by: int) -> torch.Tensor:
    """x moved by `by` (2 or -2) along `dim`; the |by| rows entering at the edge are x's own first
    (last) rows, which lie in the dilated window of the rows they land on."""
    n = x.shape[dim]
    if by > 0:  # out[h] = x[h - by]; out[h] = x[h] for h < by
        return torch.cat([x.narrow(dim, 0, by), x.narrow(dim, 0, n - by)], dim=dim)
    by = -by  # out[h] = x[h + by]; out[h] = x[h] for h >= n - by
    return torch.cat([x.narrow(dim, by, n - by), x.narrow(dim, n - by, by)], dim=dim)


def dilated_maxpool3_views(x: torch.Tensor) -> torch.Tensor:
    """The same as `dilated_maxpool3` by two (3, 1) max-pools on rank-4 views (H and W even)."""
    n, c, h, w = x.shape
    y = F.max_pool2d(x.reshape(n, c, h // 2, 2 * w), kernel_size=(3, 1), stride=1, padding=(1, 0))
    y = F.max_pool2d(y.reshape(n, c * h, w // 2, 2), kernel_size=(3, 1), stride=1, padding=(1, 0))
    return y.reshape(n, c, h, w)


def dilated_maxpool3(x: torch.Tensor) -> torch.Tensor:
    """max over {h-2, h, h+2} x {w-2, w, w+2} (-inf outside): F.max_pool2d(x, 3, 1, dilation=2, padding=2)."""
    for dim in (2, 3):
        x = torch.maximum(torch.maximum(x, _shift(x, dim, 2)), _shift(x, dim, -2))
    return x


class LoweredPUD(nn.Module):
    """A PUD computed by one of `LOWERINGS` (see the module docstring); keeps ``pointwise``."""

    def __init__(self, pud: PUD, how: str):
        super().__init__()
        if how not in LOWERINGS:
            raise ValueError(f"unknown PUD lowering {how!r}; valid: {', '.join(LOWERINGS)}")
        self.how = how
        c = pud.pointwise.in_channels
        w, b = pud.grouped.weight.detach(), pud.grouped.bias
        k = pud.grouped.kernel_size[0]
        with torch.no_grad():
            if how == "pud_phases":
                self.depthwise = nn.Conv2d(4 * c, 4 * c, k, padding=k // 2, groups=4 * c, bias=b is not None)
                self.depthwise.weight.copy_(phase_major_kernel(w))
                if b is not None:
                    self.depthwise.bias.zero_()
                    self.depthwise.bias[:c].copy_(b)
            elif how == "pud_phases_split":
                self.depthwise = nn.ModuleList()
                for i in range(4):
                    conv = nn.Conv2d(c, c, k, padding=k // 2, groups=c, bias=b is not None and i == 0)
                    conv.weight.copy_(w[:, i : i + 1])
                    if conv.bias is not None:
                        conv.bias.copy_(b)
                    self.depthwise.append(conv)
            else:  # pud_shiftmax, pud_sepmax: pud_dilated's 6x6 stride-2 depthwise conv
                from .rewrites import interleave_grouped_kernel  # here: hpun_edge.rewrites imports this module
                self.depthwise = nn.Conv2d(c, c, 6, stride=2, padding=2, groups=c, bias=b is not None)
                self.depthwise.weight.copy_(interleave_grouped_kernel(w))
                if b is not None:
                    self.depthwise.bias.copy_(b)
        self.pointwise = pud.pointwise

    def grouped(self, x: torch.Tensor) -> torch.Tensor:
        """The PUD's grouped conv output at half resolution (before the bilinear x2)."""
        if self.how == "pud_shiftmax":
            return self.depthwise(dilated_maxpool3(x))
        if self.how == "pud_sepmax":
            return self.depthwise(dilated_maxpool3_views(x))
        ps = phases(x)
        if self.how == "pud_phases":
            c = x.shape[1]
            d = self.depthwise(F.max_pool2d(torch.cat(ps, dim=1), kernel_size=3, stride=1, padding=1))
            s = [d[:, i * c : (i + 1) * c] for i in range(4)]
        else:
            s = [conv(F.max_pool2d(p, kernel_size=3, stride=1, padding=1)) for conv, p in zip(self.depthwise, ps)]
        return (s[0] + s[1]) + (s[2] + s[3])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.interpolate(self.grouped(x), scale_factor=2, mode="bilinear", align_corners=False)
        return self.pointwise(y + x)
