"""PSNR and SSIM exactly as the SR literature reports them.

The protocol (MATLAB evaluation scripts of VDSR/EDSR/RCAN, BasicSR's `psnr_ssim.py`):

* both images are uint8 (the SR output is quantised to uint8 before scoring);
* RGB images are scored on Y of BT.601 YCbCr, MATLAB ``rgb2ycbcr(im2double(img))``, unrounded,
  in [16, 235] on a 0..255 scale; a one-channel (grayscale) image is scored on its gray values as
  they are;
* ``crop_border`` pixels (the scale) are removed on every side before scoring;
* PSNR with peak 255; SSIM of Wang et al. 2004 (`ssim_index.m`): 11x11 Gaussian window with
  sigma 1.5, 'valid' filtering, K1 = 0.01, K2 = 0.03, L = 255, the mean of the SSIM map.
"""
from __future__ import annotations

import numpy as np

# MATLAB rgb2ycbcr for double input in [0, 1]: Y = 16/255 + [65.481, 128.553, 24.966] . rgb / 255.
_Y_COEFFS = np.array([65.481, 128.553, 24.966], dtype=np.float64)


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Y of BT.601 YCbCr (MATLAB rgb2ycbcr) of a uint8 RGB image, as float64 in [16, 235]."""
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"rgb_to_y expects a uint8 H x W x 3 image, got {img.dtype} {img.shape}")
    return img.astype(np.float64) @ _Y_COEFFS / 255.0 + 16.0


def scoring_channel(img: np.ndarray, y_channel: bool = True) -> np.ndarray:
    """The 2-D float64 plane that PSNR/SSIM are computed on (Y for RGB, gray values for gray)."""
    if img.ndim == 2:
        return img.astype(np.float64)
    if img.ndim == 3 and img.shape[2] == 1:
        return img[..., 0].astype(np.float64)
    if y_channel:
        return rgb_to_y(img)
    return img.astype(np.float64)


def _crop(img: np.ndarray, crop_border: int) -> np.ndarray:
    if crop_border == 0:
        return img
    return img[crop_border:-crop_border, crop_border:-crop_border, ...]


def _check_pair(sr: np.ndarray, hr: np.ndarray) -> None:
    if sr.shape != hr.shape:
        raise ValueError(f"image shapes differ: {sr.shape} vs {hr.shape}")
    if sr.dtype != np.uint8 or hr.dtype != np.uint8:
        raise TypeError(f"PSNR/SSIM are defined on uint8 images here, got {sr.dtype} and {hr.dtype}")


def calculate_psnr(sr: np.ndarray, hr: np.ndarray, crop_border: int, y_channel: bool = True) -> float:
    """PSNR in dB (peak 255) between two uint8 images; inf when they are identical."""
    _check_pair(sr, hr)
    a = _crop(scoring_channel(sr, y_channel), crop_border)
    b = _crop(scoring_channel(hr, y_channel), crop_border)
    mse = np.mean((a - b) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(255.0**2 / mse))


def gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """1-D normalised Gaussian; its outer product is MATLAB's fspecial('gaussian', size, sigma)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x * x) / (2 * sigma * sigma))
    return g / g.sum()


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """filter2(g' * g, img, 'valid') for a separable symmetric window."""
    n = g.size
    h, w = img.shape
    rows = sum(g[k] * img[k : h - n + 1 + k, :] for k in range(n))
    return sum(g[k] * rows[:, k : w - n + 1 + k] for k in range(n))


def ssim_plane(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Mean SSIM of two 2-D float images (Wang et al. 2004, `ssim_index.m` defaults)."""
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    g = gaussian_window()
    mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
    mu_a2, mu_b2, mu_ab = mu_a * mu_a, mu_b * mu_b, mu_a * mu_b
    var_a = _filter_valid(a * a, g) - mu_a2
    var_b = _filter_valid(b * b, g) - mu_b2
    cov = _filter_valid(a * b, g) - mu_ab
    ssim_map = ((2 * mu_ab + c1) * (2 * cov + c2)) / ((mu_a2 + mu_b2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean())


def calculate_ssim(sr: np.ndarray, hr: np.ndarray, crop_border: int, y_channel: bool = True) -> float:
    """SSIM between two uint8 images; with y_channel=False an RGB pair is averaged over channels."""
    _check_pair(sr, hr)
    a = _crop(scoring_channel(sr, y_channel), crop_border)
    b = _crop(scoring_channel(hr, y_channel), crop_border)
    if a.shape[0] < 11 or a.shape[1] < 11:
        raise ValueError(f"SSIM needs at least 11x11 pixels after cropping, got {a.shape[:2]}")
    if a.ndim == 2:
        return ssim_plane(a, b)
    return float(np.mean([ssim_plane(a[..., c], b[..., c]) for c in range(a.shape[2])]))
