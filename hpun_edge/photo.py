"""Photos in and out of `upscale`: read as they are meant to be seen, written as a streamed PNG.

A photo is not a benchmark image (`data.read_image`), so `read_photo` accepts what the benchmark
protocol refuses and normalises it to one layout (`Photo`):

* ``pixels``: uint8 or uint16 (``bit_depth`` 8 or 16), H x W x 3 (RGB) or H x W (gray), C order;
* ``alpha``: None or an H x W plane of the same dtype (straight, not premultiplied);
* EXIF orientation (tag 0x0112, values 2-8) applied, so rows run top to bottom as the photo is seen;
* palette -> RGB, or RGBA when it has transparency; 1-bit -> gray; CMYK/YCbCr -> RGB (PIL's
  conversion; a CMYK ICC profile is dropped, it cannot describe RGB pixels);
* 16-bit: gray PNG/TIFF (PIL modes I;16*, I) and RGB/RGBA/gray+alpha PNG and RGB/RGBA TIFF, which PIL
  itself truncates to 8 bits: those are decoded twice, once per byte of each sample (`_decode_16bit`);
* the ICC profile is kept when its colour space (RGB or GRAY) matches the pixels, dropped otherwise.

Refusals raise `PhotoError` (an `ImageError`) naming the file and the problem on one line: missing,
corrupt or foreign files, decompression bombs over `data.MAX_PIXELS`, float or 32-bit images.

`PngWriter` encodes rows as they arrive (band by band), 8 or 16 bits, gray/gray+alpha/RGB/RGBA, with
an iCCP chunk; PIL cannot stream rows. Every row uses the Up filter (see `PNG_FILTER_NOTE`).
"""
from __future__ import annotations

import os
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable

import numpy as np
from PIL import Image

from .data import IMAGE_SUFFIXES, ImageError, decode_image

OUTPUT_FOLDER = "upscaled"  # default output folder beside the inputs; never searched for inputs
PNG_LEVEL = 3  # zlib level: see PNG_FILTER_NOTE
PNG_FILTER_NOTE = (
    "Up filter + zlib level 3: on bicubic-x2 B100 photos, Up/Paeth/adaptive are within 1% of each "
    "other in size (None is 45% larger); level 3 is 5% smaller than 1 at half its speed (25 MB/s), "
    "level 6 is 4% smaller still at a third of that speed"
)


class PhotoError(ImageError):
    """A photo that cannot be read or written; str() is one line naming the file and the problem."""


@dataclass(frozen=True, eq=False)
class Photo:
    """A decoded photo, oriented as seen. pixels: H x W x 3 or H x W, uint8 or uint16 (bit_depth)."""

    path: Path
    pixels: np.ndarray
    bit_depth: int  # 8 or 16
    alpha: np.ndarray | None = None  # H x W, same dtype as pixels
    icc_profile: bytes | None = None

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def gray(self) -> bool:
        return self.pixels.ndim == 2

    @property
    def channels(self) -> int:
        """Channels of the PNG written for it: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA."""
        return (1 if self.gray else 3) + (self.alpha is not None)

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6


def read_photo(path: str | os.PathLike) -> Photo:
    """Read and normalise a photo (module docstring), or raise PhotoError naming the file."""
    path = Path(path)

    def decode(im: Image.Image):
        return (*_decode(path, im), _orientation(im), im.info.get("icc_profile") or None)

    pixels, alpha, depth, kind, orientation, icc = decode_image(path, decode, PhotoError, (struct.error, zlib.error))
    pixels = _orient(pixels, orientation)
    alpha = None if alpha is None else _orient(alpha, orientation)
    if icc is not None and _icc_space(icc) != kind:
        icc = None  # e.g. a CMYK profile on pixels converted to RGB
    return Photo(path, pixels, depth, alpha, icc)


