"""int8 for the project's own kernels (the ``executorch-fused`` target in int8): what is int8 and
how it is calibrated.

The XNNPACK int8 graph (`quantization.pt2e`, the ``executorch`` target) cannot run through the
project's fused block kernels: its quantize/dequantize pairs sit between the ops the kernels fuse.
This scheme is instead defined by what the kernels compute in int8 (`native/kernels/include/hpun/pw-q8.h`):

* **W8A8 1x1 convs** (the kernels' `pw_q8`): every 1x1 conv of the blocks (part names in
  `PARTS`): ``srdsc_pw``, HPUN-S's folded SRDSC(1) (a front block's first 1x1 conv; its input is the
  block's input) and every PUB's SRDSC(5) 1x1 conv (its input is dwconv5(t) + t); ``pud_pw``, every
  PUD's 1x1 conv (its input is the PUD's front part: the bilinear blend plus the PUD's input). The
  input is quantized per tensor (int8 affine, static; calibrated as XNNPACKQuantizer's PTQ config
  does: a HistogramObserver, eps 2^-12), the weights per output channel (int8 symmetric, [-127,
  127]); products accumulate in int32 and the output stays float32 (no output quantization).
* **W8A8 dense 3x3 convs** (``dense``) of the body (the body tail; HPUB's front-block conv in
  HPUN-M/L, with the relu after it before its output quantization), as XNNPACK's int8 convolution
  runs them (`QDenseConv`): input and output quantized per tensor, both calibrated the same way.
* **fp32**: everything else: the PUDs' front parts (pool, grouped conv, bilinear blend), the 5x5
  depthwise convs, the head and tail convs, the residual adds. The grouped and depthwise convs'
  arithmetic is small and the kernels run them in fp32.

The kernels run two sets of parts (`KERNEL_PARTS`: the int8 blocks' ``*_q8`` and ``*_q8x2`` ops):
PTQ makes ``srdsc_pw`` and ``dense`` int8, QAT ``pud_pw`` too (`METHOD_PARTS`, with the figures
that chose them). Other sets of
`PARTS` (``dw``: the PUBs' 5x5 depthwise convs with int8 inputs and per-channel int8 weights, the
output float) can be calibrated, fine-tuned and measured through their fake-quant model
(`FakeQuantHPUN`) but not exported: the measurements behind the default
(`scripts/int8_accuracy.py --int8-parts`).

The result is a `ChannelsLastHPUN` of `FusedFrontQ8` / `FusedPUBQ8` blocks and `QDenseConv`s:
exported as it is, its ops are the int8 kernels and XNNPACK's int8 convolution; run eagerly, the same ops' PyTorch implementations are its fake-quant
reference. PTQ, or QAT: the weights fine-tuned through the same fake-quants (`FakeQuantHPUN`) with
the calibrated ranges frozen, as the PT2E quantizers' QAT does. The exact rewrite ``srdsc_fold``
comes first: the int8 convs are the folded SRDSCs' 1x1 convs.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
from torch import nn
from torch.nn.utils import parametrize

from hpun_edge.fused import OWN_KERNEL_REWRITES, ChannelsLastHPUN
from hpun_edge.model import PUB, PUD, EvenForward, FrontBlock
from hpun_edge.ops import QMAX, QMIN, dequantize_weight, fake_quant
from hpun_edge.rewrites import FoldedSRDSC, apply_rewrites

from .calibration import CalibrationData, check_calibration
from .errors import QuantError
from .finetune import QATConfig, fine_tune
from .int8_blocks import FusedFrontDenseQ8, FusedFrontQ8, FusedPUBQ8, QDenseConv, quantize_weight
from .quantizers import METHODS, xnnpack_config

SCHEME = "fused-int8"
REWRITES = OWN_KERNEL_REWRITES
# what each part name makes int8 (W8A8); `int8_convs` finds them
PARTS: dict[str, str] = {
    "srdsc_pw": "the SRDSC 1x1 convs (HPUN-S front blocks' folded SRDSC(1), every PUB's SRDSC(5))",
    "pud_pw": "the PUDs' 1x1 convs",
    "dense": "the body's dense 3x3 convs (body tail; HPUB front blocks', relu inside)",
    "dw": "the PUBs' 5x5 depthwise convs",
}
# the int8 blocks' ops run these: the *_q8 ops the first, the *_q8x2 ops the second (hpun_edge.ops)
KERNEL_PARTS: tuple[tuple[str, ...], ...] = (("srdsc_pw", "dense"), ("srdsc_pw", "pud_pw", "dense"))
# What each method makes int8. QAT: the PUD 1x1 convs too (1000 steps of L1 left HPUN-S x2 at -0.001 /
# -0.002 / -0.000 dB on Set5 / Set14 / B100, and they make the int8 blocks about 0.8x as fast as
# without: benchmarks/measured/int8_pud_pw_hpun_s_x2.md). PTQ keeps them fp32: with them it lost
# 0.057 / 0.036 dB (without: 0.030 / 0.023).
METHOD_PARTS: dict[str, tuple[str, ...]] = {"ptq": KERNEL_PARTS[0], "qat": KERNEL_PARTS[1]}
DEFAULT_PARTS: tuple[str, ...] = METHOD_PARTS["qat"]


def check_parts(parts) -> tuple[str, ...]:
    """The part names in `PARTS`' order (QuantError naming an unknown one)."""
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise QuantError(f"unknown int8 part(s) {', '.join(unknown)}; valid: {', '.join(PARTS)}")
    return tuple(p for p in PARTS if p in parts)


