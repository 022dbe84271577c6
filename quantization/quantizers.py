"""The int8 quantizers, one per scheme: what each target's int8 artifact is calibrated (and fine-tuned) for.

A target (`hpun_edge.converters`) names its quantizer in its `TargetSpec.quantizer`; targets that
lower the same quantizer's graph share one quantization. The quantizers:

* ``xnnpack``: ExecuTorch's `XNNPACKQuantizer`, symmetric config, per-channel weights: int8
  activations per tensor (affine, static), int8 weights per output channel (symmetric). Lowered by
  the ``executorch`` target (.pte) and by the ``onnx`` target (QuantizeLinear/DequantizeLinear
  pairs that onnxruntime fuses into its QLinear kernels); onnxruntime has no PT2E quantizer.
* ``litert``: litert-torch's `PT2EQuantizer`, the scheme its TFLite int8 kernels expect, plus the
  bilinear upsampling on its input's grid (`share_grid_through_resize`): litert-torch's converter
  always makes ``dequantize -> upsample`` an int8 RESIZE_BILINEAR whose output is rounded to its
  input's scale, so the reference (and the QAT) round there too. The litert target's rewrites
  (``pud_bias_apart``) give every upsampling an fp32 input, so in its artifacts none is int8.
* ``coreml-weights``: no PT2E. coremltools' PT2E quantizer imports
  ``torch.ao.quantization.quantizer``, which torch 2.13 no longer has, and W8A8 only pays off on the
  Neural Engine of A17 Pro / M4 and later. Core ML gets int8 *weights* (per-channel symmetric,
  ``linear_quantize_weights``) with fp16 compute: no calibration or fine-tuning.
* ``fused-int8``: the project's own kernels' scheme (`quantization.fused_int8`): W8A8 where the
  kernels and XNNPACK run int8, fp32 elsewhere; its activation observers are XNNPACK's.

Every quantizer's heavy package is imported here on use; a missing one is a `QuantError` naming
the pip extra that installs it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from .errors import QuantError

METHODS = ("ptq", "qat")


@dataclass(frozen=True)
class QuantizerSpec:
    """One int8 scheme: its name (recorded as ``family`` in sidecars), the pip extra that installs
    its package, whether it quantizes weights only, the methods it has, what it makes int8, and
    the method the main job uses when none is asked (`main_method`: QAT where it measurably beats
    PTQ at the main job's QAT budget)."""

    name: str
    extra: str
    weight_only: bool
    methods: tuple[str, ...]
    scheme: str
    main_method: str


QUANTIZERS: dict[str, QuantizerSpec] = {q.name: q for q in (
    # PTQ loses 0.05 / 0.03 dB on HPUN-S x2 Set5 / Set14, QAT wins most of it back (docs/quantization.md)
    QuantizerSpec("xnnpack", "executorch", False, METHODS,
                  "int8 activations (per-tensor affine, static), int8 weights (per-channel symmetric)", "qat"),
    # its own QAT: the litert target's graph (pud_bias_apart) is not XNNPACK's, and an upsampling of an
    # int8 tensor is rounded as LiteRT's int8 RESIZE_BILINEAR rounds it (share_grid_through_resize)
    QuantizerSpec("litert", "litert", False, METHODS,
                  "int8 activations (per-tensor affine, static), int8 weights (per-channel symmetric), "
                  "a bilinear upsampling of an int8 tensor in int8 on its input's grid", "qat"),
    QuantizerSpec("coreml-weights", "coreml", True, ("ptq",),
                  "int8 weights (per-channel symmetric), fp16 activations and compute", "ptq"),
    # QAT: 1000 steps of L1 (the state shipped for HPUN-S x2, hpun_edge/weights/qat) measured +0.022 / +0.010
    # dB against fp32 on Set5 / Set14, PTQ -0.028 / -0.023; 120 distilled steps -0.029 / -0.020
    QuantizerSpec("fused-int8", "executorch", False, METHODS,
                  "the kernels' int8 1x1 convs and XNNPACK's int8 dense convs (W8A8), the rest fp32", "qat"),
)}


def get_quantizer(name: str) -> QuantizerSpec:
    try:
        return QUANTIZERS[name]
    except KeyError:
        raise QuantError(f"unknown quantizer {name!r}; valid: {', '.join(QUANTIZERS)}") from None


def missing(quantizer: str, e: ModuleNotFoundError) -> QuantError:
    return QuantError(f"the {quantizer} quantizer needs the Python package {e.name!r}: "
                      f"pip install 'hpun-edge[{get_quantizer(quantizer).extra}]'")


def histogram_ranges(config):
    """The QAT config with its activation fake-quants calibrated by a HistogramObserver (the
    observer the PTQ config uses) instead of a moving-average min/max: QAT starts from PTQ's
    activation ranges, which `pt2e.fine_tune` then freezes. Annotations and dtypes are unchanged."""
    from torchao.quantization.pt2e import FakeQuantize, HistogramObserver

    def swap(spec):
        if spec is None or spec.qscheme not in (torch.per_tensor_affine, torch.per_tensor_symmetric):
            return spec
        ctr = FakeQuantize.with_args(observer=HistogramObserver, eps=2**-12)
        return dataclasses.replace(spec, observer_or_fake_quant_ctr=ctr)

    return dataclasses.replace(config, input_activation=swap(config.input_activation),
                               output_activation=swap(config.output_activation))


RESIZE_OPS = (torch.ops.aten.upsample_bilinear2d.vec, torch.ops.aten.upsample_bilinear2d.default)


def share_grid_through_resize(model: torch.fx.GraphModule, annotate=None) -> int:
    """Annotate each bilinear upsampling whose input is quantized to output on its input's grid
    (a `SharedQuantizationSpec`: the same scale and zero point), and return how many.

    litert-torch's converter turns ``dequantize -> upsample_bilinear2d`` into an int8
    RESIZE_BILINEAR followed by the dequantize, whatever the graph says (strict Q/DQ mode, identity
    ops in between are folded away), and TFLite's int8 resize requires the input's scale at its
    output: the interpolated values are rounded to that grid. With this annotation the reference
    rounds there as well and QAT trains through it. `annotate` is the fp32-parts filter (True:
    the node may be annotated)."""
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, SharedQuantizationSpec

    made = 0
    for node in model.graph.nodes:
        if node.op != "call_function" or node.target not in RESIZE_OPS or (annotate and not annotate(node)):
            continue
        source = node.args[0]
        given = source.meta.get("quantization_annotation") if isinstance(source, torch.fx.Node) else None
        if given is None or given.output_qspec is None or node.meta.get("quantization_annotation"):
            continue
        shared = SharedQuantizationSpec(source)
        node.meta["quantization_annotation"] = QuantizationAnnotation(
            input_qspec_map={source: shared}, output_qspec=shared, _annotated=True)
        made += 1
    return made


def _litert_quantizer(base_cls, annotate=None):
    """litert-torch's PT2EQuantizer with the resize annotation (`share_grid_through_resize`) and,
    where `annotate` is given, a filter on its static annotators (it has no filter hook)."""

    class LiteRTQuantizer(base_cls):
        def annotate(self, model):
            model = super().annotate(model)
            share_grid_through_resize(model, annotate)
            return model

        def _annotate_all_static_patterns(self, model, quantization_config, filter_fn=None):
            def both(node):
                return (annotate is None or annotate(node)) and (filter_fn is None or filter_fn(node))

            return super()._annotate_all_static_patterns(model, quantization_config, both)

    return LiteRTQuantizer()


def xnnpack_config(qat: bool = False):
    """XNNPACKQuantizer's static int8 config (per-channel symmetric weights, per-tensor affine
    activations): what the ``xnnpack`` quantizer uses, and whose observers ``fused-int8`` calibrates with."""
    try:
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import get_symmetric_quantization_config
    except ModuleNotFoundError as e:
        raise missing("xnnpack", e) from None
    return get_symmetric_quantization_config(is_per_channel=True, is_qat=qat)


def pt2e_quantizer(quantizer: str, qat: bool, fp32_parts=None):
    """The PT2E quantizer of ``xnnpack`` or ``litert``, configured for static int8 (per-channel
    symmetric weights); `fp32_parts` (a `mixed.FloatParts`) names what it leaves unannotated, in fp32."""
    from .mixed import FloatParts, node_filter

    fp32_parts = fp32_parts or FloatParts()
    annotate = None if fp32_parts.empty else node_filter(fp32_parts)
    if quantizer not in ("xnnpack", "litert"):
        raise QuantError(f"{get_quantizer(quantizer).name} is not a PT2E quantizer (xnnpack, litert are)")
    try:
        if quantizer == "litert":
            from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config

            config = get_symmetric_quantization_config(is_per_channel=True, is_qat=qat)
            if qat:
                # litert-torch 0.10's QAT-only conv+batch-norm annotators fail under torchao 0.18 (they
                # export a pattern function, torch.export wants a module). HPUN has no batch norm:
                # annotate as for PTQ, with the QAT config's fake-quant specs (what QAT trains through).
                config = dataclasses.replace(histogram_ranges(config), is_qat=False)
            return _litert_quantizer(PT2EQuantizer, annotate).set_global(config)
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer

        config = xnnpack_config(qat)
        q = XNNPACKQuantizer().set_global(histogram_ranges(config) if qat else config)
        if annotate is not None:
            q.set_filter_function(annotate)
        return q
    except ModuleNotFoundError as e:
        raise missing(quantizer, e) from None
