"""The project's own operators (``hpun::*``), defined once: the op table.

Each `OpDef` is one operator of the project's C++ kernel library (`native/kernels`, registered with
ExecuTorch as ``hpun::<name>.out``): its schema, its definition in PyTorch (the *reference*: what
eager runs, export traces and the kernels are tested against), how many of the model's
convolutions one call computes (an exported program's conv census counts them), the group its time
falls into in a per-op profile, and one line saying what it computes. Importing this module
registers every op with ``torch.library`` (namespace ``hpun``: the functional op, its ``.out``
overload, and fake impls for export); a test checks that the C++ library registers exactly this
set with ExecuTorch.

Tensors are float32 (N, C, H, W), NCHW or channels-last; every op returns its input's shape and
layout (channels-last in, channels-last out: the kernels' NHWC paths). The PUD part of each op is

    pud(x) = interpolate(conv_grouped(max_pool3(pixel_unshuffle(x, 2))), x2 bilinear) + x

up to and including the residual ``+ x``, before the PUD's 1x1 conv. The int8 ops run 1x1 convs with
PT2E's fake-quant semantics: the input quantized per tensor (static scale and zero point, rounded
as ``quantized_decomposed.quantize_per_tensor`` rounds), int8 weights per output channel, exact
int32 sums, float output (`pw_q8_reference`): the ``*_q8`` ops their block's SRDSC 1x1 conv (the
PUD's 1x1 conv float32; ``fused_pud_pw_add_q8`` the PUD's), the ``*_q8x2`` ops both; the rest of the
block (the PUD's front part, the depthwise conv, the residual add) stays float32.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

NAMESPACE = "hpun"
QMIN, QMAX = -128, 127  # int8 activations (XNNPACK's per-tensor affine scheme)
WMAX = 127  # int8 weights, symmetric: [-127, 127]


# ------------------------------------------------------------------------------ fp32 definitions
def memory_format(x: torch.Tensor) -> torch.memory_format:
    """channels_last for a channels-last (NHWC-strided) 4-D tensor, else contiguous."""
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def fused_pud_reference(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The PUD up to (and including) its residual add, before its 1x1 conv: ``hpun::fused_pud``."""
    if x.dim() != 4 or x.shape[-2] % 2 or x.shape[-1] % 2:
        raise ValueError(f"hpun::fused_pud needs (N, C, H, W) with H, W even, got {tuple(x.shape)}")
    y = F.pixel_unshuffle(x, 2)
    y = F.max_pool2d(y, kernel_size=3, stride=1, padding=1)
    y = F.conv2d(y, w, b, padding=w.shape[-1] // 2, groups=x.shape[1])
    y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
    return (y + x).contiguous(memory_format=memory_format(x))


def fused_pud_pw_reference(x, w, b, pw_w, pw_b, relu: bool = False, residual: torch.Tensor | None = None):
    """The whole PUD (its 1x1 conv included), then relu, then + residual."""
    y = F.conv2d(fused_pud_reference(x, w, b), pw_w, pw_b)
    if relu:
        y = F.relu(y)
    if residual is not None:
        y = residual + y
    return y.contiguous(memory_format=memory_format(x))


def dw_pw_add_reference(x, dw_w, dw_b, pw_w, pw_b, residual) -> torch.Tensor:
    """residual + conv1x1(depthwise k x k conv(x)): a folded SRDSC(k) and the block's residual add."""
    y = F.conv2d(F.conv2d(x, dw_w, dw_b, padding=dw_w.shape[-1] // 2, groups=x.shape[1]), pw_w, pw_b)
    return (residual + y).contiguous(memory_format=memory_format(x))


def pw_relu_reference(x, pw_w, pw_b) -> torch.Tensor:
    """relu(conv1x1(x)): HPUN-S's folded SRDSC(1) with the relu after it."""
    return F.relu(F.conv2d(x, pw_w, pw_b)).contiguous(memory_format=memory_format(x))


def fused_pud_pw_relu(x, w, b, pw_w, pw_b, relu: bool) -> torch.Tensor:
    """``hpun::fused_pud_pw``: the whole PUD, then relu if asked (a PUB with an unfolded SRDSC)."""
    return fused_pud_pw_reference(x, w, b, pw_w, pw_b, relu=relu)


def fused_pud_pw_add(x, w, b, pw_w, pw_b, residual) -> torch.Tensor:
    """``hpun::fused_pud_pw_add``: residual + the whole PUD (an HPUB front block after its dense conv)."""
    return fused_pud_pw_reference(x, w, b, pw_w, pw_b, residual=residual)


def pw_relu_pud_pw_add_reference(x, x_w, x_b, w, b, pw_w, pw_b) -> torch.Tensor:
    """x + PUD(relu(conv1x1(x, x_w, x_b))): HPUN-S's front block, its X a folded SRDSC(1)."""
    return fused_pud_pw_reference(pw_relu_reference(x, x_w, x_b), w, b, pw_w, pw_b, residual=x)


def fused_pub_reference(x, w, b, pw_w, pw_b, dw_w, dw_b, pw2_w, pw2_b) -> torch.Tensor:
    """x + conv1x1(dwconv5(relu(PUD(x))), pw2_w, pw2_b): a whole PUB whose SRDSC(5) is folded."""
    t = fused_pud_pw_reference(x, w, b, pw_w, pw_b, relu=True)
    return dw_pw_add_reference(t, dw_w, dw_b, pw2_w, pw2_b, x)


# ------------------------------------------------------------------------------ int8 definitions
def quantize(x: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    """The int8 codes of x (as float), as quantized_decomposed.quantize_per_tensor computes them:
    x times the float32 reciprocal of the scale, rounded half to even, plus the zero point, clamped."""
    return torch.clamp(torch.round(x * (1.0 / scale)) + zero_point, QMIN, QMAX)


def fake_quant(x: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    """dequantize(quantize(x)): x on the int8 grid of (scale, zero_point)."""
    return (quantize(x, scale, zero_point) - zero_point) * scale


def dequantize_weight(qw: torch.Tensor, w_scale: torch.Tensor) -> torch.Tensor:
    """int8 weights (C_out, ...) times their per-output-channel scales, in float32."""
    return qw.float() * w_scale.view(-1, *([1] * (qw.dim() - 1)))


def pw_q8_reference(x, qw, w_scale, b, in_scale: float, in_zp: int, relu: bool = False,
                    residual: torch.Tensor | None = None) -> torch.Tensor:
    """conv1x1(fake_quant(x), dequantize(qw)) + b, then relu, then + residual: the kernels' int8 1x1 conv."""
    y = F.conv2d(fake_quant(x, in_scale, in_zp), dequantize_weight(qw, w_scale), b)
    if relu:
        y = torch.relu(y)
    return y if residual is None else y + residual


def pw_relu_pud_pw_add_q8_reference(x, x_qw, x_ws, x_b, x_scale, x_zp, w, b, pw_w, pw_b) -> torch.Tensor:
    """HPUN-S's front block with its folded SRDSC(1) in int8: x + PUD(relu(pw_q8(x)))."""
    z = pw_q8_reference(x, x_qw, x_ws, x_b, x_scale, x_zp, relu=True)
    return fused_pud_pw_reference(z, w, b, pw_w, pw_b, residual=x)


def pw_relu_pud_pw_add_q8x2_reference(x, x_qw, x_ws, x_b, x_scale, x_zp, w, b, pw_qw, pw_ws, pw_b, pw_scale,
                                      pw_zp) -> torch.Tensor:
    """HPUN-S's front block with both 1x1 convs int8: x + pw_q8(PUD front(relu(pw_q8(x))))."""
    z = pw_q8_reference(x, x_qw, x_ws, x_b, x_scale, x_zp, relu=True)
    y = pw_q8_reference(fused_pud_reference(z, w, b), pw_qw, pw_ws, pw_b, pw_scale, pw_zp, residual=x)
    return y.contiguous(memory_format=memory_format(x))


def fused_pud_pw_add_q8_reference(x, w, b, pw_qw, pw_ws, pw_b, pw_scale, pw_zp, residual) -> torch.Tensor:
    """An HPUB front block's PUD with its 1x1 conv int8, after the dense conv: residual + pw_q8(PUD front(x))."""
    y = pw_q8_reference(fused_pud_reference(x, w, b), pw_qw, pw_ws, pw_b, pw_scale, pw_zp, residual=residual)
    return y.contiguous(memory_format=memory_format(x))


def fused_pub_q8_reference(x, w, b, pw_w, pw_b, dw_w, dw_b, pw2_qw, pw2_ws, pw2_b, pw2_scale, pw2_zp):
    """A PUB with a folded SRDSC(5) whose 1x1 conv is int8: x + pw_q8(dwconv5(relu(PUD(x))))."""
    t = fused_pud_pw_reference(x, w, b, pw_w, pw_b, relu=True)
    d = F.conv2d(t, dw_w, dw_b, padding=dw_w.shape[-1] // 2, groups=t.shape[1])
    return pw_q8_reference(d, pw2_qw, pw2_ws, pw2_b, pw2_scale, pw2_zp, residual=x)


def fused_pub_q8x2_reference(x, w, b, pw_qw, pw_ws, pw_b, pw_scale, pw_zp, dw_w, dw_b, pw2_qw, pw2_ws, pw2_b,
                             pw2_scale, pw2_zp) -> torch.Tensor:
    """A PUB with a folded SRDSC(5) and both 1x1 convs int8: x + pw_q8(dwconv5(relu(pw_q8(PUD front(x)))))."""
    t = pw_q8_reference(fused_pud_reference(x, w, b), pw_qw, pw_ws, pw_b, pw_scale, pw_zp, relu=True)
    d = F.conv2d(t, dw_w, dw_b, padding=dw_w.shape[-1] // 2, groups=t.shape[1])
    y = pw_q8_reference(d, pw2_qw, pw2_ws, pw2_b, pw2_scale, pw2_zp, residual=x)
    return y.contiguous(memory_format=memory_format(x))


# --------------------------------------------------------------------------------- the op table
@dataclass(frozen=True)
class OpDef:
    """One ``hpun::`` operator: see the module docstring."""

    name: str
    args: str  # the schema's arguments, e.g. "Tensor x, Tensor w, Tensor b"
    reference: Callable[..., torch.Tensor]
    convs: int  # the model's convolutions one call computes
    profile_group: str  # the group of `converters.profiles.GROUPS` its time falls into
    summary: str

    @property
    def schema(self) -> str:
        return f"{self.name}({self.args}) -> Tensor"

    @property
    def out_schema(self) -> str:
        return f"{self.name}.out({self.args}, *, Tensor(a!) out) -> Tensor(a!)"

    @property
    def runtime_name(self) -> str:
        """The name a .pte calls and ExecuTorch's operator registry holds."""
        return f"{NAMESPACE}::{self.name}.out"


_PUD = "Tensor x, Tensor w, Tensor b"
_PW = "Tensor pw_w, Tensor pw_b"
# an int8 1x1 conv (pw_q8_reference): int8 weights, their per-output-channel scales, the fp32 bias, the
# input's scale and zero point
_Q8 = "Tensor {0}_qw, Tensor {0}_ws, Tensor {0}_b, float {0}_scale, int {0}_zp"
OPS: tuple[OpDef, ...] = (
    OpDef("fused_pud", _PUD, fused_pud_reference, 1, "fused PUD kernel",
          "a PUD up to its residual add (unshuffle, max-pool, grouped conv, bilinear x2, + x), before its 1x1 conv"),
    OpDef("fused_pud_pw", f"{_PUD}, {_PW}, bool relu", fused_pud_pw_relu, 2, "fused PUD kernel",
          "the whole PUD with its 1x1 conv, then relu if asked (a PUB whose SRDSC is not folded)"),
    OpDef("fused_pud_pw_add", f"{_PUD}, {_PW}, Tensor residual", fused_pud_pw_add, 2, "fused PUD kernel",
          "residual + the whole PUD (an HPUB front block, after its dense conv)"),
    OpDef("pw_relu_pud_pw_add", f"Tensor x, Tensor x_w, Tensor x_b, Tensor w, Tensor b, {_PW}",
          pw_relu_pud_pw_add_reference, 3, "fused PUD kernel",
          "HPUN-S's front block x + PUD(relu(1x1(x))), the first 1x1 conv computed row by row inside the PUD"),
    OpDef("fused_pub", f"{_PUD}, {_PW}, Tensor dw_w, Tensor dw_b, Tensor pw2_w, Tensor pw2_b", fused_pub_reference,
          4, "fused PUB kernel", "a whole PUB with its folded SRDSC(5): x + 1x1(dw5(relu(PUD(x))))"),
    OpDef("fused_pud_pw_add_q8", f"{_PUD}, {_Q8.format('pw')}, Tensor residual", fused_pud_pw_add_q8_reference, 2,
          "fused PUD kernel", "fused_pud_pw_add with the PUD's 1x1 conv in int8"),
    # the own kernels' int8 (quantization.fused_int8): PTQ runs the _q8 ops (the PUD's 1x1 conv fp32),
    # QAT the _q8x2 ops and fused_pud_pw_add_q8 (the PUD's 1x1 conv int8 too)
    OpDef("pw_relu_pud_pw_add_q8", f"Tensor x, {_Q8.format('x')}, Tensor w, Tensor b, {_PW}",
          pw_relu_pud_pw_add_q8_reference, 3, "fused PUD kernel", "pw_relu_pud_pw_add with its first 1x1 conv in int8"),
    OpDef("fused_pub_q8", f"{_PUD}, {_PW}, Tensor dw_w, Tensor dw_b, {_Q8.format('pw2')}", fused_pub_q8_reference, 4,
          "fused PUB kernel", "fused_pub with its SRDSC's 1x1 conv in int8"),
    OpDef("pw_relu_pud_pw_add_q8x2", f"Tensor x, {_Q8.format('x')}, Tensor w, Tensor b, {_Q8.format('pw')}",
          pw_relu_pud_pw_add_q8x2_reference, 3, "fused PUD kernel", "pw_relu_pud_pw_add with both 1x1 convs in int8"),
    OpDef("fused_pub_q8x2", f"{_PUD}, {_Q8.format('pw')}, Tensor dw_w, Tensor dw_b, {_Q8.format('pw2')}",
          fused_pub_q8x2_reference, 4, "fused PUB kernel",
          "fused_pub with both 1x1 convs in int8 (the 5x5 depthwise conv fp32)"),
)
OP_TABLE: dict[str, OpDef] = {op.name: op for op in OPS}
RUNTIME_OPS: tuple[str, ...] = tuple(op.runtime_name for op in OPS)


def op_for(target_name: str) -> OpDef | None:
    """The OpDef of a graph node's target name ('hpun.fused_pub.out', 'hpun::fused_pub', ...), None otherwise."""
    name = target_name.replace("::", ".")
    if not name.startswith(f"{NAMESPACE}."):
        return None
    return OP_TABLE.get(name.split(".")[1])


# ------------------------------------------------------------------------------- registration
def _fake(x, *rest):
    if x.dim() != 4:
        raise ValueError("the hpun:: ops need a 4-D input")
    # the output has the input's layout, so a channels-last export keeps NHWC tensors at the XNNPACK
    # delegate boundaries around the op and needs no layout conversion there
    return torch.empty_like(x, memory_format=memory_format(x))


def _fake_out(x, *rest, out):
    out.resize_(x.shape)
    return out


def _out_variant(fn):
    """The .out overload of a functional reference: computes it, then resizes and fills `out`."""

    def out_variant(*args, out):
        result = fn(*args)
        out.resize_(result.shape)
        return out.copy_(result)

    return out_variant


def _define() -> torch.library.Library | None:
    """Every op of the table in torch.library, once per process (a Library object unregisters its
    definitions when collected: it is kept at module level)."""
    try:
        getattr(torch.ops.hpun, OPS[-1].name).default  # noqa: B018 (already defined in this process)
        return None
    except (AttributeError, RuntimeError):
        pass
    lib = torch.library.Library(NAMESPACE, "DEF")
    for op in OPS:
        lib.define(op.schema)
        lib.define(op.out_schema)
        lib.impl(op.name, op.reference, "CompositeExplicitAutograd")
        lib.impl(f"{op.name}.out", _out_variant(op.reference), "CompositeExplicitAutograd")
        torch.library.register_fake(f"{NAMESPACE}::{op.name}", _fake, lib=lib)
        torch.library.register_fake(f"{NAMESPACE}::{op.name}.out", _fake_out, lib=lib)
    return lib


_LIB = _define()
