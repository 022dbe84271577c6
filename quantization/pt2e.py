"""PTQ and QAT with the PT2E flow: export -> prepare -> calibrate (-> fine-tune) -> convert.

`quantize` reads top to bottom as the stages. What comes out is `convert_pt2e`'s reference
graph: int8 weights and quantize/dequantize pairs around every annotated op, computed in fp32.
It is the *fake-quant reference* that a converted artifact is checked against, and the graph
the int8 converters lower (`converters.export(..., precision='int8')`).

The graph is captured once with a dynamic batch and even dynamic height/width, so the same
prepared module calibrates on 48x48 patches, fine-tunes on batches and evaluates whole images or
tiles. QAT fine-tunes the fake-quantized graph with the training recipe of `hpun_edge.training`
(L1, Adam, cosine to 0, patches that are a pure function of (seed, i)); it checkpoints its state
(safetensors, atomically) so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import copy
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from hpun_edge.model import EvenForward
from hpun_edge.rewrites import apply_rewrites, check_rewrites

from .calibration import CalibrationData, check_calibration
from .errors import QuantError
from .finetune import QAT_LOSSES, QATConfig, device as finetune_device, fine_tune as run_fine_tune
from .mixed import FloatParts
from .quantizers import METHODS, get_quantizer, pt2e_quantizer

__all__ = ["QAT_LOSSES", "QATConfig", "QuantizedModel", "quantize", "weight_only_reference"]
def capture(model: nn.Module, sample: torch.Tensor) -> torch.fx.GraphModule:
    """torch.export with a dynamic batch and dynamic even height/width; returns the graph module."""
    from torch.export import Dim

    batch = Dim("batch", min=1, max=1024)
    half_h, half_w = Dim("half_h", min=2, max=4096), Dim("half_w", min=2, max=4096)
    shapes = {"lr": {0: batch, 2: 2 * half_h, 3: 2 * half_w}}
    sample = sample[:2] if sample.shape[0] >= 2 else torch.cat([sample, sample])
    return torch.export.export(EvenForward(model).eval(), (sample,), dynamic_shapes=shapes, strict=False).module()


@torch.no_grad()
def calibrate(prepared: torch.fx.GraphModule, cal: CalibrationData, batch: int = 8) -> None:
    for i in range(0, len(cal), batch):
        prepared(cal.lr[i : i + batch])


@dataclass
class QuantizedModel:
    """The outcome of `quantize`: the reference int8 graph and how it was made.

    ``reference`` is the fake-quant reference an artifact is checked against; ``export_module`` is
    what a converter lowers (the reference graph; for weight-only int8 the fp32 graph, whose weights
    the converter quantizes itself) and ``census_model`` what the artifact's convolutions are
    counted against (the fp32 model after the same exact rewrites)."""

    reference: torch.nn.Module  # convert_pt2e's graph (PT2E quantizers) or the weight-rounded model
    quantizer: str
    method: str
    model: str
    scale: int
    rewrites: tuple[str, ...]
    calibration: dict
    export_module: torch.nn.Module
    census_model: torch.nn.Module
    qat: dict | None = None
    qat_log: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    fp32_parts: FloatParts = FloatParts()
    qat_source: str | None = None  # QAT: "fine-tuned here", or the shipped state it is (quantization.shipped)

    def settings(self) -> dict:
        return {
            "family": self.quantizer, "calib_count": self.calibration.get("patches"),
            "method": self.method, "model": self.model, "scale": self.scale,
            "rewrites": list(self.rewrites), "fp32_parts": self.fp32_parts.names(),
            "calibration": self.calibration, "qat": self.qat, "qat_source": self.qat_source,
            "seconds": round(self.seconds, 1),
        }


def quantize(model: nn.Module, quantizer: str, method: str, cal: CalibrationData, *,
             rewrites: tuple[str, ...] = (), qat: QATConfig | None = None,
             train_folder: str | os.PathLike | None = None, ckpt_dir: str | os.PathLike | None = None,
             fp32_parts: FloatParts = FloatParts(),
             say: Callable[[str], None] = lambda line: None) -> QuantizedModel:
    """Quantize a trained fp32 HPUN with `quantizer` (``xnnpack``, ``litert``, ``coreml-weights``:
    `quantizers.QUANTIZERS`) by PTQ or QAT (see the module docstring); `fp32_parts` names the parts
    left in fp32 (mixed precision, `mixed.FloatParts`)."""
    spec = get_quantizer(quantizer)
    if method not in spec.methods:
        raise QuantError(f"the {quantizer} quantizer has {', '.join(spec.methods)}, not {method!r}"
                         + (" (weight-only int8: no activations to fine-tune)" if spec.weight_only else ""))
    check_calibration(cal, model.scale)
    t0 = time.monotonic()
    if spec.weight_only:  # Core ML: int8 weights, fp16 compute; the converter quantizes the fp32 graph
        ref = weight_only_reference(model, compute=torch.float16)
        return QuantizedModel(ref, quantizer, method, model.spec.name, model.scale, (), cal.describe(),
                              EvenForward(model).eval(), model, seconds=time.monotonic() - t0)

    # 1. export (after the exact rewrites, if any)
    rewrites = check_rewrites(rewrites)
    fp32 = apply_rewrites(model, rewrites).eval()
    # torch.export shares the parameter tensors with `fp32`, and QAT trains them in place: the
    # distillation teacher is a copy taken before anything moves
    qat = (qat or QATConfig()) if method == "qat" else None
    teacher = EvenForward(copy.deepcopy(fp32)).eval() if qat is not None and qat.loss != "l1" else None
    graph = capture(fp32, cal.lr[:2])
    # 2. prepare with the target's own quantizer
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e, prepare_qat_pt2e

    prepared = (prepare_qat_pt2e if method == "qat" else prepare_pt2e)(
        graph, pt2e_quantizer(quantizer, qat=method == "qat", fp32_parts=fp32_parts))
    # 3. calibrate the observers on training patches
    calibrate(prepared, cal)
    # 4. QAT: fine-tune the fake-quantized graph
    log: list[dict] = []
    if method == "qat":
        if train_folder is None:
            raise QuantError("QAT needs a folder of HR training images (--calib-data or <data root>/train)")
        log = fine_tune(prepared, qat, train_folder, model.scale, ckpt_dir, say, teacher=teacher)
    # 5. convert: int8 weights, quantize/dequantize around the annotated ops
    from torchao.quantization.pt2e import move_exported_model_to_eval

    move_exported_model_to_eval(prepared)
    prepared.to("cpu")
    # litert-torch's converter wants the weights' quantize ops unfolded (it fuses them itself)
    reference = convert_pt2e(prepared, fold_quantize=quantizer != "litert")
    return QuantizedModel(reference, quantizer, method, model.spec.name, model.scale, rewrites, cal.describe(),
                          reference, fp32, asdict(qat) if method == "qat" else None, log, time.monotonic() - t0,
                          fp32_parts)


# ----------------------------------------------------------------------------------------- QAT
def fine_tune(prepared, cfg: QATConfig, folder, scale: int, ckpt_dir, say, teacher: nn.Module | None = None) -> list[dict]:
    """QAT of a prepared PT2E graph (`finetune.fine_tune`): its fake-quants train with it, the
    activations' calibrated ranges frozen (``cfg.freeze_activation_ranges``)."""
    from torchao.quantization.pt2e import move_exported_model_to_train

    prepared.to(finetune_device(cfg))
    move_exported_model_to_train(prepared)
    if cfg.freeze_activation_ranges:
        freeze_activation_observers(prepared)
    return run_fine_tune(prepared, cfg, folder, scale, ckpt_dir, say, teacher)


