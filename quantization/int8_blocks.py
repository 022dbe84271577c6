"""The int8 blocks of the project's kernels' own scheme (`quantization.fused_int8` builds them).

Each block keeps its int8 constants as buffers (so they follow the module and land in the .pte) and
calls one ``hpun::*_q8`` op of `hpun_edge.ops` (whose PyTorch reference is the fake-quant
definition: run eagerly, a block is its own fake-quant reference), or, for a dense conv, PT2E's
quantize/dequantize ops around the conv, which XNNPACK's partitioner takes into its delegate as its
int8 (QC8) convolution. Weights are int8 symmetric per output channel, as XNNPACKQuantizer makes them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hpun_edge.fused import bias
from hpun_edge.ops import QMAX, QMIN, WMAX


def quantize_weight(w: torch.Tensor, eps: float = 2**-12) -> tuple[torch.Tensor, torch.Tensor]:
    """(int8 weights, per-output-channel scales): symmetric, scale = max(max|w| / 127, eps), rounded
    as quantized_decomposed.quantize_per_channel does (w times the reciprocal scale, half to even);
    XNNPACKQuantizer's weight scheme (PerChannelMinMaxObserver, [-127, 127], eps 2^-12)."""
    amax = w.detach().abs().flatten(1).amax(dim=1)
    scale = torch.clamp(amax / WMAX, min=eps).float()
    inv = (1.0 / scale).view(-1, *([1] * (w.dim() - 1)))
    qw = torch.clamp(torch.round(w.detach() * inv), -WMAX, WMAX).to(torch.int8)
    return qw, scale


class _Q8Pointwise(nn.Module):
    """An int8 1x1 conv's constants (buffers, so they follow the module and land in the .pte):
    int8 weights, their scales, the fp32 bias; and its input's (scale, zero point)."""

    CONV_KIND = "pointwise"  # counted as the 1x1 conv it is (hpun_edge.converters.base.conv_census)

    def __init__(self, conv: nn.Conv2d, in_scale: float, in_zp: int):
        super().__init__()
        qw, w_scale = quantize_weight(conv.weight)
        self.register_buffer("qw", qw)
        self.register_buffer("w_scale", w_scale)
        bias = conv.bias.detach().clone() if conv.bias is not None else torch.zeros(conv.out_channels)
        self.register_buffer("bias", bias)
        self.in_scale, self.in_zp = float(in_scale), int(in_zp)


def pud_pointwise(conv: nn.Conv2d, pw_range: tuple[float, int] | None) -> tuple[nn.Conv2d | None, _Q8Pointwise | None]:
    """A PUD's 1x1 conv as a block keeps it: (the fp32 conv, None), or (None, its int8 form) where
    `pw_range` (its input's scale and zero point) is given."""
    return (conv, None) if pw_range is None else (None, _Q8Pointwise(conv, *pw_range))


class FusedFrontQ8(nn.Module):
    """An HPUN-S front block (its X a folded SRDSC(1)) as one call: the folded 1x1 conv in int8 (input:
    the block's input x), the PUD's 1x1 conv in int8 too where `pw_range` is given
    (``hpun::pw_relu_pud_pw_add_q8x2``; its input the PUD's front part) or fp32
    (``hpun::pw_relu_pud_pw_add_q8``), the PUD's front part fp32."""

    def __init__(self, front: nn.Module, x_range: tuple[float, int], pw_range: tuple[float, int] | None = None):
        super().__init__()
        self.grouped = front.pud.grouped
        self.x_q8 = _Q8Pointwise(front.x.pointwise, *x_range)
        self.pointwise, self.pw_q8 = pud_pointwise(front.pud.pointwise, pw_range)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g, q, p = self.grouped, self.x_q8, self.pw_q8
        if p is None:
            return torch.ops.hpun.pw_relu_pud_pw_add_q8(x, q.qw, q.w_scale, q.bias, q.in_scale, q.in_zp, g.weight,
                                                        bias(g), self.pointwise.weight, bias(self.pointwise))
        return torch.ops.hpun.pw_relu_pud_pw_add_q8x2(x, q.qw, q.w_scale, q.bias, q.in_scale, q.in_zp, g.weight,
                                                      bias(g), p.qw, p.w_scale, p.bias, p.in_scale, p.in_zp)


