"""Synthetic photo files the photo tests write: 16-bit PNG (via PngWriter) and 16-bit RGB(A) TIFF,
which PIL cannot write, and an sRGB ICC profile."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from hpun_edge.photo import PngWriter


def write_png(path: Path, arr: np.ndarray, icc: bytes | None = None, bands: int = 3) -> None:
    """arr (H, W) or (H, W, C) uint8/uint16 -> PNG at path, fed to PngWriter in `bands` pieces."""
    h, w = arr.shape[:2]
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    with open(path, "wb") as f:
        png = PngWriter(f, w, h, channels, 8 if arr.dtype == np.uint8 else 16, icc)
        for piece in np.array_split(arr, bands):
            png.write(piece)
        png.finish()


def write_tiff16(path: Path, arr: np.ndarray, big_endian: bool = False, deflate: bool = False) -> None:
    """A baseline TIFF, one strip, 16 bits a sample, RGB (H, W, 3) or RGBA (H, W, 4, alpha unassociated)."""
    h, w, c = arr.shape
    e = ">" if big_endian else "<"
    data = arr.astype(e + "u2").tobytes()
    if deflate:
        data = zlib.compress(data)
    bits_at = 8 + len(data)  # BitsPerSample values (c shorts) stored after the strip
    ifd_at = bits_at + 2 * c + (2 * c) % 4
    entries = [
        (256, 4, 1, w), (257, 4, 1, h), (258, 3, c, bits_at), (259, 3, 1, 8 if deflate else 1),
        (262, 3, 1, 2), (273, 4, 1, 8), (277, 3, 1, c), (278, 4, 1, h), (279, 4, 1, len(data)),
        (284, 3, 1, 1),
    ] + ([(338, 3, 1, 2)] if c == 4 else [])

    def entry(tag, typ, count, value):
        if typ == 3 and count == 1:
            return struct.pack(e + "HHIHH", tag, typ, count, value, 0)
        return struct.pack(e + "HHII", tag, typ, count, value)

    out = (b"MM\0*" if big_endian else b"II*\0") + struct.pack(e + "I", ifd_at) + data
    out += struct.pack(e + "H" * c, *([16] * c)) + b"\0" * ((2 * c) % 4)
    out += struct.pack(e + "H", len(entries)) + b"".join(entry(*x) for x in entries) + struct.pack(e + "I", 0)
    path.write_bytes(out)


def srgb_profile() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
