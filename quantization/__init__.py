"""int8 quantization (layer 2, installed as ``hpun_edge.quantization``): calibration, the quantizers,
PT2E PTQ/QAT, mixed precision, and the project's kernels' own int8 scheme. Imports the core only.

``quantize(model, quantizer, method, cal, ...)`` quantizes a trained fp32 HPUN with one of
`quantizers.QUANTIZERS` (a target names its quantizer in its ``TargetSpec``) and returns what a
converter exports (``export_module``), what its convolutions are counted against
(``census_model``), the fake-quant reference an artifact is checked against (``reference``) and the
settings recorded in its sidecar (``settings()``).
"""
from __future__ import annotations

from .calibration import CalibrationData, load_calibration
from .errors import QuantError
from .fused_int8 import SCHEME as OWN_KERNELS, quantize_fused
from .mixed import DEFAULT_FP32_PARTS, FloatParts
from .pt2e import QATConfig, quantize as quantize_pt2e
from .quantizers import QUANTIZERS, get_quantizer


def quantize(model, quantizer: str, method: str, cal: CalibrationData, **settings):
    """`pt2e.quantize` for ``xnnpack``, ``litert`` and ``coreml-weights``; `fused_int8.quantize_fused`
    for the project's kernels (``fused-int8``), which takes the same settings."""
    if get_quantizer(quantizer).name == OWN_KERNELS:
        return quantize_fused(model, cal, method=method, **settings)
    return quantize_pt2e(model, quantizer, method, cal, **settings)


__all__ = ["DEFAULT_FP32_PARTS", "QUANTIZERS", "CalibrationData", "FloatParts", "QATConfig", "QuantError",
           "get_quantizer", "load_calibration", "quantize"]