def describe_parts(parts) -> str:
    """What `parts` make int8, in words (the sidecar's and the accuracy table's fp32-parts line)."""
    return "; ".join(PARTS[p] for p in check_parts(parts)) + ": W8A8"


@dataclass
class FusedInt8:
    """The outcome of `quantize_fused`."""

    module: nn.Module | None  # NCHW in and out; eager: the fake-quant reference; exported: the int8 kernels
    ranges: dict[str, tuple[float, int]]  # module path of each int8 conv -> its input's (scale, zero point)
    out_ranges: dict[str, tuple[float, int]]  # each int8 dense conv -> its output's (scale, zero point)
    model: str
    scale: int
    calibration: dict = field(default_factory=dict)
    method: str = "ptq"
    qat: dict | None = None  # the QAT settings (QATConfig) when fine-tuned
    qat_log: list[dict] = field(default_factory=list)
    quantizer: str = SCHEME
    qat_source: str | None = None  # QAT: "fine-tuned here", or the shipped state it is (quantization.shipped)
    parts: tuple[str, ...] = DEFAULT_PARTS
    fake_quant: nn.Module | None = None  # parts no kernel runs: their FakeQuantHPUN (eval), module is None

    @property
    def export_module(self) -> nn.Module:
        """What the executorch-fused target lowers: the module itself (its ops are the int8 kernels)."""
        if self.module is None:
            raise QuantError(f"no kernel runs int8 parts {', '.join(self.parts)}: measurable, not exportable")
        return self.module

    @property
    def census_model(self) -> nn.Module:
        return self.export_module

    @property
    def reference(self) -> nn.Module:
        """The fake-quant reference: the same module run eagerly (the ops' PyTorch definitions); for
        parts no kernel runs, their FakeQuantHPUN (the same function, NCHW in and out)."""
        return self.module if self.module is not None else self.fake_quant

    def settings(self) -> dict:
        """The sidecar's ``quantization`` block."""
        return {**scheme_settings(self.calibration.get("patches"), self.method, self.qat, self.parts),
                "qat_source": self.qat_source,
                "model": self.model,
                "scale": self.scale, "calibration": self.calibration,
                "int8_inputs": {k: {"scale": s, "zero_point": z} for k, (s, z) in self.ranges.items()},
                "int8_outputs": {k: {"scale": s, "zero_point": z} for k, (s, z) in self.out_ranges.items()}}


def scheme_settings(calib_count: int | None, method: str = "ptq", qat: dict | None = None,
                    parts=None) -> dict:
    """The settings that make an artifact of this scheme (what its build key hashes): which parts
    are int8 among them (by default the method's, `METHOD_PARTS`)."""
    parts = check_parts(METHOD_PARTS.get(method, DEFAULT_PARTS) if parts is None else parts)
    return {"family": SCHEME, "method": method, "rewrites": list(REWRITES), "int8_parts": list(parts),
            "fp32_parts": [f"all but {describe_parts(parts)}"], "calib_count": calib_count,
            "qat": qat if method == "qat" else None}


def relu_after(path: str) -> bool:
    """Whether a relu follows this dense conv (HPUB's X: ``x + pud(relu(X(x)))``; not the body tail)."""
    return path.endswith(".x")