def _decode(path: Path, im: Image.Image) -> tuple[np.ndarray, np.ndarray | None, int, bytes]:
    """(pixels, alpha, bit depth, b'RGB ' or b'GRAY') for the PIL image as stored (not yet oriented)."""
    wide = _decode_16bit(path, im)
    if wide is not None:
        return wide
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        im.load()
        arr = np.asarray(im)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise PhotoError(f"{path}: {mode} image with values outside 0..65535 (not a 16-bit photo)")
        return arr.astype(np.uint16), None, 16, b"GRAY"
    if mode == "F":
        raise PhotoError(f"{path}: float image (mode F); convert it to 8 or 16 bits first")
    if mode == "P":
        has_alpha = "transparency" in im.info
        im = im.convert("RGBA" if has_alpha else "RGB")
        mode = im.mode
    conversions = {"1": "L", "La": "LA", "PA": "RGBA", "RGBa": "RGBA", "RGBX": "RGB", "CMYK": "RGB", "YCbCr": "RGB"}
    if mode in conversions:
        im = im.convert(conversions[mode])
        mode = im.mode
    if mode not in ("L", "LA", "RGB", "RGBA"):
        raise PhotoError(f"{path}: unsupported image mode {mode}")
    arr = np.asarray(im, dtype=np.uint8)
    kind = b"GRAY" if mode in ("L", "LA") else b"RGB "
    if mode in ("L", "RGB"):
        return arr.copy(), None, 8, kind
    return arr[..., :-1].squeeze(-1).copy() if mode == "LA" else arr[..., :3].copy(), arr[..., -1].copy(), 8, kind


_SWAP = {"B": "L", "L": "B", "N": "B" if sys.byteorder == "little" else "L"}


def _rawmode(tile) -> str:
    args = tile.args
    if isinstance(args, str):
        return args
    return args[0] if isinstance(args, (tuple, list)) and args and isinstance(args[0], str) else ""


def _with_rawmode(tile, rawmode: str):
    args = rawmode if isinstance(tile.args, str) else (rawmode, *tile.args[1:])
    return tile._replace(args=args)


def _decode_16bit(path: Path, im: Image.Image):
    """16-bit colour images, which PIL decodes to 8 bits: decoded twice, high then low bytes.

    A rawmode such as RGB;16B hands PIL's unpacker the first byte of each big-endian sample (the
    high one); the same data with RGB;16L hands it the second (the low one). PNG gray+alpha 16-bit
    (LA;16B, 4 bytes a pixel) is decoded once as 8-bit RGBA: L high, L low, A high, A low.
    Returns None for anything else (PIL's own decoding then applies).
    """
    if not im.tile or im.mode not in ("RGB", "RGBA"):
        return None
    raws = {_rawmode(t) for t in im.tile}
    if len(raws) != 1:
        return None
    raw = raws.pop()
    if raw == "LA;16B":
        im.tile = [_with_rawmode(t, "RGBA") for t in im.tile]
        im.load()
        b = np.asarray(im).astype(np.uint16)
        return (b[..., 0] << 8) | b[..., 1], (b[..., 2] << 8) | b[..., 3], 16, b"GRAY"
    if raw[:-1] not in ("RGB;16", "RGBA;16", "RGBX;16") or raw[-1] not in _SWAP:
        return None
    im.load()
    high = np.asarray(im).astype(np.uint16)
    with Image.open(path) as again:
        again.tile = [_with_rawmode(t, raw[:-1] + _SWAP[raw[-1]]) for t in again.tile]
        again.load()
        both = (high << 8) | np.asarray(again)
    if im.mode == "RGBA":
        return np.ascontiguousarray(both[..., :3]), np.ascontiguousarray(both[..., 3]), 16, b"RGB "
    return both, None, 16, b"RGB "


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block is no reason to refuse the pixels
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


# EXIF orientation -> the transform that shows the photo upright (PIL's ImageOps.exif_transpose).
_ORIENT = {
    2: lambda a: a[:, ::-1],  # mirror left-right
    3: lambda a: a[::-1, ::-1],  # rotate 180
    4: lambda a: a[::-1],  # mirror top-bottom
    5: lambda a: a.swapaxes(0, 1),  # transpose
    6: lambda a: np.rot90(a, -1),  # rotate 90 clockwise
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),  # transverse
    8: lambda a: np.rot90(a, 1),  # rotate 90 counter-clockwise
}


