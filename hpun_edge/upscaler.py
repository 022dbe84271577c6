"""Streaming upscale of one photo: one band of tile rows at a time, finished rows handed to a sink.

`upscale_photo` computes, for an 8-bit RGB or gray photo, exactly the pixels of
``inference.upscale(forward, pixels, scale, opts)`` with ``opts.tile`` set: the same tile spans
(`inference.tile_spans` over the image edge-padded to even sizes, and up to the tile for fixed-size
graphs), the same float input (x / 255), the same gray handling (replicated in, mean of the three
outputs back) and the same rounding (`inference.tensor_to_image`). It holds one band: the input rows
of one row of tiles and its output rows, never the whole output.

Beyond `inference.upscale`:

* 16-bit photos go in as x / 65535 and come out rounded the same way to 16 bits:
  floor(clip(y, 0, 1) * 65535 + 0.5).
* Alpha is not given to the network: it is resampled with PIL's BICUBIC kernel in float (mode F),
  band by band through `Image.resize(box=...)`, rounded once to the photo's bit depth. Not PIL's
  8-bit path: it rounds and clips between its two passes, and its bands below the top row do not
  reproduce its whole-image result (up to 17 levels apart on noise, Pillow 13); in float a band
  equals the whole-image resize to float rounding (a rounded value can differ by 1 on a .5 tie).
* Self-ensemble is per tile: each tile is run through `inference.self_ensemble` (8 flips/transposes
  of the tile, each undone, averaged), i.e. ``tiled_forward(lambda t: self_ensemble(forward, t))``.
  That is what a band can compute. It equals whole-image self-ensemble (``upscale(...,
  InferenceOptions(self_ensemble=True))`` with tile=None) to float rounding when the overlap is at
  least the receptive radius, except within the receptive radius of the right/bottom edge of an
  odd-sized image (the whole-image version pads the flipped image's far side, the top/left edge).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from .files import atomic_write_bytes
from .inference import Forward, InferenceOptions, Span, self_ensemble, tile_spans
from .photo import Photo, PhotoError, PngWriter, read_photo

Sink = Callable[[np.ndarray], None]  # receives the next output rows: (n, W[, C]) uint8 or uint16
Progress = Callable[[int, int], None]  # (tiles done, tiles in this photo), after every tile


@dataclass(frozen=True)
class UpscaleResult:
    """One photo upscaled: sizes are (width, height)."""

    source: Path | None
    destination: Path | None
    in_size: tuple[int, int]
    out_size: tuple[int, int]
    bit_depth: int
    channels: int  # of the output: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA
    tiles: int  # network calls counted once per tile (8 forwards each with self-ensemble)
    seconds: float

    @property
    def megapixels(self) -> float:
        """Input megapixels."""
        return self.in_size[0] * self.in_size[1] / 1e6


def tile_grid(width: int, height: int, opts: InferenceOptions) -> tuple[list[Span], list[Span]]:
    """(row spans, column spans) that `inference.tiled_forward` uses for an image of this size."""
    if opts.tile is None:
        raise ValueError("a streaming upscale needs a tile size (memory is bounded by the tile)")
    he, we = height + height % 2, width + width % 2
    if opts.fixed_size:
        he, we = max(he, opts.tile), max(we, opts.tile)
    return tile_spans(he, opts.tile, opts.overlap), tile_spans(we, opts.tile, opts.overlap)


def count_tiles(width: int, height: int, opts: InferenceOptions) -> int:
    """Tiles `upscale_photo` runs for a photo of this size (the same for its transpose)."""
    rows, cols = tile_grid(width, height, opts)
    return len(rows) * len(cols)


def upscale_photo(forward: Forward, photo: Photo, scale: int, opts: InferenceOptions, sink: Sink,
                  progress: Progress | None = None) -> UpscaleResult:
    """Upscale `photo` band by band (module docstring), handing each band's output rows to `sink`.

    forward: (1, 3, h, w) float in [0, 1] -> (1, 3, h*scale, w*scale); with ``opts.fixed_size`` it
    receives exactly opts.tile x opts.tile. Output rows are uint8 or uint16 as the photo,
    (n, W*scale) for gray, (n, W*scale, C) otherwise (alpha last).
    """
    start = time.perf_counter()
    h, w = photo.height, photo.width
    rows, cols = tile_grid(w, h, opts)
    total = len(rows) * len(cols)
    width_padded = cols[-1].keep_stop
    col_index = np.minimum(np.arange(width_padded), w - 1)  # edge padding, as F.pad(replicate)
    full = 255 if photo.bit_depth == 8 else 65535
    run = (lambda t: self_ensemble(forward, t)) if opts.self_ensemble else forward
    alpha = None if photo.alpha is None else Image.fromarray(photo.alpha.astype(np.float32), mode="F")
    done = 0
    with torch.inference_mode():
        for sy in rows:
            band = photo.pixels[np.minimum(np.arange(sy.start, sy.stop), h - 1)][:, col_index]
            x = _to_tensor(band, full)
            out = x.new_zeros(1, 3, (sy.keep_stop - sy.keep_start) * scale, width_padded * scale)
            oy = (sy.keep_start - sy.start) * scale
            for sx in cols:
                y = run(x[..., :, sx.start : sx.stop])
                ox, ww = (sx.keep_start - sx.start) * scale, (sx.keep_stop - sx.keep_start) * scale
                out[..., :, sx.keep_start * scale : sx.keep_stop * scale] = y[..., oy : oy + out.shape[2], ox : ox + ww]
                done += 1
                if progress is not None:
                    progress(done, total)
            r0, r1 = sy.keep_start, min(sy.keep_stop, h)  # LR rows whose output this band finishes
            if r1 > r0:
                sink(_band_rows(out[..., : (r1 - r0) * scale, : w * scale], photo, full, alpha, r0, r1, scale))
    return UpscaleResult(photo.path, None, (w, h), (w * scale, h * scale), photo.bit_depth, photo.channels,
                         total, time.perf_counter() - start)


def _to_tensor(band: np.ndarray, full: int) -> torch.Tensor:
    """uint8/uint16 rows -> (1, 3, n, W) float / full: `inference.image_to_tensor`'s operations."""
    rgb = np.repeat(band[..., None], 3, axis=2) if band.ndim == 2 else band
    chw = np.ascontiguousarray(rgb.transpose(2, 0, 1))
    t = torch.from_numpy(chw if chw.dtype == np.uint8 else chw.astype(np.int32))
    return t.float().div_(full).unsqueeze(0)


