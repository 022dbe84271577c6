"""HPUN written with the project's own operators (`hpun_edge.ops`): exact rewrites of a trained model.

``own_kernel_module(model)`` is what the ``executorch-fused`` target exports: the exact rewrite
``srdsc_fold`` (`hpun_edge.rewrites`), then every PUB one ``hpun::fused_pub`` call, every HPUN-S
front block one ``hpun::pw_relu_pud_pw_add`` call, every HPUB front block XNNPACK's dense conv and
one ``hpun::fused_pud_pw_add`` call, behind `ChannelsLastHPUN` (channels-last inside, NCHW input
and output, ``add_mean`` folded into the tail conv). Exported with XNNPACK, the head, tail and dense
convs go into the delegate and the ``hpun::`` ops run in the project's kernel library; eagerly, the
ops run their PyTorch references, so the module computes the model's own function (to float
rounding).

``apply_fused_pud(model)`` (every PUD's front part one ``hpun::fused_pud`` call) and
``apply_fused_pud(model, pointwise=True)`` (whole blocks, as above) are the building blocks; the
originals are never modified.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from . import ops  # noqa: F401  (registers the hpun:: ops with torch.library)
from .model import PUD, PUB, FrontBlock
from .rewrites import FoldedSRDSC, apply_rewrites

OWN_KERNEL_REWRITES = ("srdsc_fold",)


def _check_pud(pud: PUD) -> nn.Conv2d:
    """The PUD's grouped conv, if it is the k=3 one the kernels implement (ValueError otherwise)."""
    g, c = pud.grouped, pud.pointwise.in_channels
    if (g.in_channels, g.out_channels, g.groups, g.kernel_size, g.stride, g.padding) != (
        4 * c, c, c, (3, 3), (1, 1), (1, 1)
    ):
        raise ValueError(f"not a k=3 PUD grouped conv: {g}")
    return g


def bias(conv: nn.Conv2d) -> torch.Tensor:
    """The conv's bias, or zeros (the ops always take one)."""
    return conv.bias if conv.bias is not None else torch.zeros(conv.out_channels, device=conv.weight.device)


class _Fused(nn.Module):
    """The ops always take a bias: a conv without one gets a zero buffer (a constant of the export)."""

    def _zero_bias_for(self, *convs: nn.Conv2d | None) -> None:
        convs = [c for c in convs if c is not None]
        need = any(c.bias is None for c in convs)
        self.register_buffer("zero_bias", torch.zeros(convs[0].out_channels) if need else None, persistent=False)

    def _b(self, conv: nn.Conv2d) -> torch.Tensor:
        return conv.bias if conv.bias is not None else self.zero_bias


class FusedPUD(_Fused):
    """A PUD whose front part is ``hpun::fused_pud``; the 1x1 conv stays a conv (for the delegate).
    Keeps the PUD's ``grouped`` and ``pointwise`` convs, so its state-dict keys are the PUD's."""

    def __init__(self, pud: PUD):
        super().__init__()
        self.grouped = _check_pud(pud)
        self.pointwise = pud.pointwise
        self._zero_bias_for(self.grouped)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(torch.ops.hpun.fused_pud(x, self.grouped.weight, self._b(self.grouped)))


def folded(srdsc: nn.Module, k: int) -> bool:
    """An SRDSC after srdsc_fold with a k x k depthwise conv (k = 1: none left, one 1x1 conv)."""
    if not isinstance(srdsc, FoldedSRDSC):
        return False
    return srdsc.depthwise is None if k == 1 else (srdsc.depthwise is not None and srdsc.depthwise.kernel_size == (k, k))


