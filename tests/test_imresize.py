"""The MATLAB degradation: bit-exact against every LR file of the shared benchmark sets."""
from __future__ import annotations

import numpy as np
import pytest

from hpun_edge.data import read_image
from hpun_edge.imresize import bicubic_upscale, contributions, degrade, imresize, modcrop, output_length

SETS = ("Set5", "Set14", "B100")


@pytest.mark.parametrize("scale", (2, 3, 4))
@pytest.mark.parametrize("name", SETS)
def test_degrade_reproduces_every_lr_file_bit_for_bit(data_root, name, scale):
    hr_paths = sorted((data_root / name / "HR").glob("*.png"))
    assert hr_paths, f"no HR images in {data_root / name}"
    mismatched = []
    for hr_path in hr_paths:
        lr_file = read_image(data_root / name / "LR_bicubic" / f"X{scale}" / hr_path.name)
        lr = degrade(read_image(hr_path), scale)
        if lr.shape != lr_file.shape or not np.array_equal(lr, lr_file):
            mismatched.append(hr_path.name)
    assert not mismatched, f"{len(mismatched)}/{len(hr_paths)} differ: {mismatched[:5]}"


def test_weights_are_normalised_and_cover_the_antialiased_support():
    w, idx = contributions(12, 4, 1 / 3, "clamp")
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert w.shape[1] <= 14 and np.all(np.any(w != 0, axis=0))  # ceil(4*3)+2 taps, zero columns dropped
    assert idx.min() == 0 and idx.max() == 11


def test_symmetric_and_clamped_borders_differ_only_at_the_edges():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 36, 3), dtype=np.uint8)
    a = imresize(img, 0.5, boundary="clamp")
    b = imresize(img, 0.5, boundary="symmetric")
    assert a.shape == b.shape == (20, 18, 3)
    np.testing.assert_array_equal(a[2:-2, 2:-2], b[2:-2, 2:-2])
    assert not np.array_equal(a, b)


def test_constant_image_is_preserved_and_sizes_are_ceil():
    img = np.full((21, 17), 77, np.uint8)
    assert np.all(imresize(img, 1 / 3, boundary="clamp") == 77)
    assert imresize(img, 1 / 3).shape == (7, 6)
    assert output_length(321, 1 / 3) == 107 and output_length(480, 1 / 3) == 160
    assert bicubic_upscale(np.full((5, 4, 3), 9, np.uint8), 3).shape == (15, 12, 3)


def test_modcrop_and_refusals():
    assert modcrop(np.zeros((11, 10, 3), np.uint8), 4).shape == (8, 8, 3)
    with pytest.raises(ValueError, match="smaller than the scale"):
        modcrop(np.zeros((2, 10), np.uint8), 3)
    with pytest.raises(TypeError, match="uint8"):
        imresize(np.zeros((4, 4), np.float32), 0.5)
