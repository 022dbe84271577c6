"""Benchmark datasets on disk, and image files read and written without surprises.

Layout (as in `shared/datasets`): ``<root>/<Name>/HR/*.png`` and, optionally,
``<root>/<Name>/LR_bicubic/X<s>/<same name>.png``. LR files that are absent are made from HR with the
MATLAB degradation (`imresize.degrade`).

The data root is ``--data``, else ``$HPUN_EDGE_DATA``, else ``./data``, else ``../shared/datasets``.

Images are uint8 numpy arrays: H x W x 3 (RGB) or H x W (grayscale, kept one-channel so that it is
scored on its gray values as the MATLAB scripts do). What `read_image` accepts and refuses:

* 8-bit RGB and grayscale: as they are. Palette images: expanded to RGB (lossless).
* RGBA / LA: the alpha channel is dropped if it is fully opaque, refused otherwise.
* 16-bit, float, 1-bit and CMYK images: refused (the protocol is defined on 8-bit images).
* Corrupt or truncated files, and images over `MAX_PIXELS` (decompression bombs): refused.

A refusal is an `ImageError` whose message names the file and the problem on one line.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np
from PIL import Image

from .files import atomic_write_bytes
from .imresize import degrade, modcrop

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".webp")
MAX_PIXELS = 100_000_000  # larger images are refused as possible decompression bombs
DEFAULT_SHARED = Path("..") / "shared" / "datasets"


class ImageError(ValueError):
    """A file that cannot be used as an 8-bit image; str() is one line naming file and problem."""


class DatasetError(ValueError):
    pass


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an 8-bit RGB (H x W x 3) or grayscale (H x W) image as uint8, or raise ImageError."""
    path = Path(path)

    def decode(im: Image.Image) -> np.ndarray:
        im.load()
        return _to_uint8_array(path, im)

    return decode_image(path, decode)


T = TypeVar("T")


