"""What a GPU call carries: the data sets as lossless WebP copies, checked pixel for pixel.

A call to the lent GPU machine carries at most 64 MiB: the source tree (about 19 MiB, 17.7 of them
the shipped weights) and what `carry` names. As PNG the training set alone is 58.7 MiB; as lossless
WebP it is 39.2 MiB. So a campaign takes two calls:

* ``<out>/train``: ``train/`` (T91 + BSD200) and ``Set5/HR`` (validation): about 40 MiB, for training;
* ``<out>/bench``: ``Set5/HR``, ``Set14/HR``, ``B100/HR``: about 20 MiB, for measuring candidates
  (LR images are made from HR by the MATLAB degradation, bit-exact with LR_bicubic: see data.py).

Every copy is decoded again and compared with its source (the same uint8 pixels, or a one-line
error naming the file); copies already there with the same pixels are kept, so a rerun is cheap.
Grayscale images (Set14's bridge) are copied as they are: WebP would make them RGB.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ..data import DatasetError, read_image
from ..files import atomic_write_bytes
from .patches import find_images

TRAIN_SETS = ("Set5",)
BENCH_SETS = ("Set5", "Set14", "B100")


def carry_copy(src: Path, dest_stem: Path) -> Path:
    """Copy image `src` to `dest_stem` + ".webp" (lossless), or byte for byte with its own suffix where
    WebP cannot hold it as it is (grayscale: WebP is RGB, and the protocol scores gray images on their
    gray values). An identical copy already there is kept. Returns the copy's path.

    Raises ValueError (one line) if the copy does not decode to the source's pixels.
    """
    pixels = read_image(src)
    as_webp = pixels.ndim == 3 and pixels.shape[2] == 3
    dest = dest_stem.with_suffix(".webp" if as_webp else src.suffix)
    if dest.is_file() and np.array_equal(read_image(dest), pixels):
        return dest
    if as_webp:
        atomic_write_bytes(dest, lambda tmp: Image.fromarray(pixels).save(tmp, "WEBP", lossless=True, quality=100, method=4))
    else:
        atomic_write_bytes(dest, lambda tmp: Path(tmp).write_bytes(src.read_bytes()))
    if not np.array_equal(read_image(dest), pixels):
        dest.unlink(missing_ok=True)
        raise ValueError(f"{src}: its copy {dest} does not decode to the same pixels")
    return dest


def copy_folder(src: Path, dest: Path) -> tuple[int, int]:
    """Copies of every image under `src` (recursive, same relative paths); (files, bytes)."""
    copies = [carry_copy(f, dest / f.relative_to(src)) for f in find_images(src)]
    return len(copies), sum(p.stat().st_size for p in copies)


def prepare_carry(data_root: Path, out: Path, say=print) -> dict[str, int]:
    """Write ``out/train`` and ``out/bench`` (see the module docstring); returns bytes per folder."""
    data_root = Path(data_root)
    for name in ("train", *BENCH_SETS):
        folder = data_root / name if name == "train" else data_root / name / "HR"
        if not folder.is_dir():
            raise DatasetError(f"{folder}: not found (the data root must hold train/ and Set5, Set14, B100 HR/)")
    sizes = {}
    for part, items in (("train", [("train", data_root / "train")] + [(f"{n}/HR", data_root / n / "HR") for n in TRAIN_SETS]),
                        ("bench", [(f"{n}/HR", data_root / n / "HR") for n in BENCH_SETS])):
        total = 0
        for rel, src in items:
            count, size = copy_folder(src, out / part / rel)
            total += size
            say(f"{out / part / rel}: {count} images, {size / 2**20:.1f} MiB")
        sizes[part] = total
    return sizes