def _orient(a: np.ndarray, orientation: int) -> np.ndarray:
    return np.ascontiguousarray(_ORIENT[orientation](a)) if orientation in _ORIENT else a


def _icc_space(profile: bytes) -> bytes:
    """The data colour space of an ICC profile (header bytes 16..20: b'RGB ', b'GRAY', b'CMYK'...)."""
    return profile[16:20] if len(profile) >= 20 else b""


# -- finding inputs and naming outputs ---------------------------------------------------------------


def _walk(inputs: Iterable[str | os.PathLike]) -> list[tuple[Path, Path | None]]:
    """(file, the folder input it was found under, or None for a file named directly)."""
    found: list[tuple[Path, Path | None]] = []
    seen: set[Path] = set()
    for item in map(Path, inputs):
        if item.is_dir():
            files = []
            for folder, dirs, names in os.walk(item):
                dirs[:] = sorted(d for d in dirs if d != OUTPUT_FOLDER)
                files += [Path(folder) / n for n in names if Path(n).suffix.lower() in IMAGE_SUFFIXES]
            pairs = [(f, item) for f in sorted(files)]
        else:
            pairs = [(item, None)]  # named directly: tried whatever its suffix (and reported if absent)
        for f, root in pairs:
            key = _key(f)
            if key not in seen:
                seen.add(key)
                found.append((f, root))
    return found


