"""hpun-edge: HPUN super-resolution from training to phones.

The pipeline's path is the module layout: model (`variants`, `model`, `zoo`) -> data (`imresize`,
`data`) -> metrics (`metrics`) -> inference (`inference`) -> evaluation (`evaluate`) -> CLI (`cli`).
Only torch, numpy, pillow and safetensors are imported here; each mobile target imports its own
dependency when it is used.
"""
from .variants import VARIANTS, VariantSpec, get_variant
from .zoo import create_model

__all__ = ["VARIANTS", "VariantSpec", "create_model", "get_variant", "list_models"]
__version__ = "0.1.0"


def list_models() -> list[str]:
    return list(VARIANTS)
