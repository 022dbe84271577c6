"""Weights as safetensors with a JSON model card beside them; loading never unpickles.

``<stem>.safetensors`` holds the tensors, and in its header metadata the identity the loader checks
(variant, scale, bias policy). ``<stem>.json`` is the model card: that identity plus what a user
needs to trust the file (training data, iterations, wall time, hardware, measured PSNR/SSIM).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .files import atomic_write_bytes  # also imported from here by training, evaluate, converters
from .variants import check_scale, get_variant


class WeightsError(ValueError):
    """A weights file that cannot be loaded into the model asked for; one line naming both."""


@dataclass
class ModelCard:
    model: str
    scale: int
    bias_policy: str
    training_data: str = "untrained"
    iterations: int = 0
    wall_time_s: float = 0.0
    hardware: str = ""
    # {"Set5": {"psnr_y": .., "ssim_y": ..}, ...} as measured by `hpun-edge eval`
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "ModelCard":
        data = json.loads(text)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def card_path(weights_path: str | os.PathLike) -> Path:
    return Path(weights_path).with_suffix(".json")


def save_weights(model: nn.Module, path: str | os.PathLike, card: ModelCard) -> None:
    """Write `path` (.safetensors) and its model card, each atomically."""
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {"model": card.model, "scale": str(card.scale), "bias_policy": card.bias_policy,
            "format": "hpun-edge/1"}
    atomic_write_bytes(path, lambda tmp: save_file(state, tmp, metadata=meta))
    atomic_write_bytes(card_path(path), lambda tmp: Path(tmp).write_text(card.to_json()))


def read_metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{path}: not a readable safetensors file ({e})") from None


def read_checked_state(
    path: str | os.PathLike, model: nn.Module, *, check_scale: bool = True, label: str = "weights"
) -> dict[str, torch.Tensor]:
    """The tensors of a .safetensors file whose header identity (variant, scale, bias policy) fits `model`.

    Never unpickles. `label` names the file's role in the messages (e.g. "--init-from weights").
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file ({label})")
    if path.suffix != ".safetensors":
        raise WeightsError(f"{path}: {label} must be a .safetensors file (pickled checkpoints are refused)")
    meta = read_metadata(path)
    spec, scale = model.spec, model.scale
    if meta.get("model") not in (None, spec.name):
        raise WeightsError(f"{path}: {label} are for {meta['model']}, the model is {spec.name}")
    if check_scale and meta.get("scale") not in (None, str(scale)):
        raise WeightsError(f"{path}: {label} are for x{meta['scale']}, the model is x{scale}")
    if meta.get("bias_policy") not in (None, spec.bias_policy):
        raise WeightsError(
            f"{path}: {label} have bias policy {meta['bias_policy']!r}, the model {spec.bias_policy!r}"
        )
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{path}: not a readable safetensors file ({e})") from None


def load_weights(model: nn.Module, path: str | os.PathLike) -> ModelCard | None:
    """Load `path` into `model` after checking variant, scale, names and shapes; returns its card."""
    path = Path(path)
    state = read_checked_state(path, model)
    check_state_dict(state, model, path)
    model.load_state_dict(state)
    cp = card_path(path)
    return ModelCard.from_json(cp.read_text()) if cp.exists() else None


def check_state_dict(state: dict[str, torch.Tensor], model: nn.Module, path: Path) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensors (first: {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensors (first: {unexpected[0]})")
        raise WeightsError(f"{path}: does not fit {model.spec.name} x{model.scale}: {'; '.join(parts)}")
    for name, tensor in expected.items():
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise WeightsError(
                f"{path}: {name} has shape {tuple(state[name].shape)}, "
                f"{model.spec.name} x{model.scale} needs {tuple(tensor.shape)}"
            )


def model_from_weights(path: str | os.PathLike):
    """Build the model a weights file declares in its metadata and load it."""
    from .zoo import create_model

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    meta = read_metadata(path)
    if "model" not in meta or "scale" not in meta:
        raise WeightsError(f"{path}: no hpun-edge metadata (model, scale) in the safetensors header")
    spec = get_variant(meta["model"])
    scale = check_scale(spec, int(meta["scale"]))
    model = create_model(spec.name, scale)
    load_weights(model, path)
    return model.eval()