def freeze_activation_observers(prepared) -> int:
    """Stop the per-tensor (activation) fake-quant observers: their calibrated ranges stay fixed."""
    from torchao.quantization.pt2e import FakeQuantizeBase

    frozen = 0
    for m in prepared.modules():
        if isinstance(m, FakeQuantizeBase) and m.qscheme in (torch.per_tensor_affine, torch.per_tensor_symmetric):
            m.disable_observer()
            frozen += 1
    return frozen


# ---------------------------------------------------------------------------------- weight-only
def round_weight_per_channel(w: torch.Tensor) -> torch.Tensor:
    """int8 symmetric per-output-channel rounding: scale = max|w| / 127, as coremltools does it."""
    amax = w.abs().flatten(1).amax(dim=1).clamp_min(1e-12)
    scale = (amax / 127).view(-1, *([1] * (w.ndim - 1)))
    return torch.clamp(torch.round(w / scale), -127, 127) * scale


def _to_half_precision(t):
    """A float32 tensor rounded to the nearest fp16 value, kept in float32; anything else as is."""
    return t.half().float() if isinstance(t, torch.Tensor) and t.dtype == torch.float32 else t


class _RoundEachOpToHalf(TorchFunctionMode):
    """Rounds the float32 result of every torch call made under it to fp16 precision (in place for
    in-place calls, so the tensor written is the one rounded)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)  # the mode is off inside its own handler: no recursion
        name = getattr(func, "__name__", "")
        if (name.endswith("_") and not name.endswith("__")) or kwargs.get("inplace"):
            return out.copy_(_to_half_precision(out)) if isinstance(out, torch.Tensor) else out
        if isinstance(out, (tuple, list)):
            return type(out)(_to_half_precision(t) for t in out)
        return _to_half_precision(out)


class HalfCompute(nn.Module):
    """fp32 in and out, fp16 inside: what a Core ML program converted with FLOAT16 compute runs
    (coreml_target keeps the I/O float32). The weights, the input and the output of every op (the
    MeanShift and the adds included) are rounded to fp16, as Core ML stores them; each op itself
    computes in float32 kernels, as torch's fp16 CPU kernels also do inside before rounding (they
    are about 14x slower here: per-group im2col for the grouped convs). Accumulation order differs
    from the Neural Engine's, so this is a reference for the precision, not the device's bits;
    tests/test_quantization.py checks it against torch's own fp16 kernels. The wrapped module's
    parameters are rounded in place: pass a copy (weight_only_reference does)."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module
        with torch.no_grad():
            for t in [*module.parameters(), *module.buffers()]:
                if t.dtype == torch.float32:
                    t.copy_(t.half())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with _RoundEachOpToHalf():
            return self.module(_to_half_precision(x))


def weight_only_reference(model: nn.Module, compute: torch.dtype = torch.float32) -> nn.Module:
    """A copy of the model whose conv weights are int8-rounded, computed in `compute` (float32, or
    float16: the Core ML int8 artifact's int8 weights with fp16 compute)."""
    if compute not in (torch.float32, torch.float16):
        raise QuantError(f"weight-only reference computes in float32 or float16, not {compute}")
    ref = copy.deepcopy(model).eval()
    with torch.no_grad():
        for m in ref.modules():
            if isinstance(m, nn.Conv2d) and m.weight.requires_grad:  # the MeanShift convs stay exact
                m.weight.copy_(round_weight_per_channel(m.weight))
    even = EvenForward(ref).eval()
    return HalfCompute(even).eval() if compute == torch.float16 else even
