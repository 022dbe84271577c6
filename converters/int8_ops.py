"""The int8 side of the project's own kernels (issue 7): what `hpun::pw_q8` computes, in PyTorch.

`native/kernels/pw_q8.h` is an int8 1x1 conv for channels-last float32 tensors: the input is
quantized per tensor (static scale and zero point), the weights are int8 per output channel,
int8 x int8 products accumulate exactly in int32 (AVX-512 VNNI where the CPU has it) and the
output stays float32. `pw_q8_reference` is the same function as the PT2E fake-quant reference
writes it: `fake_quant` rounds exactly as `torch.ops.quantized_decomposed.quantize_per_tensor`
does (x times the float32 reciprocal of the scale, half to even, then the zero point and the
clamp), which tests/test_int8_kernels.py checks.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

QMIN, QMAX = -128, 127  # int8 activations (XNNPACK's per-tensor affine scheme)
WMAX = 127  # int8 weights, symmetric: [-127, 127]


def quantize(x: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    """The int8 codes of x (as float), as quantized_decomposed.quantize_per_tensor computes them."""
    return torch.clamp(torch.round(x * (1.0 / scale)) + zero_point, QMIN, QMAX)


def fake_quant(x: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    """dequantize(quantize(x)): x on the int8 grid of (scale, zero_point)."""
    return (quantize(x, scale, zero_point) - zero_point) * scale


def dequantize_weight(qw: torch.Tensor, w_scale: torch.Tensor) -> torch.Tensor:
    """int8 weights (C_out, ...) times their per-output-channel scales, in float32."""
    return qw.float() * w_scale.view(-1, *([1] * (qw.dim() - 1)))


def pw_q8_reference(x: torch.Tensor, qw: torch.Tensor, w_scale: torch.Tensor, b: torch.Tensor,
                    in_scale: float, in_zp: int, relu: bool = False,
                    residual: torch.Tensor | None = None) -> torch.Tensor:
    """conv1x1(fake_quant(x), dequantize(qw)) + b, then relu, then + residual (NCHW or NHWC x)."""
    y = F.conv2d(fake_quant(x, in_scale, in_zp), dequantize_weight(qw, w_scale), b)
    if relu:
        y = torch.relu(y)
    return y if residual is None else y + residual


def pw_relu_pud_pw_add_q8_reference(x, x_qw, x_ws, x_b, x_scale, x_zp, w, b, pw_w, pw_b) -> torch.Tensor:
    """HPUN-S's front block with its first (folded SRDSC(1)) 1x1 conv in int8:
    x + conv1x1(fused_pud(relu(pw_q8(x)), w, b), pw_w, pw_b)."""
    from .custom_ops import fused_pud_pw_reference

    z = pw_q8_reference(x, x_qw, x_ws, x_b, x_scale, x_zp, relu=True)
    return fused_pud_pw_reference(z, w, b, pw_w, pw_b, residual=x)


def fused_pub_q8_reference(x, w, b, pw_w, pw_b, dw_w, dw_b, pw2_qw, pw2_ws, pw2_b, pw2_scale, pw2_zp) -> torch.Tensor:
    """A PUB with a folded SRDSC(5) whose 1x1 conv is int8:
    x + pw_q8(dwconv5(relu(conv1x1(fused_pud(x, w, b), pw_w, pw_b))))."""
    from .custom_ops import fused_pud_pw_reference

    t = fused_pud_pw_reference(x, w, b, pw_w, pw_b, relu=True)
    d = F.conv2d(t, dw_w, dw_b, padding=dw_w.shape[-1] // 2, groups=t.shape[1])
    return pw_q8_reference(d, pw2_qw, pw2_ws, pw2_b, pw2_scale, pw2_zp, residual=x)


Q8_OPS = {
    "pw_q8": ("Tensor x, Tensor qw, Tensor w_scale, Tensor b, float in_scale, int in_zp, bool relu", pw_q8_reference),
    "pw_relu_pud_pw_add_q8": ("Tensor x, Tensor x_qw, Tensor x_ws, Tensor x_b, float x_scale, int x_zp, Tensor w, "
                              "Tensor b, Tensor pw_w, Tensor pw_b", pw_relu_pud_pw_add_q8_reference),
    "fused_pub_q8": ("Tensor x, Tensor w, Tensor b, Tensor pw_w, Tensor pw_b, Tensor dw_w, Tensor dw_b, "
                     "Tensor pw2_qw, Tensor pw2_ws, Tensor pw2_b, float pw2_scale, int pw2_zp", fused_pub_q8_reference),
}
_LIB: torch.library.Library | None = None


def _define() -> None:
    """The int8 ops in torch.library (namespace hpun, beside converters.custom_ops' fp32 ones): the
    references above are their implementation; the result has x's shape and layout."""
    global _LIB
    from . import custom_ops

    try:
        torch.ops.hpun.fused_pub_q8.default  # noqa: B018 (already defined in this process)
        return
    except (AttributeError, RuntimeError):
        pass
    _LIB = torch.library.Library(custom_ops.NAMESPACE, "FRAGMENT")
    custom_ops.define_ops(_LIB, [(name, f"{name}({args}) -> Tensor",
                                  f"{name}.out({args}, *, Tensor(a!) out) -> Tensor(a!)", fn)
                                 for name, (args, fn) in Q8_OPS.items()])


_define()


# --- the int8 blocks (quantization/fused_int8.py builds them from a calibrated model) -------------------

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

    CONV_KIND = "pointwise"  # counted as the 1x1 conv it is (converters.base.conv_census)

    def __init__(self, conv: nn.Conv2d, in_scale: float, in_zp: int):
        super().__init__()
        qw, w_scale = quantize_weight(conv.weight)
        self.register_buffer("qw", qw)
        self.register_buffer("w_scale", w_scale)
        bias = conv.bias.detach().clone() if conv.bias is not None else torch.zeros(conv.out_channels)
        self.register_buffer("bias", bias)
        self.in_scale, self.in_zp = float(in_scale), int(in_zp)


def _bias(conv: nn.Conv2d) -> torch.Tensor:
    return conv.bias if conv.bias is not None else torch.zeros(conv.out_channels, device=conv.weight.device)


class FusedFrontQ8(nn.Module):
    """An HPUN-S front block (its X a folded SRDSC(1)) as one ``hpun::pw_relu_pud_pw_add_q8`` call:
    the folded 1x1 conv in int8 (input: the block's input x), the PUD in fp32."""

    def __init__(self, front: nn.Module, in_scale: float, in_zp: int):
        super().__init__()
        self.pud = front.pud
        self.x_q8 = _Q8Pointwise(front.x.pointwise, in_scale, in_zp)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g, p, q = self.pud.grouped, self.pud.pointwise, self.x_q8
        return torch.ops.hpun.pw_relu_pud_pw_add_q8(x, q.qw, q.w_scale, q.bias, q.in_scale, q.in_zp, g.weight,
                                                    _bias(g), p.weight, _bias(p))


class FusedPUBQ8(nn.Module):
    """A PUB (its SRDSC(5) folded) as one ``hpun::fused_pub_q8`` call: the SRDSC's 1x1 conv in int8
    (input: dwconv5(t) + t), the PUD and the 5x5 depthwise conv in fp32."""

    def __init__(self, pub: nn.Module, in_scale: float, in_zp: int):
        super().__init__()
        self.pud, self.depthwise = pub.pud, pub.srdsc.depthwise
        self.pw2_q8 = _Q8Pointwise(pub.srdsc.pointwise, in_scale, in_zp)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g, p, dw, q = self.pud.grouped, self.pud.pointwise, self.depthwise, self.pw2_q8
        return torch.ops.hpun.fused_pub_q8(x, g.weight, _bias(g), p.weight, _bias(p), dw.weight, _bias(dw), q.qw,
                                           q.w_scale, q.bias, q.in_scale, q.in_zp)


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
    (int8 in XNNPACK), then the PUD with its 1x1 conv and the residual add as one fp32
    ``hpun::fused_pud_pw_add`` call (as `custom_ops.FusedFront`)."""

    def __init__(self, front: nn.Module, x: QDenseConv):
        super().__init__()
        if not x.relu:
            raise ValueError("FusedFrontDenseQ8 needs its X conv to apply the relu (QDenseConv(relu=True))")
        self.x, self.pud = x, front.pud

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g, p = self.pud.grouped, self.pud.pointwise
        return torch.ops.hpun.fused_pud_pw_add(self.x(x), g.weight, _bias(g), p.weight, _bias(p), x)
