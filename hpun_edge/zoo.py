"""One entry point, `create_model(name, scale, pretrained=False)`, over the explicit variant registry."""
from __future__ import annotations

from pathlib import Path

from .model import HPUN
from .variants import check_scale, get_variant

WEIGHTS_DIR = Path(__file__).parent / "weights"


def pretrained_path(name: str, scale: int) -> Path:
    return WEIGHTS_DIR / f"{name}_x{scale}.safetensors"


def create_model(name: str, scale: int, pretrained: bool = False) -> HPUN:
    """Build HPUN `name` (hpun_s, hpun_m, hpun_l) for `scale` (2, 3, 4), in eval mode.

    pretrained=True loads the weights shipped in the package (offline; no download ever happens).
    """
    spec = get_variant(name)
    check_scale(spec, scale)
    model = HPUN(spec, scale)
    if pretrained:
        from .weights import load_weights

        path = pretrained_path(name, scale)
        if not path.exists():
            raise FileNotFoundError(
                f"{path}: no pretrained weights are shipped for {name} x{scale} yet; "
                f"train them with `hpun-edge train --model {name} --scale {scale}`"
            )
        load_weights(model, path)
    return model.eval()
