"""The benchmark evaluation: every image of a dataset upscaled, scored, and averaged.

Per image: LR from `LR_bicubic/X<s>` (or made from HR), SR = upscaler(LR) as uint8, PSNR/SSIM against
modcrop(HR, s) on Y (gray values for a gray image) with `s` border pixels cropped (see `metrics`).
The dataset figure is the mean over images, as papers report it. An image that cannot be read is
skipped and listed with its one-line reason; the mean is over the images that were scored.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from .data import Dataset, ImageError, load_pair
from .imresize import bicubic_upscale
from .inference import InferenceOptions, upscale
from .metrics import calculate_psnr, calculate_ssim
from .weights import atomic_write_bytes

Upscaler = Callable[[np.ndarray], np.ndarray]  # uint8 LR (H x W x 3 or H x W) -> uint8 SR, same channels

PROTOCOL = {
    "degradation": "MATLAB bicubic imresize(modcrop(HR, s), 1/s), LR_bicubic files where present",
    "channel": "Y of BT.601 YCbCr (MATLAB rgb2ycbcr, unrounded); gray images on gray values",
    "crop_border": "scale",
    "sr_quantised_to_uint8": True,
    "ssim": "Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, valid filtering, K=(0.01, 0.03)",
    "average": "mean over images",
}


@dataclass
class ImageScore:
    image: str
    psnr_y: float
    ssim_y: float


@dataclass
class DatasetResult:
    model: str
    dataset: str
    scale: int
    psnr_y: float
    ssim_y: float
    images: list[ImageScore] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


def evaluate_dataset(
    upscaler: Upscaler, dataset: Dataset, scale: int, *, model: str = "", progress: bool = False, progress_file=None
) -> DatasetResult:
    """PSNR/SSIM (Y, the protocol above) of `upscaler` on every image of `dataset`; unreadable images
    are skipped and listed. ``progress``: a bar over the images (on ``progress_file``, default stderr)."""
    scores: list[ImageScore] = []
    skipped: list[dict[str, str]] = []
    paths = dataset.hr_paths()
    for hr_path in tqdm(paths, desc=f"{dataset.name} x{scale}", disable=not progress, leave=False, file=progress_file):
        try:
            lr, hr = load_pair(dataset, hr_path, scale)
        except (ImageError, ValueError) as e:
            skipped.append({"file": str(hr_path), "error": str(e)})
            continue
        sr = upscaler(lr)
        if sr.shape != hr.shape:
            raise RuntimeError(f"{hr_path}: upscaler returned {sr.shape}, expected {hr.shape}")
        scores.append(
            ImageScore(hr_path.stem, calculate_psnr(sr, hr, scale), calculate_ssim(sr, hr, scale))
        )
    psnr = float(np.mean([s.psnr_y for s in scores])) if scores else float("nan")
    ssim = float(np.mean([s.ssim_y for s in scores])) if scores else float("nan")
    return DatasetResult(model, dataset.name, scale, psnr, ssim, scores, skipped)


def bicubic_upscaler(scale: int) -> Upscaler:
    return lambda lr: bicubic_upscale(lr, scale)


def model_upscaler(model: torch.nn.Module, scale: int, opts: InferenceOptions = InferenceOptions()) -> Upscaler:
    model = model.eval()
    return lambda lr: upscale(model, lr, scale, opts)


def write_json(path: str | os.PathLike, payload: dict) -> None:
    path = Path(path)
    text = json.dumps(payload, indent=2, allow_nan=True) + "\n"
    atomic_write_bytes(path, lambda tmp: Path(tmp).write_text(text))


def results_payload(results: list[DatasetResult], opts: InferenceOptions) -> dict:
    return {
        "protocol": PROTOCOL,
        "inference": asdict(opts),
        "results": [asdict(r) for r in results],
    }
