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
