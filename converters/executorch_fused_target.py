"""ExecuTorch with the project's own kernels: the HPUN blocks as ``hpun::`` ops, the rest in XNNPACK.

The converted module is `hpun_edge.fused.own_kernel_module(model)` (fp32: every PUB one
``hpun::fused_pub``, every front block one ``hpun::pw_relu_pud_pw_add`` (HPUN-S) or XNNPACK's dense
conv and one ``hpun::fused_pud_pw_add`` (HPUN-M/L), channels-last inside) or, in int8, the kernels'
own scheme (`hpun_edge.quantization.fused_int8`: the SRDSC 1x1 convs in the kernels' int8, the
body's dense convs in XNNPACK's int8). Lowered, exported, described and loaded as any ExecuTorch
program (`executorch_target`); the runtime needs the project's kernel library, which
`converters.kernels` builds (CMake, into the cache folder) and loads before the program, and the
sidecar records which library (the hash of its sources). The C++ runner links it whole-archive.
"""
from __future__ import annotations

from hpun_edge.fused import OWN_KERNEL_REWRITES, own_kernel_module

from . import executorch_target as et
from .base import TargetSpec

SPEC = TargetSpec(
    name="executorch-fused", title="ExecuTorch with the project's kernels", runtime="executorch", suffix=".pte",
    precisions=("fp32", "int8"), packages=("executorch",), extra="executorch",
    exporter=f"hpun_edge.fused.own_kernel_module(model) (int8: quantization.fused_int8) -> {et.EXPORTER}",
    convert=et.convert, write=et.write, describe=et.describe, check_format=et.check_format, load=et.load,
    profile=et.profile, quantizer="fused-int8", int8_rewrites=OWN_KERNEL_REWRITES, kernels=True, hpun_only=True,
    fp32_module=own_kernel_module,
)