def dense_convs(folded: nn.Module) -> dict[str, nn.Module]:
    """Module path -> the dense 3x3 conv this scheme runs in int8 (XNNPACK): the body tail, HPUB's X."""
    found = {"body_tail": folded.body_tail} if isinstance(getattr(folded, "body_tail", None), nn.Conv2d) else {}
    for path, m in folded.named_modules():
        if isinstance(m, FrontBlock) and isinstance(m.x, nn.Conv2d):
            found[f"{path}.x"] = m.x
    return found


def int8_dense_convs(folded: nn.Module, parts=DEFAULT_PARTS) -> dict[str, nn.Module]:
    """`dense_convs` where `parts` make them int8 (``dense``), else none."""
    return dense_convs(folded) if "dense" in check_parts(parts) else {}


def int8_convs(folded: nn.Module, parts=DEFAULT_PARTS) -> dict[str, nn.Module]:
    """Module path -> each conv this scheme runs in int8 with `parts`, in a model after
    ``srdsc_fold``: the 1x1 convs (the kernels'; ``srdsc_pw``, ``pud_pw``), the PUBs' depthwise convs
    (``dw``) and `dense_convs` (``dense``)."""
    parts = check_parts(parts)
    found = {}
    for path, m in folded.named_modules():
        if isinstance(m, FrontBlock) and isinstance(m.x, FoldedSRDSC) and m.x.depthwise is None:
            if "srdsc_pw" in parts:
                found[f"{path}.x.pointwise"] = m.x.pointwise
        elif isinstance(m, PUB) and isinstance(m.srdsc, FoldedSRDSC) and m.srdsc.depthwise is not None:
            if "dw" in parts:
                found[f"{path}.srdsc.depthwise"] = m.srdsc.depthwise
            if "srdsc_pw" in parts:
                found[f"{path}.srdsc.pointwise"] = m.srdsc.pointwise
        if isinstance(m, PUD) and "pud_pw" in parts:
            found[f"{path}.pointwise"] = m.pointwise
    return {**found, **int8_dense_convs(folded, parts)}


def _observer():
    """An activation observer as XNNPACKQuantizer's PTQ config makes it (its spec's constructor and
    dtype, range and scheme: a HistogramObserver, int8 per-tensor affine, eps 2^-12)."""
    spec = xnnpack_config().input_activation
    return spec.observer_or_fake_quant_ctr(dtype=spec.dtype, quant_min=spec.quant_min, quant_max=spec.quant_max,
                                           qscheme=spec.qscheme)


@torch.no_grad()
def observe(folded: nn.Module, cal: CalibrationData, batch: int = 8, parts=DEFAULT_PARTS):
    """(input ranges of every int8 conv, output ranges of the dense ones): (scale, zero point) each,
    from the calibration patches run through `folded`."""
    convs = int8_convs(folded, parts)
    dense = int8_dense_convs(folded, parts)
    if not any(isinstance(m, FoldedSRDSC) for m in folded.modules()):
        raise QuantError("no folded SRDSC: the fused int8 scheme needs an HPUN after srdsc_fold")
    ins = {path: _observer() for path in convs}
    outs = {path: _observer() for path in dense}
    hooks = [conv.register_forward_pre_hook(lambda mod, args, p=path: ins[p](args[0])) for path, conv in convs.items()]
    # the output range is the relu'd output's where a relu follows (QDenseConv quantizes after it)
    hooks += [conv.register_forward_hook(lambda mod, args, y, p=path: outs[p](torch.relu(y) if relu_after(p) else y))
              for path, conv in dense.items()]
    try:
        for i in range(0, len(cal), batch):
            folded.forward_even(cal.lr[i : i + batch])
    finally:
        for h in hooks:
            h.remove()

    def qparams(obs) -> tuple[float, int]:
        s, z = obs.calculate_qparams()
        return float(s.reshape(-1)[0]), int(z.reshape(-1)[0])

    return {p: qparams(o) for p, o in ins.items()}, {p: qparams(o) for p, o in outs.items()}


def check_kernel_parts(parts) -> tuple[str, ...]:
    """`parts` if the int8 blocks' ops run them (QuantError otherwise)."""
    parts = check_parts(parts)
    if parts not in KERNEL_PARTS:
        raise QuantError(f"no kernel runs int8 parts {', '.join(parts) or 'none'}; the kernels run "
                         + " or ".join(", ".join(k) for k in KERNEL_PARTS))
    return parts