class FusedPUBQ8(nn.Module):
    """A PUB (its SRDSC(5) folded) as one call: the SRDSC's 1x1 conv in int8 (input: dwconv5(t) + t),
    the PUD's 1x1 conv in int8 too where `pw_range` is given (``hpun::fused_pub_q8x2``; its input the
    PUD's front part) or fp32 (``hpun::fused_pub_q8``); the PUD's front part and the 5x5 depthwise
    conv fp32."""

    def __init__(self, pub: nn.Module, pw_range: tuple[float, int] | None, pw2_range: tuple[float, int]):
        super().__init__()
        self.grouped, self.depthwise = pub.pud.grouped, pub.srdsc.depthwise
        self.pointwise, self.pw_q8 = pud_pointwise(pub.pud.pointwise, pw_range)
        self.pw2_q8 = _Q8Pointwise(pub.srdsc.pointwise, *pw2_range)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g, dw, p, q = self.grouped, self.depthwise, self.pw_q8, self.pw2_q8
        if p is None:
            pw = self.pointwise
            return torch.ops.hpun.fused_pub_q8(x, g.weight, bias(g), pw.weight, bias(pw), dw.weight, bias(dw), q.qw,
                                               q.w_scale, q.bias, q.in_scale, q.in_zp)
        return torch.ops.hpun.fused_pub_q8x2(x, g.weight, bias(g), p.qw, p.w_scale, p.bias, p.in_scale, p.in_zp,
                                             dw.weight, bias(dw), q.qw, q.w_scale, q.bias, q.in_scale, q.in_zp)


class QDenseConv(nn.Module):
    """A dense conv in int8 the way XNNPACK runs one (its QC8 convolution): the input quantized per
    tensor, int8 per-channel weights, the output quantized per tensor, written as PT2E's
    quantize/dequantize ops so that XNNPACK's partitioner takes the pattern into its delegate; run
    eagerly, it is its own fake-quant reference. ``relu``: the relu that follows the conv comes
    before the output's quantization (PT2E's conv + relu pattern: XNNPACK fuses it into the conv,
    and the output range is the relu'd one)."""

    CONV_KIND = "dense"

    def __init__(self, conv: nn.Conv2d, in_range: tuple[float, int], out_range: tuple[float, int],
                 relu: bool = False):
        super().__init__()
        import torchao.quantization.pt2e  # noqa: F401  (registers the quantized_decomposed ops)

        qw, w_scale = quantize_weight(conv.weight)
        self.register_buffer("qw", qw)
        self.register_buffer("w_scale", w_scale)
        self.register_buffer("w_zero", torch.zeros(conv.out_channels, dtype=torch.int64))
        bias = conv.bias.detach().clone() if conv.bias is not None else torch.zeros(conv.out_channels)
        self.register_buffer("bias", bias)
        self.padding, self.in_range, self.out_range = conv.padding, tuple(in_range), tuple(out_range)
        self.relu = relu

    @staticmethod
    def _fq(x: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
        qd = torch.ops.quantized_decomposed
        q = qd.quantize_per_tensor(x, scale, zero_point, QMIN, QMAX, torch.int8)
        return qd.dequantize_per_tensor(q, scale, zero_point, QMIN, QMAX, torch.int8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.ops.quantized_decomposed.dequantize_per_channel(self.qw, self.w_scale, self.w_zero, 0, -WMAX, WMAX,
                                                                  torch.int8)
        y = F.conv2d(self._fq(x, *self.in_range), w, self.bias, padding=self.padding)
        return self._fq(torch.relu(y) if self.relu else y, *self.out_range)


class FusedFrontDenseQ8(nn.Module):
    """An HPUB front block, ``x + pud(relu(X(x)))``, with X a QDenseConv that applies the relu itself
    (int8 in XNNPACK), then the PUD, its 1x1 conv and the residual add as one call: the 1x1 conv in
    int8 where `pw_range` is given (``hpun::fused_pud_pw_add_q8``), else fp32
    (``hpun::fused_pud_pw_add``, as `hpun_edge.fused.FusedFront`)."""

    def __init__(self, front: nn.Module, x: QDenseConv, pw_range: tuple[float, int] | None = None):
        super().__init__()
        if not x.relu:
            raise ValueError("FusedFrontDenseQ8 needs its X conv to apply the relu (QDenseConv(relu=True))")
        self.x, self.grouped = x, front.pud.grouped
        self.pointwise, self.pw_q8 = pud_pointwise(front.pud.pointwise, pw_range)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g, p = self.grouped, self.pw_q8
        if p is None:
            pw = self.pointwise
            return torch.ops.hpun.fused_pud_pw_add(self.x(x), g.weight, bias(g), pw.weight, bias(pw), x)
        return torch.ops.hpun.fused_pud_pw_add_q8(self.x(x), g.weight, bias(g), p.qw, p.w_scale, p.bias, p.in_scale,
                                                  p.in_zp, x)
