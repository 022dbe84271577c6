"""Export-time rewrites that compute exactly the function of the original module in fp32.

Each rewrite replaces a sub-module of a *copy* of the model; `tests/test_quantization.py` checks
each one against the original to float rounding. Which ones a target uses is chosen by measurement
(`quantization.report`); none is applied unless asked for.

* ``pud_dilated``: a PUD's ``pixel_unshuffle(2) -> max_pool(3, stride 1, pad 1) -> grouped conv k3
  (groups=C, 4 inputs per group)`` is, on the full-resolution features, a 3x3 max-pool with
  dilation 2 (padding 2, -inf) followed by a 6x6 depthwise conv with stride 2 and zero padding 2
  whose weights interleave the grouped kernel: ``K[c, 2u+i, 2v+j] = W[c, 2i+j, u, v]``. The 4C
  unshuffled tensor is never materialised. The -inf padding is written as a reflect-pad of 2 (it only
  repeats values already in each window: the same max, and finite for int8 observers). (TFLite's MAX_POOL_2D has no dilation: not for litert.)
* ``bilinear_deconv``: bilinear x2 upsampling (align_corners=False) is a fixed depthwise transposed
  conv (kernel ``k k^T``, k = [1/4, 3/4, 3/4, 1/4], stride 2, padding 3) of the input edge-padded by
  one pixel (replicate). The weights are frozen buffers, not parameters, so QAT cannot move them.
* ``srdsc_fold``: an SRDSC's self-residual ``pw(dw_k(x) + x)`` folded into the weights: ``dw_k(x) + x``
  is the same depthwise conv with 1 added to the centre tap, so the add (a full-size tensor written
  and read again) disappears; for k = 1 the depthwise conv is a per-channel affine map
  ``(w + 1) x + b`` and folds into the 1x1 conv after it (``W diag(w + 1)``, bias ``W b + b_pw``),
  so HPUN-S's front SRDSC(1) becomes a single 1x1 conv. In int8 it also removes the quantized
  depthwise output (one rounding fewer per block).
* ``pud_bias_apart``: a PUD's grouped conv ``g = G * m + b`` as the conv without its bias followed by
  the bias added on its own (an ``aten.add`` of the per-channel bias), then the upsampling as before.
  In an int8 model whose adds stay fp32 (the ``residual_adds`` part, `quantization.mixed`) the
  upsampling then reads an fp32 add instead of the conv's int8 output. For LiteRT: litert-torch
  makes every ``dequantize -> upsample`` an int8 RESIZE_BILINEAR rounded to its input's grid, and
  with the bias apart nothing is rounded there (the upsampling runs in fp32, on the same
  half-resolution map: the int8 -> fp32 convert moves from the upsampled map to it). A PUD whose
  grouped conv has no bias has nothing to move apart and is left as it is.
* `hpun_edge.lowering`'s PUD lowerings (``pud_phases``, ``pud_phases_split``, ``pud_shiftmax``,
  ``pud_sepmax``): other exact ways to compute a whole PUD, measured and not used by any target
  (benchmarks/measured/int8_runtimes.md). Each replaces the whole PUD, so at most one of them, and
  not with ``pud_dilated`` / ``bilinear_deconv``.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .lowering import LOWERINGS, LoweredPUD
from .model import PUD, SRDSC

REWRITES = ("pud_dilated", "bilinear_deconv", "pud_bias_apart", "srdsc_fold", *LOWERINGS)
# each replaces the whole PUD (pud_dilated and bilinear_deconv only together)
WHOLE_PUD = ("pud_bias_apart", *LOWERINGS)


def interleave_grouped_kernel(weight: torch.Tensor) -> torch.Tensor:
    """Grouped kernel (C, 4, 3, 3) of a PUD -> depthwise kernel (C, 1, 6, 6) at full resolution."""
    c, four, kh, kw = weight.shape
    if four != 4 or (kh, kw) != (3, 3):
        raise ValueError(f"expected a PUD grouped kernel (C, 4, 3, 3), got {tuple(weight.shape)}")
    # w[c, i, j, u, v] = W[c, 2i+j, u, v]  ->  K[c, u, i, v, j] = K[c, 2u+i, 2v+j]
    w = weight.reshape(c, 2, 2, 3, 3)
    return w.permute(0, 3, 1, 4, 2).reshape(c, 1, 6, 6).contiguous()


def bilinear_kernel(channels: int) -> torch.Tensor:
    k = torch.tensor([0.25, 0.75, 0.75, 0.25])
    return torch.outer(k, k).expand(channels, 1, 4, 4).contiguous()


def upsample_bilinear_x2(y: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """F.interpolate(y, scale_factor=2, mode='bilinear', align_corners=False) as a transposed conv."""
    return F.conv_transpose2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), kernel, stride=2, padding=3,
                              groups=y.shape[1])


class RewrittenPUD(nn.Module):
    """A PUD computed without the 4C pixel-unshuffled tensor and/or with bilinear as a deconv."""

    def __init__(self, pud: PUD, dilated: bool, deconv: bool):
        super().__init__()
        c = pud.pointwise.in_channels
        self.dilated, self.deconv = dilated, deconv
        self.pointwise = pud.pointwise
        if dilated:
            self.depthwise = nn.Conv2d(c, c, 6, stride=2, padding=2, groups=c, bias=pud.grouped.bias is not None)
            with torch.no_grad():
                self.depthwise.weight.copy_(interleave_grouped_kernel(pud.grouped.weight))
                if pud.grouped.bias is not None:
                    self.depthwise.bias.copy_(pud.grouped.bias)
        else:
            self.grouped = pud.grouped
        self.register_buffer("up_kernel", bilinear_kernel(c), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dilated:
            # torch's max_pool2d takes at most kernel//2 padding; reflecting 2 pixels only repeats
            # values already inside each dilated window, so the max is that of -inf padding.
            y = self.depthwise(F.max_pool2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), kernel_size=3, stride=1, dilation=2))
        else:
            y = self.grouped(F.max_pool2d(F.pixel_unshuffle(x, 2), kernel_size=3, stride=1, padding=1))
        if self.deconv:
            y = upsample_bilinear_x2(y, self.up_kernel)
        else:
            y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
        return self.pointwise(y + x)


class BiasApartPUD(nn.Module):
    """A PUD whose grouped conv's bias is added after the conv (``pud_bias_apart``); keeps the child
    names ``grouped`` (now without bias) and ``pointwise``, and the bias as ``grouped_bias``."""

    def __init__(self, pud: PUD):
        super().__init__()
        g = pud.grouped
        self.grouped = nn.Conv2d(g.in_channels, g.out_channels, g.kernel_size, padding=g.padding,
                                 groups=g.groups, bias=False)
        self.grouped.weight = g.weight
        self.grouped_bias = nn.Parameter(g.bias.detach().clone().reshape(1, -1, 1, 1))
        self.pointwise = pud.pointwise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.grouped(F.max_pool2d(F.pixel_unshuffle(x, 2), kernel_size=3, stride=1, padding=1))
        y = F.interpolate(y + self.grouped_bias, scale_factor=2, mode="bilinear", align_corners=False)
        return self.pointwise(y + x)


class FoldedSRDSC(nn.Module):
    """An SRDSC ``pw(dw_k(x) + x)`` with the self-residual folded into the weights (see above).

    Keeps the child names ``depthwise`` (absent for k = 1) and ``pointwise`` so that module paths
    (``FloatParts`` regexes, checkpoints' prefixes) still point at the same layers."""

    def __init__(self, srdsc: SRDSC):
        super().__init__()
        dw, pw = srdsc.depthwise, srdsc.pointwise
        k, c = dw.kernel_size[0], dw.in_channels
        tap = dw.weight.detach().clone()
        tap[:, 0, k // 2, k // 2] += 1.0  # dw(x) + x: the identity is the centre tap
        with torch.no_grad():
            if k == 1:
                self.depthwise = None
                scale = tap.reshape(1, c)  # (w + 1), per input channel
                w_pw = pw.weight.detach().reshape(pw.out_channels, c)
                self.pointwise = nn.Conv2d(c, pw.out_channels, 1, bias=True)
                self.pointwise.weight.copy_((w_pw * scale).reshape_as(pw.weight))
                bias = torch.zeros(pw.out_channels) if pw.bias is None else pw.bias.detach().clone()
                if dw.bias is not None:
                    bias += w_pw @ dw.bias.detach()
                self.pointwise.bias.copy_(bias)
            else:
                self.depthwise = nn.Conv2d(c, c, k, padding=k // 2, groups=c, bias=dw.bias is not None)
                self.depthwise.weight.copy_(tap)
                if dw.bias is not None:
                    self.depthwise.bias.copy_(dw.bias)
                self.pointwise = copy.deepcopy(pw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(x if self.depthwise is None else self.depthwise(x))


def check_rewrites(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The names in `REWRITES`' order; a ValueError names an unknown one or two that each replace the PUD."""
    unknown = [n for n in names if n not in REWRITES]
    if unknown:
        raise ValueError(f"unknown rewrite(s) {', '.join(unknown)}; valid: {', '.join(REWRITES)}")
    whole_pud = sorted({n for n in names if n in WHOLE_PUD or n in ("pud_dilated", "bilinear_deconv")})
    if any(n in WHOLE_PUD for n in whole_pud) and len(whole_pud) > 1:
        raise ValueError(f"rewrites {', '.join(whole_pud)} each replace the whole PUD: choose one")
    return tuple(n for n in REWRITES if n in names)


def apply_rewrites(model: nn.Module, names: tuple[str, ...] | list[str]) -> nn.Module:
    """A deep copy of `model` with every PUD rewritten as `names` say (the original is untouched)."""
    names = check_rewrites(names)
    out = copy.deepcopy(model)
    dilated, deconv, fold = "pud_dilated" in names, "bilinear_deconv" in names, "srdsc_fold" in names
    lowering = next((n for n in names if n in LOWERINGS), None)
    bias_apart = "pud_bias_apart" in names
    for parent in list(out.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, PUD) and lowering is not None:
                setattr(parent, child_name, LoweredPUD(child, lowering))
            elif isinstance(child, PUD) and bias_apart and child.grouped.bias is not None:
                setattr(parent, child_name, BiasApartPUD(child))
            elif isinstance(child, PUD) and (dilated or deconv):
                setattr(parent, child_name, RewrittenPUD(child, dilated, deconv))
            elif isinstance(child, SRDSC) and fold:
                setattr(parent, child_name, FoldedSRDSC(child))
    return out