def apply_int8_blocks(folded: nn.Module, ranges: dict[str, tuple[float, int]],
                      out_ranges: dict[str, tuple[float, int]], parts=DEFAULT_PARTS) -> nn.Module:
    """A copy of `folded` with each dense conv of `dense_convs` a QDenseConv (relu inside where one
    follows), each HPUN-S front block a FusedFrontQ8, each HPUB front block a FusedFrontDenseQ8 and
    each PUB a FusedPUBQ8."""
    check_kernel_parts(parts)
    model = copy.deepcopy(folded)
    for path in dense_convs(model):
        parent, _, name = path.rpartition(".")
        owner = model.get_submodule(parent) if parent else model
        setattr(owner, name, QDenseConv(getattr(owner, name), ranges[path], out_ranges[path], relu=relu_after(path)))
    for path, m in list(model.named_modules()):
        for name, child in list(m.named_children()):
            full = f"{path}.{name}" if path else name
            pud = ranges[f"{full}.pud.pointwise"] if isinstance(child, (PUB, FrontBlock)) and "pud_pw" in parts else None
            if isinstance(child, PUB):
                setattr(m, name, FusedPUBQ8(child, pud, ranges[f"{full}.srdsc.pointwise"]))
            elif isinstance(child, FrontBlock):
                key = f"{full}.x.pointwise"
                setattr(m, name, FusedFrontQ8(child, ranges[key], pud) if key in ranges
                        else FusedFrontDenseQ8(child, child.x, pud))
    return model


def int8_module(model: nn.Module, ranges: dict[str, tuple[float, int]],
                out_ranges: dict[str, tuple[float, int]], parts=DEFAULT_PARTS) -> nn.Module:
    """The int8 blocks of a trained fp32 HPUN with these input ranges, behind ChannelsLastHPUN (NCHW
    in and out). From an artifact's sidecar (`ranges_from_settings`, `parts_from_settings`) it is that
    artifact's fake-quant reference exactly: the calibration's own floats can differ in their last
    bits with the number of threads that ran it."""
    return folded_int8_module(apply_rewrites(model, REWRITES).eval(), ranges, out_ranges, parts)


def folded_int8_module(folded: nn.Module, ranges: dict[str, tuple[float, int]],
                       out_ranges: dict[str, tuple[float, int]], parts=DEFAULT_PARTS) -> nn.Module:
    """`int8_module` of a model already after ``srdsc_fold`` (the weights QAT trained)."""
    check_ranges(folded, ranges, out_ranges, parts)
    return ChannelsLastHPUN(apply_int8_blocks(folded, ranges, out_ranges, parts).eval()).eval()


def check_ranges(folded: nn.Module, ranges: dict[str, tuple[float, int]],
                 out_ranges: dict[str, tuple[float, int]], parts=DEFAULT_PARTS) -> None:
    """QuantError naming the int8 convs of `parts` that have no input (or, dense, output) range."""
    missing = sorted(set(int8_convs(folded, parts)) - set(ranges))
    if missing:
        raise QuantError(f"no int8 input range for {', '.join(missing)}")
    dense = int8_dense_convs(folded, parts)
    missing = sorted(set(dense) - set(out_ranges))
    if missing:
        raise QuantError(f"no int8 output range for {', '.join(missing)}")


def parts_from_settings(settings: dict) -> tuple[str, ...]:
    """The int8 parts a `FusedInt8.settings()` block records (`int8_module`'s ``parts``)."""
    if settings.get("family") != SCHEME or "int8_parts" not in settings:
        raise QuantError(f"not a {SCHEME} artifact's quantization settings (family {settings.get('family')!r}, "
                         f"int8 parts {settings.get('int8_parts')!r})")
    return check_parts(settings["int8_parts"])


def ranges_from_settings(settings: dict) -> tuple[dict[str, tuple[float, int]], dict[str, tuple[float, int]]]:
    """(input ranges, output ranges) as a `FusedInt8.settings()` block (an artifact's sidecar
    ``quantization``) records them: `int8_module`'s arguments."""
    if settings.get("family") != SCHEME or "int8_inputs" not in settings or "int8_outputs" not in settings:
        raise QuantError(f"not a {SCHEME} artifact's quantization settings (family {settings.get('family')!r})")

    def read(block: dict) -> dict[str, tuple[float, int]]:
        return {k: (float(v["scale"]), int(v["zero_point"])) for k, v in block.items()}

    return read(settings["int8_inputs"]), read(settings["int8_outputs"])


