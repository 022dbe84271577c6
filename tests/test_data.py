"""Bad input: one line naming the file and the problem; usable variants are converted losslessly."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import hpun_edge.data as data
from hpun_edge.data import DatasetError, ImageError, find_dataset, load_pair, read_image, resolve_data_root


def _save(path, arr):
    Image.fromarray(arr).save(path)
    return path


def test_rgb_and_gray_read_as_is(tmp_path):
    rgb = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    assert np.array_equal(read_image(_save(tmp_path / "a.png", rgb)), rgb)
    gray = rgb[..., 0]
    out = read_image(_save(tmp_path / "g.png", gray))
    assert out.shape == (4, 4) and np.array_equal(out, gray)


def test_palette_is_expanded_losslessly(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[1, 1] = (200, 10, 30)
    path = tmp_path / "p.png"
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(path)
    assert np.array_equal(read_image(path), rgb)


def test_rgba_opaque_is_accepted_transparent_refused(tmp_path):
    rgba = np.full((4, 4, 4), 255, np.uint8)
    assert read_image(_save(tmp_path / "o.png", rgba)).shape == (4, 4, 3)
    rgba[0, 0, 3] = 0
    with pytest.raises(ImageError, match=r"t\.png: RGBA image with transparent pixels"):
        read_image(_save(tmp_path / "t.png", rgba))


def test_16_bit_is_refused(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.full((4, 4), 40000, np.uint16)).save(path)
    with pytest.raises(ImageError, match=r"deep\.png: .*16-bit"):
        read_image(path)


def test_corrupt_truncated_and_missing_files_are_named(tmp_path):
    (tmp_path / "junk.png").write_bytes(b"not a png at all")
    with pytest.raises(ImageError, match=r"junk\.png: not an image file"):
        read_image(tmp_path / "junk.png")
    good = _save(tmp_path / "full.png", np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    (tmp_path / "cut.png").write_bytes(good.read_bytes()[:300])
    with pytest.raises(ImageError, match=r"cut\.png: unreadable image") as e:
        read_image(tmp_path / "cut.png")
    assert "\n" not in str(e.value)
    with pytest.raises(ImageError, match="no such file"):
        read_image(tmp_path / "nope.png")


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    path = _save(tmp_path / "big.png", np.zeros((100, 100, 3), np.uint8))
    monkeypatch.setattr(data, "MAX_PIXELS", 5000)
    with pytest.raises(ImageError, match=r"big\.png: 100x100 pixels exceeds the limit"):
        read_image(path)


def test_dataset_lookup_and_data_root_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HPUN_EDGE_DATA", raising=False)
    (tmp_path / "data" / "Mine" / "HR").mkdir(parents=True)
    with pytest.raises(DatasetError, match="Mine/HR: no images in this dataset folder"):
        find_dataset("Mine", tmp_path / "data")  # an empty set is an error, not a table of NaN
    _save(tmp_path / "data" / "Mine" / "HR" / "a.png", np.zeros((8, 8, 3), np.uint8))
    assert resolve_data_root() == tmp_path.joinpath("data").relative_to(tmp_path)
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.setenv("HPUN_EDGE_DATA", str(other))
    assert resolve_data_root() == other
    assert find_dataset("Mine", tmp_path / "data").name == "Mine"
    with pytest.raises(DatasetError, match="dataset 'Nope' not found"):
        find_dataset("Nope", tmp_path / "data")
    with pytest.raises(DatasetError, match="no data root found; tried --data"):
        resolve_data_root(tmp_path / "missing")


def test_lr_is_made_when_absent_and_checked_when_present(tmp_path):
    root = tmp_path / "DS"
    (root / "HR").mkdir(parents=True)
    hr = np.random.default_rng(0).integers(0, 256, (25, 30, 3), dtype=np.uint8)
    _save(root / "HR" / "x.png", hr)
    ds = find_dataset(str(root))
    lr, hr_crop = load_pair(ds, root / "HR" / "x.png", 4)
    assert lr.shape == (6, 7, 3) and hr_crop.shape == (24, 28, 3)
    (root / "LR_bicubic" / "X4").mkdir(parents=True)
    _save(root / "LR_bicubic" / "X4" / "x.png", np.zeros((5, 5, 3), np.uint8))
    with pytest.raises(ImageError, match=r"x\.png: LR is 5x5, expected 7x6"):
        load_pair(ds, root / "HR" / "x.png", 4)