def find_photos(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Files named directly, and under each folder (recursively, sorted) those with a suffix in
    `data.IMAGE_SUFFIXES`, skipping folders named `upscaled`; in input order, without duplicates."""
    return [f for f, _ in _walk(inputs)]


def output_path(src: str | os.PathLike, out_dir: str | os.PathLike | None = None,
                root: str | os.PathLike | None = None) -> Path:
    """Where the PNG for `src` goes: ``<src.parent>/upscaled/<stem>.png`` by default, else
    ``<out_dir>/<src's folder relative to root>/<stem>.png``. PhotoError if that is `src` itself."""
    src = Path(src)
    dst = _default_output(src, out_dir, root)
    if _key(src) == _key(dst):
        raise PhotoError(f"{src}: the output {dst} would overwrite the input; choose another --out")
    return dst


def _default_output(src: Path, out_dir, root) -> Path:
    if out_dir is None:
        return src.parent / OUTPUT_FOLDER / f"{src.stem}.png"
    rel = src.parent.relative_to(root) if root is not None else Path()
    return Path(out_dir) / rel / f"{src.stem}.png"


def plan_outputs(inputs: Iterable[str | os.PathLike],
                 out_dir: str | os.PathLike | None = None) -> list[tuple[Path, Path]]:
    """(source, destination) for every photo found (`find_photos`); a folder input keeps its
    subfolders under `out_dir`, and files found inside `out_dir` when it lies within a folder input
    (an earlier run's outputs) are not inputs. Sources whose outputs would coincide (a.jpg, a.png)
    are told apart as ``a_jpg.png``, ``a_png.png``. PhotoError if an output would be an input.
    """
    out_key = _key(out_dir) if out_dir is not None else None

    def earlier_output(f: Path, root: Path | None) -> bool:
        return (out_key is not None and root is not None and out_key != _key(root)
                and _key(f).is_relative_to(out_key))

    found = [(f, r) for f, r in _walk(inputs) if not earlier_output(f, r)]
    plan = [(f, _default_output(f, out_dir, r)) for f, r in found]
    counts: dict[Path, int] = {}
    for _, dst in plan:
        counts[_key(dst)] = counts.get(_key(dst), 0) + 1
    plan = [(f, d.with_name(f"{f.stem}_{f.suffix.lstrip('.').lower()}.png") if counts[_key(d)] > 1 else d)
            for f, d in plan]
    sources = {_key(f) for f, _ in plan}
    seen: set[Path] = set()
    for f, d in plan:
        if _key(d) in sources:
            raise PhotoError(f"{f}: its output {d} would overwrite an input; choose another --out")
        if _key(d) in seen:
            raise PhotoError(f"{f}: another input also writes {d}; rename one of them")
        seen.add(_key(d))
    return plan


def _key(p: str | os.PathLike) -> Path:
    """A path's identity: absolute, symlinks resolved (for the parts that exist)."""
    return Path(os.path.realpath(p))


# -- streamed PNG -------------------------------------------------------------------------------------

_COLOR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type (gray, gray+alpha, RGB, RGBA)
_IDAT_BYTES = 1 << 18


class PngWriter:
    """A PNG encoder fed rows in order: `write(rows)` any number of times, then `finish()`.

    Holds one row of the previous band (for the Up filter) and zlib's state, never the image.
    rows: (n, width) for 1 channel or (n, width, channels), uint8 (8-bit) or uint16 (16-bit).
    """

    def __init__(self, f: BinaryIO, width: int, height: int, channels: int, bit_depth: int,
                 icc_profile: bytes | None = None, level: int = PNG_LEVEL):
        if channels not in _COLOR_TYPE or bit_depth not in (8, 16) or width <= 0 or height <= 0:
            raise ValueError(f"PngWriter: unsupported {width}x{height}, {channels} channels, {bit_depth} bits")
        self._f, self.width, self.height, self.channels, self.bit_depth = f, width, height, channels, bit_depth
        self._dtype = np.dtype(np.uint8 if bit_depth == 8 else ">u2")
        self._row_bytes = width * channels * self._dtype.itemsize
        self._prev = np.zeros(self._row_bytes, np.uint8)
        self._z = zlib.compressobj(level)
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self.rows_written = 0
        f.write(b"\x89PNG\r\n\x1a\n")
        self._chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, _COLOR_TYPE[channels], 0, 0, 0))
        if icc_profile:
            self._chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(icc_profile))

    def write(self, rows: np.ndarray) -> None:
        """Filter and compress the next rows; IDAT chunks are written as zlib's output accumulates."""
        expect = (self.width,) if self.channels == 1 else (self.width, self.channels)
        if rows.shape[1:] != expect or rows.dtype != (np.uint8 if self.bit_depth == 8 else np.uint16):
            raise ValueError(f"PngWriter: rows of shape {rows.shape} {rows.dtype}, expected (n, {expect}) "
                             f"{'uint8' if self.bit_depth == 8 else 'uint16'}")
        n = rows.shape[0]
        if self.rows_written + n > self.height:
            raise ValueError(f"PngWriter: {self.rows_written + n} rows written to a {self.height}-row PNG")
        if n == 0:
            return
        raw = np.ascontiguousarray(rows, dtype=self._dtype).view(np.uint8).reshape(n, self._row_bytes)
        out = np.empty((n, self._row_bytes + 1), np.uint8)
        out[:, 0] = 2  # Up: each byte minus the byte above it (mod 256)
        np.subtract(raw[0], self._prev, out=out[0, 1:])
        np.subtract(raw[1:], raw[:-1], out=out[1:, 1:])
        self._prev = raw[-1].copy()
        self._add(self._z.compress(out.data))
        self.rows_written += n

    def finish(self) -> None:
        """Flush zlib and write IEND; ValueError if fewer rows than the height were written."""
        if self.rows_written != self.height:
            raise ValueError(f"PngWriter: {self.rows_written} of {self.height} rows written")
        self._add(self._z.flush())
        self._flush_idat()
        self._chunk(b"IEND", b"")
        self._f.flush()

    def _add(self, data: bytes) -> None:
        if data:
            self._pending.append(data)
            self._pending_bytes += len(data)
            if self._pending_bytes >= _IDAT_BYTES:
                self._flush_idat()

    def _flush_idat(self) -> None:
        if self._pending:
            self._chunk(b"IDAT", b"".join(self._pending))
            self._pending, self._pending_bytes = [], 0

    def _chunk(self, kind: bytes, data: bytes) -> None:
        self._f.write(struct.pack(">I", len(data)) + kind)
        self._f.write(data)
        self._f.write(struct.pack(">I", zlib.crc32(data, zlib.crc32(kind))))
