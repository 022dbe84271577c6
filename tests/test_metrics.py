"""The evaluation protocol: bicubic must reproduce the literature's published rows."""
from __future__ import annotations

import math

import numpy as np
import pytest

from hpun_edge.data import find_dataset
from hpun_edge.evaluate import bicubic_upscaler, evaluate_dataset
from hpun_edge.metrics import calculate_psnr, calculate_ssim, rgb_to_y

# Bicubic rows as the SR literature prints them (e.g. VDSR, EDSR, CARN, IMDN, HPUN Table 3;
# HPUN prints 0.8488 for Set14 x2, a typo of 0.8688).
PUBLISHED_BICUBIC = {
    (2, "Set5"): (33.66, 0.9299), (2, "Set14"): (30.24, 0.8688), (2, "B100"): (29.56, 0.8431),
    (3, "Set5"): (30.39, 0.8682), (3, "Set14"): (27.55, 0.7742), (3, "B100"): (27.21, 0.7385),
    (4, "Set5"): (28.42, 0.8104), (4, "Set14"): (26.00, 0.7027), (4, "B100"): (25.96, 0.6675),
}


@pytest.mark.parametrize("scale,name", sorted(PUBLISHED_BICUBIC))
def test_bicubic_reproduces_the_published_row(data_root, scale, name):
    result = evaluate_dataset(bicubic_upscaler(scale), find_dataset(name, data_root), scale)
    psnr, ssim = PUBLISHED_BICUBIC[(scale, name)]
    assert not result.skipped
    assert abs(result.psnr_y - psnr) <= 0.02, f"{name} x{scale}: PSNR {result.psnr_y:.4f} vs {psnr}"
    assert abs(result.ssim_y - ssim) <= 0.001, f"{name} x{scale}: SSIM {result.ssim_y:.4f} vs {ssim}"


def test_y_channel_matches_matlab_rgb2ycbcr():
    img = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0]]], np.uint8)
    np.testing.assert_allclose(rgb_to_y(img)[0], [16.0, 235.0, 16 + 65.481], atol=1e-9)


def test_psnr_known_value_and_crop():
    a = np.zeros((20, 20), np.uint8)
    b = a.copy()
    b[0, :] = 10  # only in the border row
    assert calculate_psnr(a, b, crop_border=2) == math.inf
    b[10, 10] = 16  # one interior pixel off by 16 on a 16x16 cropped gray plane
    assert calculate_psnr(a, b, crop_border=2) == pytest.approx(10 * math.log10(255**2 / (256 / 256)))


def test_gray_images_are_scored_on_gray_values_not_y():
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (32, 32), dtype=np.uint8)
    noisy = np.clip(gray.astype(int) + rng.integers(-5, 6, gray.shape), 0, 255).astype(np.uint8)
    rgb = lambda g: np.repeat(g[..., None], 3, axis=2)
    # Y of a replicated gray image compresses the range by 219/255: 20*log10(255/219) dB higher PSNR.
    diff = calculate_psnr(rgb(noisy), rgb(gray), 0) - calculate_psnr(noisy, gray, 0)
    assert diff == pytest.approx(20 * math.log10(255 / 219), abs=0.05)


def test_ssim_is_one_for_identical_and_lower_for_different():
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    assert calculate_ssim(img, img, 4) == pytest.approx(1.0)
    other = rng.integers(0, 256, img.shape, dtype=np.uint8)  # unrelated structure
    assert abs(calculate_ssim(other, img, 4)) < 0.1
    shifted = np.clip(img.astype(int) + 20, 0, 255).astype(np.uint8)  # luminance term only
    assert 0.9 < calculate_ssim(shifted, img, 4) < 1.0
