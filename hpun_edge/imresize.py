"""MATLAB-compatible bicubic `imresize` and `modcrop`: the degradation of the SR benchmarks.

A re-implementation from MATLAB's documented algorithm (imresize.m: `contributions` + `imresizemex`):

* cubic kernel with a = -0.5 (Keys), support 4;
* downscaling (scale < 1) is antialiased: the kernel is stretched by 1/scale, h(x) = scale*cubic(scale*x);
* output pixel x (1-based) samples the input at u = x/scale + 0.5*(1 - 1/scale); weights are
  normalised to sum to 1 for every output pixel;
* one 1-D pass per dimension, height first (MATLAB sorts the dimensions by scale, ties keep order);
* for uint8 images the result of **each** pass is rounded half away from zero and saturated to uint8;
* out-of-range taps: ``boundary="clamp"`` replicates the edge (the LR files of Set5/Set14/B100 in
  `shared/datasets/*/LR_bicubic` were made so), ``"symmetric"`` mirrors 1..n,n..1 (current MATLAB,
  used for bicubic upsampling).
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Literal

import numpy as np

Boundary = Literal["clamp", "symmetric"]


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5, as MATLAB writes it."""
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (
        -0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2
    ) * ((ax > 1) & (ax <= 2))


def output_length(in_length: int, scale: float) -> int:
    """ceil(in_length * scale), computed exactly for scales such as 1/3 that floats cannot hold."""
    return math.ceil(in_length * Fraction(scale).limit_denominator(10_000))


def contributions(
    in_length: int, out_length: int, scale: float, boundary: Boundary
) -> tuple[np.ndarray, np.ndarray]:
    """Weights (out_length x P) and 0-based input indices (same shape) of one 1-D resize."""
    kernel_width = 4.0
    if scale < 1:  # antialiasing
        def h(x):
            return scale * cubic(scale * x)

        kernel_width = kernel_width / scale
    else:
        h = cubic
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    weights = h(u[:, None] - indices)
    weights = weights / weights.sum(axis=1, keepdims=True)
    indices = indices.astype(np.int64)
    if boundary == "symmetric":
        mirror = np.concatenate([np.arange(1, in_length + 1), np.arange(in_length, 0, -1)])
        indices = mirror[np.mod(indices - 1, mirror.size)]
    elif boundary == "clamp":
        indices = np.clip(indices, 1, in_length)
    else:
        raise ValueError(f"boundary must be 'clamp' or 'symmetric', not {boundary!r}")
    keep = np.any(weights != 0, axis=0)  # MATLAB drops all-zero columns
    return weights[:, keep], indices[:, keep] - 1


def round_half_away(v: np.ndarray) -> np.ndarray:
    """MATLAB's double -> uint8 conversion: round half away from zero, then saturate."""
    r = np.floor(v)
    r += (v - r) >= 0.5
    return np.clip(r, 0, 255).astype(np.uint8)


def resize_along(img: np.ndarray, axis: int, scale: float, boundary: Boundary) -> np.ndarray:
    """One 1-D pass along `axis`, accumulated tap by tap in float64 as imresizemex does."""
    in_length = img.shape[axis]
    weights, indices = contributions(in_length, output_length(in_length, scale), scale, boundary)
    src = np.moveaxis(img, axis, 0).astype(np.float64)
    extra = (1,) * (src.ndim - 1)
    acc = np.zeros((weights.shape[0],) + src.shape[1:], dtype=np.float64)
    for k in range(weights.shape[1]):
        acc += weights[:, k].reshape((-1,) + extra) * src[indices[:, k]]
    return np.moveaxis(acc, 0, axis)


def imresize(img: np.ndarray, scale: float, *, boundary: Boundary = "symmetric") -> np.ndarray:
    """MATLAB ``imresize(img, scale, 'bicubic')`` for a uint8 H x W or H x W x C image."""
    if img.dtype != np.uint8:
        raise TypeError(f"imresize expects a uint8 image, got {img.dtype}")
    if img.ndim not in (2, 3):
        raise ValueError(f"imresize expects an H x W or H x W x C image, got shape {img.shape}")
    out = img
    for axis in (0, 1):  # height first
        out = round_half_away(resize_along(out, axis, scale, boundary))
    return out


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so that height and width are multiples of `scale` (MATLAB modcrop)."""
    h, w = img.shape[:2]
    if h < scale or w < scale:
        raise ValueError(f"image of {w}x{h} is smaller than the scale {scale}")
    return img[: h - h % scale, : w - w % scale]


def degrade(hr: np.ndarray, scale: int) -> np.ndarray:
    """The benchmark LR image: imresize(modcrop(HR, s), 1/s, 'bicubic') with clamped borders."""
    return imresize(modcrop(hr, scale), 1.0 / scale, boundary="clamp")


def bicubic_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """The 'Bicubic' baseline row: MATLAB imresize(LR, s, 'bicubic') (symmetric borders)."""
    return imresize(lr, float(scale), boundary="symmetric")
