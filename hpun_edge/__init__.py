"""hpun-edge: HPUN super-resolution from training to phones, in four layers.

1. core (this package's modules): model (`variants`, `model`, `zoo`, `weights`, exact `rewrites`,
   the `ops` table and `fused`) -> data (`imresize`, `data`) -> metrics -> inference (tiling) ->
   evaluation -> `training`; torch, numpy, pillow, safetensors only;
2. `hpun_edge.quantization`: int8 (calibration, quantizers, PT2E PTQ/QAT, the kernels' own scheme);
3. `hpun_edge.converters`: one module per target and their registry (`TARGETS`);
4. `hpun_edge.app`: the pipeline, bench, report and the ``hpun-edge`` command line.
A layer imports only the layers before it; each mobile runtime is imported by its target when used.
"""
from .variants import VARIANTS, VariantSpec, get_variant
from .zoo import create_model

__all__ = ["VARIANTS", "VariantSpec", "create_model", "get_variant", "list_models"]
__version__ = "0.1.0"


def list_models() -> list[str]:
    return list(VARIANTS)
