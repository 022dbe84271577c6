"""Which quantizer each target uses, so that what is calibrated or fine-tuned is what runs there.

* ``executorch`` (.pte): ExecuTorch's `XNNPACKQuantizer`, symmetric config, per-channel weights.
* ``litert`` (.tflite; also accepted as ``tflite``): litert-torch's `PT2EQuantizer`, the same
  scheme as its TFLite int8 kernels expect, handed to ``litert_torch.convert(quant_config=...)``.
* ``onnx`` (.onnx QDQ): the XNNPACK quantizer's scheme (int8 per-tensor activations, int8
  per-channel symmetric weights), exported as QuantizeLinear/DequantizeLinear pairs that
  onnxruntime fuses into its QLinear kernels (stored as uint8: `converters.onnx_target.as_uint8_qdq`).
  onnxruntime has no PT2E quantizer of its own.
* ``coreml`` (.mlpackage): no PT2E. coremltools' PT2E quantizer (`CoreMLQuantizer`) imports
  ``torch.ao.quantization.quantizer``, which torch 2.13 no longer has, and W8A8 only pays off on
  the Neural Engine of A17 Pro / M4 and later. Core ML gets int8 *weights* (per-channel
  symmetric, ``coremltools.optimize.coreml.linear_quantize_weights``) with fp16 compute: half the
  size of fp16, no activation quantization, so no calibration or QAT is needed (`WEIGHT_ONLY`).

Every quantizer's heavy package is imported here, on use; a missing one is a `QuantError` that
names the pip extra.
"""
from __future__ import annotations

import torch

from .errors import QuantError

PT2E_TARGETS = ("executorch", "litert", "onnx")
WEIGHT_ONLY = ("coreml",)
QUANT_TARGETS = PT2E_TARGETS + WEIGHT_ONLY
ALIASES = {"tflite": "litert", "pte": "executorch", "mlpackage": "coreml"}
# Targets that lower the same quantizer's graph: one quantization serves both.
FAMILY = {"executorch": "xnnpack", "onnx": "xnnpack", "litert": "litert", "coreml": "coreml-weights"}
EXTRA = {"executorch": "executorch", "litert": "litert", "onnx": "executorch", "coreml": "coreml"}


def canonical_target(name: str) -> str:
    target = ALIASES.get(name, name)
    if target not in QUANT_TARGETS:
        valid = ", ".join(sorted(set(QUANT_TARGETS) | set(ALIASES)))
        raise QuantError(f"unknown quantization target {name!r}; valid: {valid}")
    return target


def missing(target: str, e: ModuleNotFoundError) -> QuantError:
    return QuantError(
        f"quantizing for {target} needs the Python package {e.name!r}: pip install 'hpun-edge[{EXTRA[target]}]'"
    )


def histogram_ranges(config):
    """The QAT config with its activation fake-quants calibrated by a HistogramObserver (the
    observer the PTQ config uses) instead of a moving-average min/max: QAT starts from PTQ's
    activation ranges, which `pt2e.fine_tune` then freezes. Annotations and dtypes are unchanged."""
    import dataclasses

    from torchao.quantization.pt2e import FakeQuantize, HistogramObserver

    def swap(spec):
        if spec is None or spec.qscheme not in (torch.per_tensor_affine, torch.per_tensor_symmetric):
            return spec
        ctr = FakeQuantize.with_args(observer=HistogramObserver, eps=2**-12)
        return dataclasses.replace(spec, observer_or_fake_quant_ctr=ctr)

    return dataclasses.replace(config, input_activation=swap(config.input_activation),
                               output_activation=swap(config.output_activation))


def _litert_with_filter(base_cls, annotate):
    """litert-torch's PT2EQuantizer has no filter hook: one whose static annotators also ask `annotate`."""

    class FilteredPT2EQuantizer(base_cls):
        def _annotate_all_static_patterns(self, model, quantization_config, filter_fn=None):
            def both(node):
                return annotate(node) and (filter_fn is None or filter_fn(node))

            return super()._annotate_all_static_patterns(model, quantization_config, both)

    return FilteredPT2EQuantizer()


def xnnpack_config(qat: bool = False):
    """XNNPACKQuantizer's static int8 config (per-channel symmetric weights, per-tensor affine
    activations): what the ``executorch`` and ``onnx`` targets quantize with, and whose observers
    `quantization.fused_int8` calibrates with."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import get_symmetric_quantization_config

    return get_symmetric_quantization_config(is_per_channel=True, is_qat=qat)


def pt2e_quantizer(target: str, qat: bool, fp32_parts=None):
    """The target's PT2E quantizer, configured for static int8 (per-channel symmetric weights);
    `fp32_parts` (a `mixed.FloatParts`) names what it leaves unannotated, in fp32."""
    from .mixed import FloatParts, node_filter

    fp32_parts = fp32_parts or FloatParts()
    annotate = None if fp32_parts.empty else node_filter(fp32_parts)
    target = canonical_target(target)
    if target not in PT2E_TARGETS:
        raise QuantError(f"{target} uses weight-only int8 (coremltools), not a PT2E quantizer")
    try:
        if target == "litert":
            from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config

            config = get_symmetric_quantization_config(is_per_channel=True, is_qat=qat)
            if qat:
                # litert-torch 0.10's QAT-only conv+batch-norm annotators fail under torchao 0.18 (they
                # export a pattern function, torch.export wants a module). HPUN has no batch norm:
                # annotate as for PTQ, with the QAT config's fake-quant specs (what QAT trains through).
                import dataclasses

                config = dataclasses.replace(histogram_ranges(config), is_qat=False)
            quantizer = PT2EQuantizer() if annotate is None else _litert_with_filter(PT2EQuantizer, annotate)
            return quantizer.set_global(config)
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer

        config = xnnpack_config(qat)
        quantizer = XNNPACKQuantizer().set_global(histogram_ranges(config) if qat else config)
        if annotate is not None:
            quantizer.set_filter_function(annotate)
        return quantizer
    except ModuleNotFoundError as e:
        raise missing(target, e) from None


def describe_scheme(target: str) -> str:
    if canonical_target(target) in WEIGHT_ONLY:
        return "int8 weights (per-channel symmetric), fp16 activations and compute"
    return "int8 activations (per-tensor affine, static), int8 weights (per-channel symmetric)"
