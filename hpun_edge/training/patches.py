"""Training patches: HR images decoded and degraded once, held in memory, sampled by index.

Every HR image is read once, modcropped to the scale and degraded with the project's MATLAB bicubic
(`imresize.degrade`) at start; patches are aligned crops of that LR/HR pair (patches are never
resized). Sample `i` is a pure function of (seed, i): a numpy Generator seeded with [seed, i] picks
the image, the crop position and the flips/rotation. Process `rank` of `world` takes, at step `t`,
the indices ``t*batch*world + rank*batch + j`` (j < batch), so the data do not depend on the number
of DataLoader workers, ranks draw different samples, and resuming needs only the step.

A sample is drawn (`draw_sample`: image, crop position, flips, rotation) and then cropped; the draw
is the same numpy function for the CPU crops here and for the device crops of `device_data`, so the
two give the same patches.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ..data import IMAGE_SUFFIXES, DatasetError, ImageError, read_image, to_rgb
from ..imresize import degrade, modcrop


def find_images(folder: str | Path) -> list[Path]:
    """Image files under `folder`, recursively, in a fixed (sorted by relative path) order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no such training data folder")
    found = [p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    if not found:
        raise DatasetError(f"{folder}: no image files in this folder or below ({', '.join(IMAGE_SUFFIXES)})")
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


@dataclass
class TrainImages:
    """Decoded training pairs: LR (H x W x 3 uint8) and HR (H*s x W*s x 3 uint8)."""

    folder: Path
    scale: int
    lr: list[np.ndarray] = field(default_factory=list)
    hr: list[np.ndarray] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one line per skipped file

    def __len__(self) -> int:
        return len(self.hr)

    def describe(self) -> str:
        return (
            f"{len(self)} HR images from {self.folder} (recursive), LR by MATLAB bicubic "
            f"imresize(modcrop(HR, {self.scale}), 1/{self.scale})"
        )


def load_train_images(
    folder: str | Path, scale: int, patch_size: int, *, progress: bool = False, report=None
) -> TrainImages:
    """Read and degrade every usable image under `folder`; unreadable or too-small ones are skipped.

    `report(line)` is called for each skipped file (default: print to stderr). Raises DatasetError when
    the folder is missing or empty, or when no image is usable.
    """
    from tqdm import tqdm

    if report is None:
        def report(line: str) -> None:
            print(line, file=sys.stderr)

    paths = find_images(folder)
    out = TrainImages(Path(folder), scale)
    hr_patch = patch_size * scale
    for path in tqdm(paths, desc="loading training images", disable=not progress, leave=False):
        try:
            hr = read_image(path)
        except ImageError as e:
            out.skipped.append(f"skipped (unreadable): {e}")
            report(out.skipped[-1])
            continue
        h, w = hr.shape[:2]
        if h // scale < patch_size or w // scale < patch_size:
            out.skipped.append(
                f"skipped (too small): {path}: {w}x{h} is smaller than the {hr_patch}x{hr_patch} HR patch"
            )
            report(out.skipped[-1])
            continue
        hr = np.ascontiguousarray(to_rgb(modcrop(hr, scale)))
        out.lr.append(degrade(hr, scale))
        out.hr.append(hr)
        out.paths.append(path)
    if not out.hr:
        raise DatasetError(
            f"{folder}: none of the {len(paths)} image file(s) is usable "
            f"(each must be readable and at least {hr_patch}x{hr_patch} pixels for x{scale}, "
            f"patch {patch_size})"
        )
    return out


def sample_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, index])


# A draw: (image k, LR row y, LR column x, hflip, vflip, rot), in this order (the columns of `batch_draws`).
DRAW_FIELDS = ("image", "y", "x", "hflip", "vflip", "rot")


def draw_sample(seed: int, index: int, lr_shapes: list[tuple[int, int]], patch_size: int,
                augment: bool = True) -> tuple[int, int, int, int, int, int]:
    """Sample `index`'s image, LR crop corner and dihedral transform: a pure function of (seed, index).

    `lr_shapes` are the (height, width) of the LR images. Without `augment` the transform is the
    identity (no draw is made for it).
    """
    rng = sample_rng(seed, index)
    k = int(rng.integers(len(lr_shapes)))
    h, w = lr_shapes[k]
    y = int(rng.integers(h - patch_size + 1))
    x = int(rng.integers(w - patch_size + 1))
    if not augment:
        return k, y, x, 0, 0, 0
    hflip, vflip, rot = (int(v) for v in rng.integers(2, size=3))
    return k, y, x, hflip, vflip, rot


