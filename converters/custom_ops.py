"""The project's own ExecuTorch operators (issue 7): ``hpun::fused_pud`` and its out variant.

``hpun::fused_pud(x, w, b)`` is a PUD block without its final 1x1 conv::

    y = pixel_unshuffle(x, 2)                        # (N, 4C, H/2, W/2)
    y = max_pool2d(y, 3, stride=1, padding=1)
    y = conv2d(y, w, b, padding=1, groups=C)         # w: (C, 4, 3, 3), b: (C,)
    return interpolate(y, scale_factor=2, mode="bilinear", align_corners=False) + x

Its implementation here is exactly that composite (the PyTorch reference: eager runs, export and
tracing use it); the fast one is the C++ kernel in ``native/kernels`` that ExecuTorch's runtime
finds under the name ``hpun::fused_pud.out``. ``apply_fused_pud(model)`` rewrites a copy of an HPUN
so that each PUD calls the op and keeps its 1x1 conv as an ordinary conv, which XNNPACK takes::

    model = apply_fused_pud(model)
    exported = torch.export.export(model, (sample,))
    edge = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()])
    program = edge.to_executorch()   # the graph calls hpun::fused_pud.out between delegates

The op keeps its input's layout (NCHW or channels-last); ``ChannelsLastIO(apply_fused_pud(model),
"forward_even")`` exports the faster channels-last variant with an NCHW input and output, and
``ChannelsLastHPUN(apply_fused_pud(model))`` the same with the tail's layout copies gone.

``hpun::fused_pud_pw(x, w, b, pw_w, pw_b, relu)`` and ``hpun::fused_pud_pw_add(x, w, b, pw_w, pw_b,
residual)`` are the whole PUD, its 1x1 conv included, with the block's epilogue after it::

    fused_pud_pw(...)     = [relu](conv2d(fused_pud(x, w, b), pw_w, pw_b))
    fused_pud_pw_add(...) = residual + conv2d(fused_pud(x, w, b), pw_w, pw_b)

``hpun::dw_pw_add(x, dw_w, dw_b, pw_w, pw_b, residual) = residual + conv2d(dwconv_k(x), pw_w, pw_b)``
is the rest of a PUB after an exact ``srdsc_fold`` (its SRDSC(5) is then a depthwise conv and a 1x1
conv) with the block's residual add, and ``hpun::pw_relu(x, pw_w, pw_b) = relu(conv2d(x, pw_w, pw_b))``
HPUN-S's folded SRDSC(1) with the relu after it.

``hpun::fused_pub(x, w, b, pw_w, pw_b, dw_w, dw_b, pw2_w, pw2_b)`` is a whole PUB whose SRDSC(5) is
folded, ``dw_pw_add(fused_pud_pw(x, w, b, pw_w, pw_b, relu=True), dw_w, dw_b, pw2_w, pw2_b, x)`` in one
pass (the PUD's rows go through a ring of six that the 5x5 depthwise conv reads).

``apply_fused_pud(model, pointwise=True)`` uses them: a PUB becomes one ``fused_pub`` call (with an
unfolded SRDSC: ``fused_pud_pw(x, ..., relu=True)`` and the SRDSC as it is) and a front block
``fused_pud_pw_add(relu(X(x)), ..., residual=x)`` (HPUN-S, whose X is a folded SRDSC(1): one
``hpun::pw_relu_pud_pw_add(x, x_w, x_b, w, b, pw_w, pw_b)`` call, ``x + conv1x1(fused_pud(relu(conv1x1(x,
x_w, x_b)), w, b), pw_w, pw_b)`` with the first 1x1 conv computed row by row inside the PUD's
pipeline), so an HPUN-S block pair is two of the project's kernels and an HPUB two and one XNNPACK
dense conv. The kernels run each 1x1 conv on a
row while it is in cache, from a register-blocked loop (channels-last only).

A .pte made that way runs only where the kernel is registered: the project's C++ runner (it links
the ``hpun_kernels`` target whole-archive), or the ExecuTorch Python runtime after
``load_runtime_kernels()`` has loaded ``libhpun_kernels_py.so``.
"""
from __future__ import annotations

import copy
import ctypes
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from hpun_edge.model import PUD