def _band_rows(y: torch.Tensor, photo: Photo, full: int, alpha: Image.Image | None,
               r0: int, r1: int, scale: int) -> np.ndarray:
    """The band's output rows as the sink takes them: quantised as `inference.tensor_to_image`."""
    if photo.gray:
        y = y.mean(dim=1, keepdim=True)
    q = y.detach().float().cpu().clamp(0, 1).mul_(full).add_(0.5).floor_()
    dtype = np.uint8 if photo.bit_depth == 8 else np.uint16
    px = q[0].permute(1, 2, 0).numpy().astype(dtype)
    if photo.gray:
        px = px[..., 0]
    if alpha is None:
        return px
    a = alpha.resize((photo.width * scale, (r1 - r0) * scale), Image.Resampling.BICUBIC, box=(0, r0, photo.width, r1))
    a = np.clip(np.floor(np.asarray(a, dtype=np.float32) + 0.5), 0, full).astype(dtype)
    return np.concatenate([px[..., None] if photo.gray else px, a[..., None]], axis=2)


def upscale_file(forward: Forward, src: str | os.PathLike, dst: str | os.PathLike, scale: int,
                 opts: InferenceOptions, progress: Progress | None = None) -> UpscaleResult:
    """read_photo(src) -> upscale_photo -> a PNG at dst, written atomically (`files.atomic_write_bytes`:
    a temp file beside dst, fsynced, renamed; removed if anything fails, the network included).
    Raises PhotoError for an unreadable src or an unwritable dst."""
    src, dst = Path(src), Path(dst)
    photo = read_photo(src)
    result: list[UpscaleResult] = []

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            png = PngWriter(f, photo.width * scale, photo.height * scale, photo.channels, photo.bit_depth,
                            photo.icc_profile)
            result.append(upscale_photo(forward, photo, scale, opts, png.write, progress))
            png.finish()

    try:
        atomic_write_bytes(dst, write)
    except OSError as e:
        if e.errno is None:  # not a file-system error (a runtime's own failure): not ours to reword
            raise
        raise PhotoError(f"{dst}: cannot write the output ({e.strerror or e})") from None
    return replace(result[0], destination=dst)


@dataclass(frozen=True)
class BatchResult:
    """What `upscale_many` did: the photos written, and the ones skipped with their one-line reasons."""

    results: list[UpscaleResult] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def megapixels(self) -> float:
        return sum(r.megapixels for r in self.results)

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.results)

    def summary(self, model: str) -> str:
        """One line: images, input megapixels, seconds, the model or artifact, skipped count."""
        line = (f"upscaled {len(self.results)} image(s), {self.megapixels:.1f} MP in {self.seconds:.1f} s "
                f"with {model}")
        return line + (f"; skipped {len(self.skipped)}" if self.skipped else "")


def upscale_many(forward: Forward, jobs: list[tuple[Path, Path]], scale: int, opts: InferenceOptions,
                 progress: Callable[[Path, int, int], None] | None = None,
                 on_skip: Callable[[Path, str], None] | None = None) -> BatchResult:
    """`upscale_file` over (source, destination) pairs (`photo.plan_outputs`); a PhotoError skips
    that photo (reported to on_skip at once, and listed) and the loop goes on. Other errors raise."""
    results: list[UpscaleResult] = []
    skipped: list[tuple[Path, str]] = []
    for src, dst in jobs:
        tick = None if progress is None else (lambda done, total, src=src: progress(src, done, total))
        try:
            results.append(upscale_file(forward, src, dst, scale, opts, tick))
        except PhotoError as e:
            skipped.append((src, str(e)))
            if on_skip is not None:
                on_skip(src, str(e))
    return BatchResult(results, skipped)