def decode_image(path: Path, decode: Callable[[Image.Image], T], error: type[ImageError] = ImageError,
                 also: tuple[type[BaseException], ...] = ()) -> T:
    """``decode(im)`` of the image at `path` opened with PIL, decompression bombs refused (over
    `MAX_PIXELS`, or PIL's own warning); every failure (`also`: more exception types the decoder may
    raise) becomes an `error` whose message names the file and the problem on one line."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise error(f"{path}: {im.width}x{im.height} pixels exceeds the limit of "
                                f"{MAX_PIXELS:,} (possible decompression bomb)")
                return decode(im)
    except ImageError:
        raise
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not an image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise error(f"{path}: refused as a possible decompression bomb ({e})") from None
    except Image.UnidentifiedImageError:
        raise error(f"{path}: not an image file PIL can identify (corrupt or foreign)") from None
    except (OSError, SyntaxError, ValueError, *also) as e:
        text = str(e).strip()
        raise error(f"{path}: unreadable image ({text.splitlines()[0] if text else type(e).__name__})") from None


def _to_uint8_array(path: Path, im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode in ("RGB", "L"):
        return np.asarray(im, dtype=np.uint8).copy()
    if mode == "P":
        if "transparency" in im.info:
            return _drop_opaque_alpha(path, im.convert("RGBA"))
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    if mode in ("RGBA", "LA", "PA"):
        return _drop_opaque_alpha(path, im)
    if mode.startswith("I") or mode == "F":
        raise ImageError(
            f"{path}: {mode} image ({'16-bit' if mode.startswith('I;16') or mode == 'I' else 'float'}); "
            "the SR benchmark protocol is defined on 8-bit images, convert it to 8-bit first"
        )
    raise ImageError(f"{path}: unsupported image mode {mode}; expected 8-bit RGB or grayscale")


def _drop_opaque_alpha(path: Path, im: Image.Image) -> np.ndarray:
    alpha = np.asarray(im.getchannel("A"))
    if alpha.min() < 255:
        raise ImageError(
            f"{path}: {im.mode} image with transparent pixels; flatten it onto a background first"
        )
    return np.asarray(im.convert("L" if im.mode == "LA" else "RGB"), dtype=np.uint8).copy()


def write_image(path: str | os.PathLike, img: np.ndarray) -> None:
    """Write a uint8 image as PNG atomically (`files.atomic_write_bytes`)."""
    atomic_write_bytes(Path(path), lambda tmp: Image.fromarray(img).save(tmp, format="PNG"))


def require_scale_fits(path: Path, img: np.ndarray, scale: int) -> None:
    """ImageError naming `path` when the image is smaller than the scale (nothing to downscale)."""
    if img.shape[0] < scale or img.shape[1] < scale:
        raise ImageError(f"{path}: image of {img.shape[1]}x{img.shape[0]} is smaller than the scale {scale}")


def to_rgb(img: np.ndarray) -> np.ndarray:
    """Grayscale replicated to three channels (how a one-channel image enters the model)."""
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img


def resolve_data_root(data: str | os.PathLike | None = None) -> Path:
    """--data, else $HPUN_EDGE_DATA, else ./data, else ../shared/datasets (first that exists)."""
    if data is not None:
        candidates = [("--data", Path(data))]
    else:
        candidates = []
        if os.environ.get("HPUN_EDGE_DATA"):
            candidates.append(("$HPUN_EDGE_DATA", Path(os.environ["HPUN_EDGE_DATA"])))
        candidates += [("./data", Path("data")), ("../shared/datasets", DEFAULT_SHARED)]
    for _, path in candidates:
        if path.is_dir():
            return path
    tried = ", ".join(f"{src} ({p})" for src, p in candidates)
    raise DatasetError(f"no data root found; tried {tried}")


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


@dataclass(frozen=True)
class Dataset:
    """A benchmark set: HR images and, where present, its MATLAB-bicubic LR folder for a scale."""

    name: str
    hr_dir: Path
    root: Path

    def lr_dir(self, scale: int) -> Path:
        return self.root / "LR_bicubic" / f"X{scale}"

    def hr_paths(self) -> list[Path]:
        return list_images(self.hr_dir)


def find_dataset(name_or_path: str, data_root: str | os.PathLike | None = None) -> Dataset:
    """A dataset by name under the data root (Set5, Set14, B100, ...) or by folder path.

    A folder path may be the dataset folder (holding HR/) or an HR folder itself.
    """
    candidate = Path(name_or_path)
    if candidate.is_dir():
        ds = (Dataset(candidate.name, candidate / "HR", candidate) if (candidate / "HR").is_dir()
              else Dataset(candidate.name, candidate, candidate))
    elif os.sep in name_or_path or name_or_path.startswith("."):
        raise DatasetError(f"{name_or_path}: no such dataset folder")
    else:
        root = resolve_data_root(data_root) / name_or_path
        if not (root / "HR").is_dir():
            raise DatasetError(f"{root}: dataset {name_or_path!r} not found (no HR/ folder there)")
        ds = Dataset(name_or_path, root / "HR", root)
    if not ds.hr_paths():
        raise DatasetError(f"{ds.hr_dir}: no images in this dataset folder ({', '.join(IMAGE_SUFFIXES)})")
    return ds


def load_pair(ds: Dataset, hr_path: Path, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(LR, HR) for one benchmark image: HR modcropped to the scale; LR from LR_bicubic or made.

    An LR file that exists must have the size the degradation gives, else ImageError.
    """
    hr = read_image(hr_path)
    require_scale_fits(hr_path, hr, scale)
    hr = modcrop(hr, scale)
    lr_path = ds.lr_dir(scale) / hr_path.name
    if lr_path.exists():
        lr = read_image(lr_path)
        expect = (hr.shape[0] // scale, hr.shape[1] // scale)
        if lr.shape[:2] != expect:
            raise ImageError(
                f"{lr_path}: LR is {lr.shape[1]}x{lr.shape[0]}, expected {expect[1]}x{expect[0]} "
                f"for x{scale} of its HR"
            )
        if lr.ndim != hr.ndim:
            raise ImageError(f"{lr_path}: LR has {_channels(lr)} channel(s), HR has {_channels(hr)}")
    else:
        lr = degrade(hr, scale)
    return lr, hr


def _channels(img: np.ndarray) -> int:
    return 1 if img.ndim == 2 else img.shape[2]
