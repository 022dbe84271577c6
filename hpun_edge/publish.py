"""Ship trained weights: measure them with the evaluation protocol and install them in the package.

`publish(weights)` evaluates a .safetensors file on the benchmark sets (the same code as
`hpun-edge eval`), writes the measured PSNR/SSIM into its model card, and copies weights and card to
`hpun_edge/weights/<model>_x<scale>.*`, where `create_model(..., pretrained=True)` finds them.

`device` ("cuda", ...) runs the measurement on a GPU, in fp32 with TF32 off (cuDNN and matmul), so
that the figures are what the CPU measures (within float rounding); tests re-measure Set5 on the CPU.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path

import torch

from .data import find_dataset
from .evaluate import DatasetResult, evaluate_dataset, model_upscaler
from .weights import ModelCard, card_path, load_weights, model_from_weights, save_weights
from .zoo import WEIGHTS_DIR, create_model, pretrained_path

BENCHMARKS = ("Set5", "Set14", "B100")


@contextlib.contextmanager
def strict_fp32():
    """fp32 convolutions and matmuls on CUDA: TF32 off (PyTorch allows it in cuDNN by default)."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def measure(model, datasets=BENCHMARKS, data_root: str | os.PathLike | None = None,
            device: str | torch.device | None = None) -> list[DatasetResult]:
    """PSNR/SSIM of `model` (fp32) on `datasets`; on `device` if given (the model is left on the CPU)."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    forward = model
    if device.type != "cpu":
        from .training.runlog import DeviceForward

        forward = DeviceForward(model.to(device), device)
    upscaler = model_upscaler(forward, model.scale)
    try:
        with strict_fp32():
            return [
                evaluate_dataset(upscaler, find_dataset(name, data_root), model.scale, model=model.spec.name,
                                 progress=True)
                for name in datasets
            ]
    finally:
        model.cpu()


def installed_path(weights: str | os.PathLike, dest_dir: str | os.PathLike = WEIGHTS_DIR) -> Path:
    from .weights import read_metadata

    meta = read_metadata(Path(weights))
    return Path(dest_dir) / pretrained_path(meta["model"], int(meta["scale"])).name


def is_published(weights: str | os.PathLike, dest_dir: str | os.PathLike = WEIGHTS_DIR, datasets=BENCHMARKS) -> bool:
    """True when `dest_dir` holds these very tensors with a card measured on every one of `datasets`."""
    from safetensors.torch import load_file

    dest = installed_path(weights, dest_dir)
    if not (dest.exists() and card_path(dest).exists()):
        return False
    if not set(datasets) <= set(ModelCard.from_json(card_path(dest).read_text()).metrics):
        return False
    a, b = load_file(str(weights)), load_file(str(dest))
    return a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a)


def publish(
    weights: str | os.PathLike,
    dest_dir: str | os.PathLike = WEIGHTS_DIR,
    datasets=BENCHMARKS,
    data_root: str | os.PathLike | None = None,
    note: str = "",
    device: str | torch.device | None = None,
) -> tuple[Path, ModelCard]:
    """Evaluate `weights`, record the figures in its card, install as <dest>/<model>_x<s>.safetensors."""
    model = model_from_weights(weights)
    source_card = card_path(weights)
    card = (
        ModelCard.from_json(source_card.read_text())
        if source_card.exists()
        else ModelCard(model=model.spec.name, scale=model.scale, bias_policy=model.spec.bias_policy)
    )
    results = measure(model, datasets, data_root, device)
    metrics = {r.dataset: {"psnr_y": round(r.psnr_y, 4), "ssim_y": round(r.ssim_y, 5)} for r in results}
    notes = " ".join(n for n in (note, card.notes) if n)
    card = dataclasses.replace(card, metrics=metrics, notes=notes)
    dest = Path(dest_dir) / pretrained_path(model.spec.name, model.scale).name
    save_weights(model, dest, card)
    # Read back what was written: the installed file must load as the variant it claims.
    load_weights(create_model(model.spec.name, model.scale), dest)
    return dest, card
