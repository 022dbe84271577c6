"""Inference on uint8 images: tiling with overlap, self-ensemble, quantisation to uint8.

Tiling is crop-and-stitch: a tile reads `overlap` extra LR pixels of context on each inner side and
only its core is kept, so with ``overlap >= model.receptive_radius`` the result equals whole-image
inference up to float rounding. Tiles start at even LR coordinates so that every tile's
pixel_unshuffle grid lines up with the whole image's. Mobile targets run a graph of one fixed tile
size (``fixed_size=True``): an image smaller than the tile is edge-padded up to it and cropped back.
The same spans are what the demo apps compute (`tile_spans`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .data import to_rgb

Forward = Callable[[torch.Tensor], torch.Tensor]  # (1, 3, h, w) in [0, 1] -> (1, 3, h*s, w*s)

DEFAULT_TILE = 128
DEFAULT_OVERLAP = 16


@dataclass(frozen=True)
class Span:
    """One tile along one axis, in LR pixels: it reads [start, stop) and keeps [keep_start, keep_stop)."""

    start: int
    stop: int
    keep_start: int
    keep_stop: int


def tile_spans(length: int, tile: int, overlap: int) -> list[Span]:
    """Cover [0, length) with tiles of `tile` pixels whose kept cores abut; `length` must be even."""
    if tile % 2 or tile <= 0:
        raise ValueError(f"tile size must be a positive even number (pixel_unshuffle), got {tile}")
    if overlap < 0 or tile <= 2 * overlap:
        raise ValueError(f"tile size {tile} must exceed twice the overlap {overlap}")
    if length % 2:
        raise ValueError(f"length {length} must be even (pad the image first)")
    if length <= tile:
        return [Span(0, length, 0, length)]
    spans: list[Span] = []
    start, keep_start = 0, 0
    while True:
        last = start + tile >= length
        if last:
            start = length - tile
        stop = start + tile
        keep_stop = length if last else stop - overlap
        spans.append(Span(start, stop, keep_start, keep_stop))
        if last:
            return spans
        keep_start = keep_stop
        start += tile - 2 * overlap


def _pad_to(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    ph, pw = h - x.shape[-2], w - x.shape[-1]
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


def tiled_forward(
    forward: Forward, x: torch.Tensor, scale: int, tile: int, overlap: int, fixed_size: bool = False
) -> torch.Tensor:
    """Run `forward` tile by tile over x (1, C, H, W); memory is bounded by one tile."""
    h, w = x.shape[-2:]
    he, we = h + h % 2, w + w % 2
    xe = _pad_to(x, he, we)  # the same edge padding the model applies to odd sizes
    if fixed_size:
        xe = _pad_to(xe, max(he, tile), max(we, tile))
    H, W = xe.shape[-2:]
    out = x.new_zeros(x.shape[0], x.shape[1], H * scale, W * scale)
    for sy in tile_spans(H, tile, overlap):
        for sx in tile_spans(W, tile, overlap):
            y = forward(xe[..., sy.start : sy.stop, sx.start : sx.stop])
            oy, ox = (sy.keep_start - sy.start) * scale, (sx.keep_start - sx.start) * scale
            hh, ww = (sy.keep_stop - sy.keep_start) * scale, (sx.keep_stop - sx.keep_start) * scale
            out[..., sy.keep_start * scale : sy.keep_stop * scale, sx.keep_start * scale : sx.keep_stop * scale] = (
                y[..., oy : oy + hh, ox : ox + ww]
            )
    return out[..., : h * scale, : w * scale]


def self_ensemble(forward: Forward, x: torch.Tensor) -> torch.Tensor:
    """The paper's '+': mean of the outputs for the 8 flips/rotations (each undone on its output)."""
    acc = None
    for transpose in (False, True):
        for flip_h in (False, True):
            for flip_w in (False, True):
                dims = [d for d, f in ((-2, flip_h), (-1, flip_w)) if f]
                t = x.transpose(-2, -1) if transpose else x
                t = t.flip(dims) if dims else t
                y = forward(t)
                y = y.flip(dims) if dims else y
                y = y.transpose(-2, -1) if transpose else y
                acc = y if acc is None else acc + y
    return acc / 8


def image_to_tensor(img: np.ndarray) -> torch.Tensor:
    """uint8 H x W x 3 (or gray H x W, replicated) -> float (1, 3, H, W) in [0, 1]."""
    rgb = to_rgb(img)
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float().div_(255).unsqueeze(0)


def tensor_to_image(t: torch.Tensor) -> np.ndarray:
    """float (1, 3, H, W) -> uint8 H x W x 3, clipped and rounded as MATLAB's im2uint8 does."""
    arr = t.detach().float().cpu().clamp(0, 1).mul_(255).add_(0.5).floor_()
    return arr[0].permute(1, 2, 0).numpy().astype(np.uint8)


@dataclass(frozen=True)
class InferenceOptions:
    tile: int | None = None  # LR tile size; None runs the whole image at once
    overlap: int = DEFAULT_OVERLAP
    self_ensemble: bool = False
    fixed_size: bool = False  # the forward accepts exactly tile x tile (exported graphs)


def upscale(forward: Forward, img: np.ndarray, scale: int, opts: InferenceOptions = InferenceOptions()) -> np.ndarray:
    """Super-resolve a uint8 image; a gray image comes back gray (mean of the three outputs)."""
    x = image_to_tensor(img)

    def run(t: torch.Tensor) -> torch.Tensor:
        if opts.tile is None:
            return forward(t)
        return tiled_forward(forward, t, scale, opts.tile, opts.overlap, opts.fixed_size)

    with torch.inference_mode():
        y = self_ensemble(run, x) if opts.self_ensemble else run(x)
    if img.ndim == 2:
        y = y.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
        return tensor_to_image(y)[..., 0]
    return tensor_to_image(y)