NAMESPACE = "hpun"
OP_NAME = "fused_pud"
SCHEMA = "fused_pud(Tensor x, Tensor w, Tensor b) -> Tensor"
OUT_SCHEMA = "fused_pud.out(Tensor x, Tensor w, Tensor b, *, Tensor(a!) out) -> Tensor(a!)"
RUNTIME_OP = "hpun::fused_pud.out"  # the name in .pte files and in ExecuTorch's registry
PW_SCHEMA = "fused_pud_pw(Tensor x, Tensor w, Tensor b, Tensor pw_w, Tensor pw_b, bool relu) -> Tensor"
PW_OUT_SCHEMA = ("fused_pud_pw.out(Tensor x, Tensor w, Tensor b, Tensor pw_w, Tensor pw_b, bool relu, *, "
                 "Tensor(a!) out) -> Tensor(a!)")
PW_ADD_SCHEMA = "fused_pud_pw_add(Tensor x, Tensor w, Tensor b, Tensor pw_w, Tensor pw_b, Tensor residual) -> Tensor"
PW_ADD_OUT_SCHEMA = ("fused_pud_pw_add.out(Tensor x, Tensor w, Tensor b, Tensor pw_w, Tensor pw_b, Tensor residual, *, "
                     "Tensor(a!) out) -> Tensor(a!)")
DW_PW_ADD_SCHEMA = "dw_pw_add(Tensor x, Tensor dw_w, Tensor dw_b, Tensor pw_w, Tensor pw_b, Tensor residual) -> Tensor"
DW_PW_ADD_OUT_SCHEMA = ("dw_pw_add.out(Tensor x, Tensor dw_w, Tensor dw_b, Tensor pw_w, Tensor pw_b, Tensor residual, *, "
                        "Tensor(a!) out) -> Tensor(a!)")
PW_RELU_SCHEMA = "pw_relu(Tensor x, Tensor pw_w, Tensor pw_b) -> Tensor"
PW_RELU_OUT_SCHEMA = "pw_relu.out(Tensor x, Tensor pw_w, Tensor pw_b, *, Tensor(a!) out) -> Tensor(a!)"
FRONT_SCHEMA = ("pw_relu_pud_pw_add(Tensor x, Tensor x_w, Tensor x_b, Tensor w, Tensor b, Tensor pw_w, "
                "Tensor pw_b) -> Tensor")
FRONT_OUT_SCHEMA = ("pw_relu_pud_pw_add.out(Tensor x, Tensor x_w, Tensor x_b, Tensor w, Tensor b, Tensor pw_w, "
                    "Tensor pw_b, *, Tensor(a!) out) -> Tensor(a!)")
PUB_SCHEMA = ("fused_pub(Tensor x, Tensor w, Tensor b, Tensor pw_w, Tensor pw_b, Tensor dw_w, Tensor dw_b, "
              "Tensor pw2_w, Tensor pw2_b) -> Tensor")
PUB_OUT_SCHEMA = ("fused_pub.out(Tensor x, Tensor w, Tensor b, Tensor pw_w, Tensor pw_b, Tensor dw_w, Tensor dw_b, "
                  "Tensor pw2_w, Tensor pw2_b, *, Tensor(a!) out) -> Tensor(a!)")
RUNTIME_OPS = (RUNTIME_OP, "hpun::fused_pud_pw.out", "hpun::fused_pud_pw_add.out", "hpun::dw_pw_add.out",
               "hpun::pw_relu.out", "hpun::pw_relu_pud_pw_add.out", "hpun::fused_pub.out")

REPO = Path(__file__).resolve().parent.parent
KERNELS_SOURCE = REPO / "native" / "kernels"
DEFAULT_BUILD_DIR = REPO / "out" / "build" / "hpun_kernels"
PY_MODULE = "libhpun_kernels_py.so"


