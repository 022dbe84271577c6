"""The training pairs resident on the training device, cropped there by tensor indexing.

`DeviceImages.build(images, device)` packs every decoded LR and HR image (H x W x 3 uint8) into two
flat uint8 tensors on `device` (about 136 MB for T91 + BSD200 at x2), with each image's offset and
width. `crop_batch(data, draws)` turns a batch of draws (`patches.batch_draws`: image, corner, flips,
rotation) into the LR and HR patches with one gather per tensor, flips and the rotation folded into
the gathered indices. The draws are the same (seed, i) function as `PatchDataset`'s, so both give
the same patches (tests/test_training_fast.py compares them on the CPU). Every shape here is fixed
by (batch, patch, scale), so the crop can sit inside a captured CUDA graph.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .patches import TrainImages, batch_draws


@dataclass(frozen=True)
class DeviceImages:
    """Flat uint8 LR/HR pixels (HWC order, image after image) and per-image geometry, on one device."""

    lr: torch.Tensor  # (sum of LR h*w*3,) uint8
    hr: torch.Tensor  # (sum of HR h*w*3,) uint8
    lr_offset: torch.Tensor  # (K,) int64: where image k's LR pixels start in `lr`
    hr_offset: torch.Tensor  # (K,) int64
    lr_width: torch.Tensor  # (K,) int64
    lr_shapes: tuple[tuple[int, int], ...]  # (h, w) of each LR image, for the draws (host side)
    scale: int

    @classmethod
    def build(cls, images: TrainImages, device: torch.device | str) -> "DeviceImages":
        """Copy `images` to `device` as two flat tensors (one host copy of each, then one transfer)."""
        lr_sizes = [im.size for im in images.lr]
        hr_sizes = [im.size for im in images.hr]
        lr_offset = torch.tensor([0] + lr_sizes[:-1], dtype=torch.int64).cumsum(0)
        hr_offset = torch.tensor([0] + hr_sizes[:-1], dtype=torch.int64).cumsum(0)
        lr_flat = torch.cat([torch.from_numpy(im.reshape(-1)) for im in images.lr])
        hr_flat = torch.cat([torch.from_numpy(im.reshape(-1)) for im in images.hr])
        device = torch.device(device)
        return cls(
            lr=lr_flat.to(device), hr=hr_flat.to(device), lr_offset=lr_offset.to(device),
            hr_offset=hr_offset.to(device), lr_width=torch.tensor([im.shape[1] for im in images.lr]).to(device),
            lr_shapes=tuple((im.shape[0], im.shape[1]) for im in images.lr), scale=images.scale,
        )

    @property
    def nbytes(self) -> int:
        return self.lr.numel() + self.hr.numel()

    def draws(self, seed: int, indices, patch_size: int, augment: bool = True) -> torch.Tensor:
        """`patches.batch_draws` for these images (an int64 (N, 6) tensor on the CPU)."""
        return batch_draws(seed, indices, list(self.lr_shapes), patch_size, augment)


def _source_index(draws: torch.Tensor, side: int, corner_scale: int, offset: torch.Tensor,
                  width: torch.Tensor) -> torch.Tensor:
    """Flat indices (N, side, side, 3) of the transformed crops of side `side` whose corners are the
    drawn (y, x) times `corner_scale`, in images of row width `width` starting at `offset`."""
    k, y, x, hflip, vflip, rot = (draws[:, i].view(-1, 1, 1) for i in range(6))
    a = torch.arange(side, device=draws.device).view(1, side, 1)  # output row
    b = torch.arange(side, device=draws.device).view(1, 1, side)  # output column
    # numpy's augment: flip columns (hflip), flip rows (vflip), then transpose (rot). Output (a, b)
    # reads the flipped crop at (b, a) when rotated, and that reads the crop at flipped coordinates.
    r0 = torch.where(rot.bool(), b, a)
    c0 = torch.where(rot.bool(), a, b)
    r = torch.where(vflip.bool(), side - 1 - r0, r0)
    c = torch.where(hflip.bool(), side - 1 - c0, c0)
    w = width[k.view(-1)].view(-1, 1, 1)
    pixel = (y * corner_scale + r) * w + (x * corner_scale + c)
    base = offset[k.view(-1)].view(-1, 1, 1) + pixel * 3
    return base.unsqueeze(-1) + torch.arange(3, device=draws.device)


def crop_batch(data: DeviceImages, draws: torch.Tensor, patch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The uint8 LR (N, 3, p, p) and HR (N, 3, p*s, p*s) patches of `draws` (on data's device).

    Both come out channels_last (a permuted NHWC gather), the layout the training step uses.
    """
    s = data.scale
    lr_idx = _source_index(draws, patch_size, 1, data.lr_offset, data.lr_width)
    hr_idx = _source_index(draws, patch_size * s, s, data.hr_offset, data.lr_width * s)
    lr = data.lr[lr_idx.view(-1)].view(lr_idx.shape).permute(0, 3, 1, 2)
    hr = data.hr[hr_idx.view(-1)].view(hr_idx.shape).permute(0, 3, 1, 2)
    return lr, hr
