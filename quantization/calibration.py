"""Calibration (and QAT fine-tuning) data: LR/HR training patches at the model's scale.

PTQ calibrates the activation observers on real training patches, never on random tensors; QAT
fine-tunes on patches drawn the same way (`hpun_edge.training.patches`: sample i is a pure function
of (seed, i), so a run is reproducible and resumable). The patches come from a folder of HR images
(default ``<data root>/train``, T91 + BSD200), degraded with the MATLAB bicubic of the benchmarks,
or from a ``.safetensors`` file written by `save_calibration` (it records its scale).
"""
from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from hpun_edge.data import DatasetError, resolve_data_root
from hpun_edge.files import atomic_write_bytes
from hpun_edge.training.patches import PatchDataset, TrainImages, find_images, load_train_images

from .errors import QuantError

FORMAT = "hpun-edge-calibration/1"


@dataclass(frozen=True)
class CalibrationData:
    """LR patches (N, 3, p, p) and their HR patches (N, 3, p*s, p*s), float in [0, 1]."""

    lr: torch.Tensor
    hr: torch.Tensor
    scale: int
    source: str  # folder or file it came from

    def __len__(self) -> int:
        return int(self.lr.shape[0])

    def describe(self) -> dict:
        return {"source": self.source, "patches": len(self), "lr_patch": int(self.lr.shape[-1]), "scale": self.scale}


def check_calibration(cal: CalibrationData, scale: int) -> CalibrationData:
    """Refuse calibration data that is empty, of another scale, or whose HR is not LR x scale."""
    if len(cal) == 0:
        raise QuantError(f"{cal.source}: the calibration data is empty (give --calib-data a folder of HR training images)")
    if cal.scale != scale:
        raise QuantError(
            f"{cal.source}: calibration data made for x{cal.scale}, the model is x{scale} "
            f"(make it again at x{scale}, or use the HR image folder)"
        )
    # N patches of C channels (3 for an SR model; a bench peer's conv reference has its own C)
    if (cal.lr.ndim != 4 or cal.hr.ndim != 4 or tuple(cal.lr.shape[:2]) != tuple(cal.hr.shape[:2])
            or tuple(cal.hr.shape[-2:]) != tuple(s * scale for s in cal.lr.shape[-2:])):
        raise QuantError(
            f"{cal.source}: LR patches {tuple(cal.lr.shape)} and HR patches {tuple(cal.hr.shape)} are not "
            f"(N, C, p, p) and (N, C, p*{scale}, p*{scale})"
        )
    return cal


@functools.lru_cache(maxsize=2)
def train_images(folder: str, scale: int, patch_size: int) -> TrainImages:
    """The HR images under `folder` read and degraded (MATLAB bicubic) once per process: the
    pipeline's calibrations and QATs (one per quantizer family) share them. Read-only:
    `PatchDataset` crops copies."""
    return load_train_images(folder, scale, patch_size, report=lambda line: None)


def patches_from_folder(folder: str | os.PathLike, scale: int, count: int, patch: int, seed: int) -> CalibrationData:
    """`count` (LR, HR) patch pairs drawn from the HR images under `folder` (sample i of `seed`)."""
    try:
        images = train_images(str(folder), scale, patch)
    except DatasetError as e:
        raise QuantError(f"{e} (calibration data)") from None
    ds = PatchDataset(images, patch, seed)
    pairs = [ds[i] for i in range(count)]
    if not pairs:
        return CalibrationData(torch.empty(0, 3, patch, patch), torch.empty(0, 3, patch * scale, patch * scale),
                               scale, str(folder))
    lr = torch.stack([p[0] for p in pairs]).float().div_(255)
    hr = torch.stack([p[1] for p in pairs]).float().div_(255)
    return CalibrationData(lr, hr, scale, str(folder))


def save_calibration(cal: CalibrationData, path: str | os.PathLike) -> None:
    from safetensors.torch import save

    meta = {"format": FORMAT, "scale": str(cal.scale), "source": cal.source}
    data = save({"lr": cal.lr.contiguous(), "hr": cal.hr.contiguous()}, metadata=meta)
    atomic_write_bytes(Path(path), lambda tmp: Path(tmp).write_bytes(data))


def load_calibration_file(path: str | os.PathLike) -> CalibrationData:
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT:
                raise QuantError(f"{path}: not a calibration file (format {meta.get('format')!r}, expected {FORMAT!r})")
            keys = set(f.keys())
            if keys != {"lr", "hr"}:
                raise QuantError(f"{path}: a calibration file holds tensors 'lr' and 'hr', found {sorted(keys)}")
            lr, hr = f.get_tensor("lr").float(), f.get_tensor("hr").float()
        scale = int(meta.get("scale", "0"))
    except (SafetensorError, OSError, ValueError, json.JSONDecodeError) as e:
        raise QuantError(f"{path}: not a readable calibration file ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    return CalibrationData(lr, hr, scale, str(path))


def calibration_source(source: str | os.PathLike | None, scale: int,
                       data_root: str | os.PathLike | None = None) -> Path:
    """Where calibration data comes from, checked in a moment (before any long work): a calibration
    file of this scale, or a folder with at least one image file below it (<data root>/train for None)."""
    if source is None:
        try:
            source = resolve_data_root(data_root) / "train"
        except DatasetError as e:
            raise QuantError(f"{e} (calibration data: pass --calib-data)") from None
    path = Path(source)
    if not path.exists():
        raise QuantError(f"{path}: no such calibration data (a folder of HR images or a .safetensors calibration file)")
    if path.is_file():
        check_calibration(load_calibration_file(path), scale)
    else:
        try:
            find_images(path)
        except DatasetError as e:
            raise QuantError(f"{e} (calibration data)") from None
    return path


def load_calibration(source: str | os.PathLike | None, scale: int, *, count: int = 64, patch: int = 48,
                     seed: int = 0, data_root: str | os.PathLike | None = None) -> CalibrationData:
    """Calibration data from a .safetensors file, a folder of HR images, or <data root>/train (None)."""
    path = calibration_source(source, scale, data_root)
    cal = load_calibration_file(path) if path.is_file() else patches_from_folder(path, scale, count, patch, seed)
    return check_calibration(cal, scale)