def fused_pud_reference(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The PUD composite up to (and including) the residual add: the op's definition."""
    if x.dim() != 4 or x.shape[-2] % 2 or x.shape[-1] % 2:
        raise ValueError(f"hpun::fused_pud needs (N, C, H, W) with H, W even, got {tuple(x.shape)}")
    y = F.pixel_unshuffle(x, 2)
    y = F.max_pool2d(y, kernel_size=3, stride=1, padding=1)
    y = F.conv2d(y, w, b, padding=w.shape[-1] // 2, groups=x.shape[1])
    y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
    return (y + x).contiguous(memory_format=_memory_format(x))


def fused_pud_pw_reference(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, pw_w: torch.Tensor,
                           pw_b: torch.Tensor, relu: bool = False, residual: torch.Tensor | None = None) -> torch.Tensor:
    """The whole PUD (its 1x1 conv included), then relu, then + residual: the _pw ops' definition."""
    y = F.conv2d(fused_pud_reference(x, w, b), pw_w, pw_b)
    if relu:
        y = F.relu(y)
    if residual is not None:
        y = residual + y
    return y.contiguous(memory_format=_memory_format(x))


def dw_pw_add_reference(x, dw_w, dw_b, pw_w, pw_b, residual) -> torch.Tensor:
    """residual + conv1x1(depthwise k x k conv(x)): hpun::dw_pw_add's definition."""
    y = F.conv2d(F.conv2d(x, dw_w, dw_b, padding=dw_w.shape[-1] // 2, groups=x.shape[1]), pw_w, pw_b)
    return (residual + y).contiguous(memory_format=_memory_format(x))


def pw_relu_reference(x, pw_w, pw_b) -> torch.Tensor:
    """relu(conv1x1(x)): hpun::pw_relu's definition."""
    return F.relu(F.conv2d(x, pw_w, pw_b)).contiguous(memory_format=_memory_format(x))


def pw_relu_pud_pw_add_reference(x, x_w, x_b, w, b, pw_w, pw_b) -> torch.Tensor:
    """x + conv1x1(fused_pud(relu(conv1x1(x, x_w, x_b)), w, b), pw_w, pw_b): HPUN-S's front block
    (its X a folded SRDSC(1)), hpun::pw_relu_pud_pw_add's definition."""
    return fused_pud_pw_reference(pw_relu_reference(x, x_w, x_b), w, b, pw_w, pw_b, residual=x)


def fused_pub_reference(x, w, b, pw_w, pw_b, dw_w, dw_b, pw2_w, pw2_b) -> torch.Tensor:
    """x + conv1x1(dwconv5(relu(conv1x1(fused_pud(x, w, b), pw_w, pw_b))), pw2_w, pw2_b): a whole PUB
    whose SRDSC(5) is folded, hpun::fused_pub's definition (= dw_pw_add(fused_pud_pw(..., relu), ..., x))."""
    t = fused_pud_pw_reference(x, w, b, pw_w, pw_b, relu=True)
    return dw_pw_add_reference(t, dw_w, dw_b, pw2_w, pw2_b, x)


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    """channels_last for a channels-last (NHWC-strided) 4-D tensor, else contiguous."""
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def _define() -> None:
    # Registered once per process: a Library object unregisters its definitions when collected, so
    # it is kept at module level; a reload of this module finds the schema already there.
    global _LIB
    try:
        torch.ops.hpun.fused_pud.default  # noqa: B018 (already defined in this process)
        return
    except (AttributeError, RuntimeError):
        pass
    _LIB = torch.library.Library(NAMESPACE, "DEF")

    # the rest of an HPUN block: the PUD with its 1x1 conv and the block's epilogue, the folded
    # SRDSC(5) with the residual add, the folded SRDSC(1) with its relu
    def pw(x, w, b, pw_w, pw_b, relu):
        return fused_pud_pw_reference(x, w, b, pw_w, pw_b, relu=relu)

    def pw_add(x, w, b, pw_w, pw_b, residual):
        return fused_pud_pw_reference(x, w, b, pw_w, pw_b, residual=residual)

    define_ops(_LIB, (
        (OP_NAME, SCHEMA, OUT_SCHEMA, fused_pud_reference),
        ("fused_pud_pw", PW_SCHEMA, PW_OUT_SCHEMA, pw),
        ("fused_pud_pw_add", PW_ADD_SCHEMA, PW_ADD_OUT_SCHEMA, pw_add),
        ("dw_pw_add", DW_PW_ADD_SCHEMA, DW_PW_ADD_OUT_SCHEMA, dw_pw_add_reference),
        ("pw_relu", PW_RELU_SCHEMA, PW_RELU_OUT_SCHEMA, pw_relu_reference),
        ("pw_relu_pud_pw_add", FRONT_SCHEMA, FRONT_OUT_SCHEMA, pw_relu_pud_pw_add_reference),
        ("fused_pub", PUB_SCHEMA, PUB_OUT_SCHEMA, fused_pub_reference),
    ))


def define_ops(lib: torch.library.Library, ops) -> None:
    """Each (name, schema, out schema, reference) in `lib`: the functional op and its .out overload,
    both implemented by the reference, and their fake impls."""
    def fake(x, *rest):
        if x.dim() != 4:
            raise ValueError("the hpun:: ops need a 4-D input")
        # The output has the input's layout: NCHW in, NCHW out; channels-last in, channels-last out
        # (the C++ kernels' NHWC paths), so a channels-last export keeps NHWC tensors at the XNNPACK
        # delegate boundaries around the op and needs no layout conversions there.
        return torch.empty_like(x, memory_format=_memory_format(x))

    def fake_out(x, *rest, out):
        out.resize_(x.shape)
        return out

    for name, schema, out_schema, fn in ops:
        lib.define(schema)
        lib.define(out_schema)
        lib.impl(name, fn, "CompositeExplicitAutograd")
        lib.impl(f"{name}.out", _out_variant(fn), "CompositeExplicitAutograd")
        torch.library.register_fake(f"{NAMESPACE}::{name}", fake, lib=lib)
        torch.library.register_fake(f"{NAMESPACE}::{name}.out", fake_out, lib=lib)


def _out_variant(fn):
    """The .out overload of a functional reference: computes it, then resizes and fills `out`."""
    def out_variant(*args, out):
        result = fn(*args)
        out.resize_(result.shape)
        return out.copy_(result)

    return out_variant


_LIB: torch.library.Library | None = None
_define()


def fused_pud(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.ops.hpun.fused_pud(x, w, b)


def _check_pud(pud: PUD) -> nn.Conv2d:
    """The PUD's grouped conv, if it is the k=3 one the kernels implement (ValueError otherwise)."""
    g, c = pud.grouped, pud.pointwise.in_channels
    if (g.in_channels, g.out_channels, g.groups, g.kernel_size, g.stride, g.padding) != (
        4 * c, c, c, (3, 3), (1, 1), (1, 1)
    ):
        raise ValueError(f"not a k=3 PUD grouped conv: {g}")
    return g


class FusedPUD(nn.Module):
    """A PUD whose front part is ``hpun::fused_pud``; the 1x1 conv stays a conv (for the delegate).

    Keeps the original ``grouped`` and ``pointwise`` convs as submodules, so its state-dict keys are
    the PUD's. A grouped conv without bias passes a zero bias (the op always takes one).
    """

    def __init__(self, pud: PUD):
        super().__init__()
        g = _check_pud(pud)
        c = pud.pointwise.in_channels
        self.grouped = g
        self.pointwise = pud.pointwise
        if g.bias is None:
            self.register_buffer("zero_bias", torch.zeros(c), persistent=False)
        else:
            self.zero_bias = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.grouped.bias if self.grouped.bias is not None else self.zero_bias
        return self.pointwise(torch.ops.hpun.fused_pud(x, self.grouped.weight, b))


class _Fused(nn.Module):
    """Shared by FusedPUB and FusedFront: the ops always take a bias; a conv without one gets zeros."""

    def _zero_bias_for(self, *convs: nn.Conv2d | None) -> None:
        need = any(c is not None and c.bias is None for c in convs)
        c = next(c for c in convs if c is not None).out_channels
        self.register_buffer("zero_bias", torch.zeros(c) if need else None, persistent=False)

    def _b(self, conv: nn.Conv2d) -> torch.Tensor:
        return conv.bias if conv.bias is not None else self.zero_bias


def _folded(srdsc: nn.Module, k: int) -> bool:
    """An SRDSC after srdsc_fold with a k x k depthwise conv (k = 1: none left, one 1x1 conv)."""
    from quantization.rewrites import FoldedSRDSC

    if not isinstance(srdsc, FoldedSRDSC):
        return False
    return srdsc.depthwise is None if k == 1 else (srdsc.depthwise is not None and srdsc.depthwise.kernel_size == (k, k))


class FusedPUB(_Fused):
    """A PUB, ``x + srdsc(relu(pud(x)))``: with a folded SRDSC(5) the whole block is one
    ``hpun::fused_pub`` call; otherwise its PUD (1x1 conv and relu included) is one
    ``hpun::fused_pud_pw`` call and the SRDSC stays as it is. Keeps the PUB's submodules (``pud``, ``srdsc``), so its
    state-dict keys are the PUB's."""

    def __init__(self, pub: nn.Module):
        super().__init__()
        _check_pud(pub.pud)
        self.pud, self.srdsc = pub.pud, pub.srdsc
        self.tail_fused = _folded(self.srdsc, 5)
        self._zero_bias_for(self.pud.grouped, self.pud.pointwise,
                            self.srdsc.depthwise if self.tail_fused else None,
                            self.srdsc.pointwise if self.tail_fused else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g, p = self.pud.grouped, self.pud.pointwise
        if not self.tail_fused:
            return x + self.srdsc(torch.ops.hpun.fused_pud_pw(x, g.weight, self._b(g), p.weight, self._b(p), True))
        dw, pw = self.srdsc.depthwise, self.srdsc.pointwise
        return torch.ops.hpun.fused_pub(x, g.weight, self._b(g), p.weight, self._b(p), dw.weight, self._b(dw),
                                        pw.weight, self._b(pw))


class FusedFront(_Fused):
    """A front block, ``x + pud(relu(X(x)))``: the PUD and the residual add are one
    ``hpun::fused_pud_pw_add`` call after X (a dense conv or an unfolded SRDSC stays as it is), and
    with HPUN-S's X, a folded SRDSC(1), the whole block is one ``hpun::pw_relu_pud_pw_add`` call
    (its 1x1 conv and relu run row by row inside the PUD's pipeline). Keeps the block's submodules
    (``x``, ``pud``)."""

    def __init__(self, front: nn.Module):
        super().__init__()
        _check_pud(front.pud)
        self.x, self.pud = front.x, front.pud
        self.x_fused = _folded(self.x, 1)
        self._zero_bias_for(self.pud.grouped, self.pud.pointwise, self.x.pointwise if self.x_fused else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g, p = self.pud.grouped, self.pud.pointwise
        if self.x_fused:
            xp = self.x.pointwise
            return torch.ops.hpun.pw_relu_pud_pw_add(x, xp.weight, self._b(xp), g.weight, self._b(g), p.weight,
                                                     self._b(p))
        z = F.relu(self.x(x))
        return torch.ops.hpun.fused_pud_pw_add(z, g.weight, self._b(g), p.weight, self._b(p), x)


class ChannelsLastIO(nn.Module):
    """Runs ``module.<method>`` on channels-last tensors behind an NCHW input and output.

    Exported with XNNPACK, every activation inside is channels-last, so the tensors crossing the
    delegate boundaries around each ``hpun::fused_pud.out`` are NHWC, which is XNNPACK's own
    layout: no layout conversion at the boundaries, and the op runs its NHWC path. Only the
    3-channel input, the pixel-shuffle tail and the 3-channel output are converted (three
    ``dim_order_ops._clone_dim_order`` calls outside the delegates). Measured on HPUN-S x2 at
    360x640 this is the fastest export (native/kernels/README.md); the program's input and output
    stay plain contiguous NCHW, so a runner feeds it as it feeds any other .pte.
    """

    def __init__(self, module: nn.Module, method: str = "forward"):
        super().__init__()
        self.module = module
        self.method = method

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = getattr(self.module, self.method)(x.contiguous(memory_format=torch.channels_last))
        return y.contiguous()


class ChannelsLastHPUN(nn.Module):
    """``ChannelsLastIO(model, "forward_even")`` for an HPUN, with a cheaper tail.

    ChannelsLastIO's export ends in the pixel shuffle as XNNPACK transposes, then three copies outside
    the delegates: NHWC -> NCHW, the 3-channel ``add_mean`` (a 1x1 conv), NCHW -> NHWC -> NCHW. Here
    ``add_mean`` is folded into the tail conv (the RGB channel c of the shuffled output is the tail's
    channels c s^2 .. c s^2 + s^2 - 1, so the 3x3 mixing and the mean become the tail's weights and
    bias: exact up to float rounding), and the pixel shuffle and the NHWC -> NCHW conversion are one
    permute of the tail's channels-last output, which XNNPACK takes: the program's only copy outside
    the delegates is the NCHW -> NHWC one of the 3-channel input. On HPUN-S and HPUN-M x2, one 368
    tile: 7-8 ms less each (native/kernels/README.md). The model is copied; the original is untouched.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        missing = [a for a in ("forward_features", "tail", "add_mean", "scale") if not hasattr(model, a)]
        if missing:
            raise TypeError(f"ChannelsLastHPUN needs an HPUN; {type(model).__name__} has no {', '.join(missing)}")
        model = copy.deepcopy(model)
        s, tail, mean = model.scale, model.tail, model.add_mean
        with torch.no_grad():
            mix = mean.weight[:, :, 0, 0]  # (3, 3)
            w = tail.weight.view(3, s * s, *tail.weight.shape[1:])
            b = tail.bias.view(3, s * s)
            tail.weight.copy_(torch.einsum("cd,dk...->ck...", mix, w).reshape(tail.weight.shape))
            tail.bias.copy_((mix @ b + mean.bias[:, None]).reshape(-1))
        model.add_mean = nn.Identity()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.model.scale
        # (N, 3 s^2, H, W), channels-last in memory (add_mean already in the tail conv)
        t = self.model.forward_features(x.contiguous(memory_format=torch.channels_last))
        n, _, height, width = t.shape
        t = t.permute(0, 2, 3, 1).reshape(n, height, width, 3, s, s).permute(0, 3, 1, 4, 2, 5)
        return t.reshape(n, 3, height * s, width * s)


def apply_fused_pud(model: nn.Module, pointwise: bool = False) -> nn.Module:
    """A copy of ``model`` with every (k=3) PUD replaced by a FusedPUD; the original is untouched.
    ``pointwise``: every PUB and front block instead becomes a FusedPUB / FusedFront (the PUD's 1x1
    conv and the block's relu or residual add inside the op)."""
    from hpun_edge.model import PUB, FrontBlock

    model = copy.deepcopy(model)

    def visit(module: nn.Module) -> int:
        n = 0
        for name, child in module.named_children():
            if pointwise and isinstance(child, PUB):
                setattr(module, name, FusedPUB(child))
                n += 1
            elif pointwise and isinstance(child, FrontBlock):
                setattr(module, name, FusedFront(child))
                n += 1
            elif isinstance(child, PUD):
                setattr(module, name, FusedPUD(child))
                n += 1
            else:
                n += visit(child)
        return n

    if isinstance(model, PUD):
        return FusedPUD(model)
    visit(model)
    return model


def count_fused_pud_calls(program) -> int:
    """Calls of hpun::fused_pud(_pw, _pw_add) in an ExecutorchProgramManager's (or edge manager's) graph."""
    gm = program.exported_program().graph_module
    n = 0
    for node in gm.graph.nodes:
        if node.op == "call_function" and "fused_pud" in str(node.target):
            n += 1
    return n


# --- the C++ kernel in this process -----------------------------------------------------------------

def kernel_library_path(build_dir: Path | None = None) -> Path:
    """Where libhpun_kernels_py.so is: $HPUN_KERNELS_LIB, else the standalone build directory."""
    env = os.environ.get("HPUN_KERNELS_LIB")
    if env:
        return Path(env)
    return Path(build_dir or DEFAULT_BUILD_DIR) / PY_MODULE


_LOADED: ctypes.CDLL | None = None


def load_runtime_kernels(path: Path | None = None) -> ctypes.CDLL:
    """Register hpun::fused_pud.out with the ExecuTorch runtime of this Python process.

    The shared module links the wheel's libexecutorch.so, the same library the ExecuTorch Python
    extension uses, so its static initializer registers into the registry that loaded programs
    resolve their operators from. Build it first (``cmake -S native/kernels -B out/build/hpun_kernels
    && cmake --build out/build/hpun_kernels``). Loading twice is a no-op; the registration lasts
    for the life of the process.
    """
    global _LOADED
    if _LOADED is not None:
        return _LOADED
    lib = Path(path) if path else kernel_library_path()
    if not lib.is_file():
        raise FileNotFoundError(f"{lib} not built; see native/kernels/README.md")
    _LOADED = ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
    return _LOADED