def batch_draws(seed: int, indices, lr_shapes: list[tuple[int, int]], patch_size: int,
                augment: bool = True) -> torch.Tensor:
    """The draws of `indices` as an int64 (len(indices), 6) tensor (columns: DRAW_FIELDS)."""
    rows = [draw_sample(seed, i, lr_shapes, patch_size, augment) for i in indices]
    return torch.tensor(rows, dtype=torch.int64).reshape(len(rows), len(DRAW_FIELDS))


class PatchDataset(Dataset):
    """Sample `i` -> (LR, HR) uint8 CHW tensors; a pure function of (seed, i)."""

    def __init__(self, images: TrainImages, patch_size: int, seed: int, augment: bool = True):
        self.lr, self.hr, self.scale = images.lr, images.hr, images.scale
        self.patch_size, self.seed, self.augment = patch_size, seed, augment
        self.lr_shapes = [im.shape[:2] for im in images.lr]

    def __len__(self) -> int:  # indices are unbounded; the samplers below decide which are drawn
        return sys.maxsize

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        k, y, x, hflip, vflip, rot = draw_sample(self.seed, index, self.lr_shapes, self.patch_size, self.augment)
        lr_img, hr_img, p, s = self.lr[k], self.hr[k], self.patch_size, self.scale
        lr = lr_img[y : y + p, x : x + p]
        hr = hr_img[y * s : (y + p) * s, x * s : (x + p) * s]
        if hflip or vflip or rot:
            lr, hr = augment(lr, hflip, vflip, rot), augment(hr, hflip, vflip, rot)
        return to_chw(lr), to_chw(hr)


def augment(img: np.ndarray, hflip: int, vflip: int, rot: int) -> np.ndarray:
    """The 8 dihedral transforms: optional horizontal flip, vertical flip, transpose (90-degree rotation)."""
    if hflip:
        img = img[:, ::-1]
    if vflip:
        img = img[::-1]
    if rot:
        img = img.transpose(1, 0, 2)
    return img


def to_chw(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


def batch_indices(step: int, batch: int, rank: int = 0, world: int = 1) -> list[int]:
    """The global sample indices process `rank` of `world` trains on at `step` (0-based)."""
    start = step * batch * world + rank * batch
    return list(range(start, start + batch))


class StepBatchSampler(Sampler):
    """Yields `batch_indices(t, ...)` for t = start_step .. stop_step-1: one list per training step."""

    def __init__(self, start_step: int, stop_step: int, batch: int, rank: int = 0, world: int = 1):
        self.start_step, self.stop_step = start_step, stop_step
        self.batch, self.rank, self.world = batch, rank, world

    def __len__(self) -> int:
        return max(0, self.stop_step - self.start_step)

    def __iter__(self) -> Iterator[list[int]]:
        for t in range(self.start_step, self.stop_step):
            yield batch_indices(t, self.batch, self.rank, self.world)


def make_loader(
    dataset: PatchDataset, start_step: int, stop_step: int, batch: int, *, rank: int = 0, world: int = 1,
    workers: int = 0, pin_memory: bool = False,
) -> torch.utils.data.DataLoader:
    """Batches of uint8 (N, 3, p, p) LR and (N, 3, p*s, p*s) HR for steps start_step..stop_step-1."""
    extra = {"persistent_workers": True, "prefetch_factor": 4} if workers > 0 else {}
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=StepBatchSampler(start_step, stop_step, batch, rank, world),
        num_workers=workers,
        pin_memory=pin_memory,
        # Its own generator: creating the iterator draws a worker base seed, which must not consume
        # the global torch RNG (saved in checkpoints). Samples do not use worker seeds at all.
        generator=torch.Generator().manual_seed(dataset.seed),
        **extra,
    )