# ------------------------------------------------------------------------------------------- QAT
def _fq_ste(x: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    """fake_quant(x) forward; backward the identity inside the grid's range, 0 outside (PT2E's FakeQuantize)."""
    lo, hi = (QMIN - zero_point) * scale, (QMAX - zero_point) * scale
    clipped = x.clamp(lo, hi)
    return clipped + (fake_quant(x, scale, zero_point) - clipped).detach()


class _WeightFakeQuant(nn.Module):
    """A conv weight on its int8 grid (per output channel, symmetric: `int8_blocks.quantize_weight`,
    the grid the int8 artifact stores), straight through in the backward."""

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        qw, scale = quantize_weight(w)
        return w + (dequantize_weight(qw, scale).to(w.dtype) - w).detach()


class FakeQuantHPUN(nn.Module):
    """A folded HPUN with this scheme's fake-quants on it (of `parts`), trainable: the input of every
    int8 conv (its calibrated range, frozen), the weights of every int8 conv (their own per-channel
    grid, which follows the weights) and the output of every int8 dense conv. Forward (NCHW in and
    out): what the int8 blocks compute (bit for bit in NCHW), with fp32 weights that QAT trains;
    `trained` gives them back."""

    def __init__(self, folded: nn.Module, ranges: dict[str, tuple[float, int]],
                 out_ranges: dict[str, tuple[float, int]], parts=DEFAULT_PARTS):
        super().__init__()
        check_ranges(folded, ranges, out_ranges, parts)
        self.model = copy.deepcopy(folded)
        self._hooks = []
        for path, conv in int8_convs(self.model, parts).items():
            parametrize.register_parametrization(conv, "weight", _WeightFakeQuant())
            self._hooks.append(conv.register_forward_pre_hook(
                lambda mod, args, r=ranges[path]: (_fq_ste(args[0], *r),)))
        for path, conv in int8_dense_convs(self.model, parts).items():
            self._hooks.append(conv.register_forward_hook(
                lambda mod, args, y, r=out_ranges[path]: _fq_ste(y, *r)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_even(x)

    def trained(self) -> nn.Module:
        """A copy of the folded model with the trained fp32 weights (no fake-quants, no hooks)."""
        model = copy.deepcopy(self.model)
        for m in model.modules():
            m._forward_pre_hooks.clear()
            m._forward_hooks.clear()
            if parametrize.is_parametrized(m, "weight"):
                parametrize.remove_parametrizations(m, "weight", leave_parametrized=False)
        return model.eval()


def quantize_fused(model: nn.Module, cal: CalibrationData, method: str = "ptq", *, qat: QATConfig | None = None,
                   train_folder=None, ckpt_dir=None, say: Callable[[str], None] = lambda line: None,
                   parts=None) -> FusedInt8:
    """PTQ, or QAT, of a trained fp32 HPUN for the project's kernels (see the module docstring).

    PTQ calibrates every int8 conv's input (and the dense convs' outputs) on `cal`. QAT starts from
    those ranges, keeps them frozen and fine-tunes the weights through the scheme's fake-quants
    (`FakeQuantHPUN`, `finetune.fine_tune`: `qat`'s budget and loss, checkpoints in `ckpt_dir`), so
    that what is trained is what the kernels run; the int8 blocks are then made from the trained
    weights. `parts`: the method's (`METHOD_PARTS`) unless given; parts that no kernel runs give
    their fake-quant model only (measurements)."""
    if method not in METHODS:
        raise QuantError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    parts = check_parts(METHOD_PARTS[method] if parts is None else parts)
    check_calibration(cal, model.scale)
    folded = apply_rewrites(model, REWRITES).eval()
    ranges, out_ranges = observe(folded, cal, parts=parts)
    log: list[dict] = []
    if method == "qat":
        qat = qat or QATConfig()
        if train_folder is None:
            raise QuantError("QAT needs a folder of HR training images (--calib-data or <data root>/train)")
        fake = FakeQuantHPUN(folded, ranges, out_ranges, parts).train()
        teacher = EvenForward(copy.deepcopy(model)).eval() if qat.loss != "l1" else None
        log = fine_tune(fake, qat, train_folder, model.scale, ckpt_dir, say, teacher=teacher)
        folded = fake.to("cpu").trained()
    module = fake_quant = None
    if parts in KERNEL_PARTS:
        module = folded_int8_module(folded, ranges, out_ranges, parts)
    else:
        fake_quant = FakeQuantHPUN(folded, ranges, out_ranges, parts).eval()
    return FusedInt8(module, ranges, out_ranges, model.spec.name, model.scale, cal.describe(), method,
                     asdict(qat) if method == "qat" else None, log, parts=parts, fake_quant=fake_quant)