class FusedPUB(_Fused):
    """A PUB, ``x + srdsc(relu(pud(x)))``: with a folded SRDSC(5) the whole block is one
    ``hpun::fused_pub`` call; otherwise its PUD (1x1 conv and relu included) is one
    ``hpun::fused_pud_pw`` call and the SRDSC stays as it is. Keeps ``pud`` and ``srdsc``."""

    def __init__(self, pub: PUB):
        super().__init__()
        _check_pud(pub.pud)
        self.pud, self.srdsc = pub.pud, pub.srdsc
        self.tail_fused = folded(self.srdsc, 5)
        self._zero_bias_for(self.pud.grouped, self.pud.pointwise, self.srdsc.depthwise if self.tail_fused else None,
                            self.srdsc.pointwise if self.tail_fused else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g, p = self.pud.grouped, self.pud.pointwise
        if not self.tail_fused:
            return x + self.srdsc(torch.ops.hpun.fused_pud_pw(x, g.weight, self._b(g), p.weight, self._b(p), True))
        dw, pw = self.srdsc.depthwise, self.srdsc.pointwise
        return torch.ops.hpun.fused_pub(x, g.weight, self._b(g), p.weight, self._b(p), dw.weight, self._b(dw), pw.weight,
                                        self._b(pw))


class FusedFront(_Fused):
    """A front block, ``x + pud(relu(X(x)))``: with HPUN-S's X, a folded SRDSC(1), the whole block is
    one ``hpun::pw_relu_pud_pw_add`` call; otherwise X stays as it is (a dense conv: XNNPACK) and
    the PUD with the residual add is one ``hpun::fused_pud_pw_add`` call. Keeps ``x`` and ``pud``."""

    def __init__(self, front: FrontBlock):
        super().__init__()
        _check_pud(front.pud)
        self.x, self.pud = front.x, front.pud
        self.x_fused = folded(self.x, 1)
        self._zero_bias_for(self.pud.grouped, self.pud.pointwise, self.x.pointwise if self.x_fused else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g, p = self.pud.grouped, self.pud.pointwise
        if self.x_fused:
            xp = self.x.pointwise
            return torch.ops.hpun.pw_relu_pud_pw_add(x, xp.weight, self._b(xp), g.weight, self._b(g), p.weight, self._b(p))
        return torch.ops.hpun.fused_pud_pw_add(F.relu(self.x(x)), g.weight, self._b(g), p.weight, self._b(p), x)


class ChannelsLastIO(nn.Module):
    """Runs ``module.<method>`` on channels-last tensors behind an NCHW input and output: exported
    with XNNPACK, the tensors crossing the delegate boundaries around each ``hpun::`` op are NHWC,
    XNNPACK's own layout, and the op runs its NHWC path."""

    def __init__(self, module: nn.Module, method: str = "forward"):
        super().__init__()
        self.module = module
        self.method = method

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self.module, self.method)(x.contiguous(memory_format=torch.channels_last)).contiguous()


class ChannelsLastHPUN(nn.Module):
    """``ChannelsLastIO(model, "forward_even")`` for an HPUN, with a cheaper tail: ``add_mean`` is
    folded into the tail conv (the RGB channel c of the shuffled output is the tail's channels
    c s^2 .. c s^2 + s^2 - 1, so the 3x3 mixing and the mean become the tail's weights and bias:
    exact up to float rounding), and the pixel shuffle and the NHWC -> NCHW conversion are one
    permute of the tail's channels-last output, which XNNPACK takes. The program's only copy outside
    the delegates is then the NCHW -> NHWC one of the 3-channel input. The model is copied."""

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

    @property
    def spec(self):
        return self.model.spec

    @property
    def scale(self) -> int:
        return self.model.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.model.scale
        # (N, 3 s^2, H, W), channels-last in memory (add_mean already in the tail conv)
        t = self.model.forward_features(x.contiguous(memory_format=torch.channels_last))
        n, _, height, width = t.shape
        t = t.permute(0, 2, 3, 1).reshape(n, height, width, 3, s, s).permute(0, 3, 1, 4, 2, 5)
        return t.reshape(n, 3, height * s, width * s)


def apply_fused_pud(model: nn.Module, pointwise: bool = False) -> nn.Module:
    """A copy of ``model`` with every (k=3) PUD a FusedPUD; with ``pointwise``, every PUB and front
    block a FusedPUB / FusedFront instead (the PUD's 1x1 conv and the block's relu or residual add
    inside the op). The original is untouched."""
    if isinstance(model, PUD):
        return FusedPUD(model)
    model = copy.deepcopy(model)

    def visit(module: nn.Module) -> None:
        for name, child in module.named_children():
            if pointwise and isinstance(child, PUB):
                setattr(module, name, FusedPUB(child))
            elif pointwise and isinstance(child, FrontBlock):
                setattr(module, name, FusedFront(child))
            elif isinstance(child, PUD):
                setattr(module, name, FusedPUD(child))
            else:
                visit(child)

    visit(model)
    return model


def own_kernel_module(model: nn.Module) -> nn.Module:
    """What the executorch-fused target exports in fp32 (the module docstring): the same function."""
    folded_model = apply_rewrites(model, OWN_KERNEL_REWRITES)
    return ChannelsLastHPUN(apply_fused_pud(folded_model, pointwise=True).eval()).eval()
