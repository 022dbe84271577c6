"""The band-by-band upscale: bit-exact with `inference.upscale` (8-bit RGB and gray), fixed-size tiles,
16 bits, alpha, per-tile self-ensemble, progress, and files end to end (orientation, ICC, CMYK,
palette, atomic writes, a folder with a broken file)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from hpun_edge import VARIANTS, create_model
from hpun_edge.inference import InferenceOptions, self_ensemble, tensor_to_image, tiled_forward, upscale
from hpun_edge.model import HPUN
from hpun_edge.photo import Photo, plan_outputs, read_photo
from hpun_edge.upscaler import count_tiles, tile_grid, upscale_file, upscale_many, upscale_photo
from hpun_edge.variants import VariantSpec
from tests.photo_helpers import srgb_profile, write_png, write_tiff16

RNG = np.random.default_rng(1)


def bicubic(t: torch.Tensor) -> torch.Tensor:
    """A cheap stand-in for the network: x2 bicubic, which overshoots [0, 1] like a real one."""
    return F.interpolate(t, scale_factor=2, mode="bicubic", align_corners=False)


def streamed(forward, photo: Photo, opts: InferenceOptions, scale: int = 2) -> tuple[np.ndarray, list[int]]:
    bands: list[np.ndarray] = []
    upscale_photo(forward, photo, scale, opts, bands.append)
    return np.concatenate(bands), [len(b) for b in bands]


def photo(pixels: np.ndarray, alpha=None, depth=8) -> Photo:
    return Photo(Path("mem.png"), pixels, depth, alpha)


@pytest.mark.parametrize("h,w", [(40, 56), (37, 53), (9, 71), (5, 3)])
@pytest.mark.parametrize("gray", [False, True])
@pytest.mark.parametrize("tile,overlap,fixed", [(16, 4, False), (24, 5, False), (32, 0, True), (20, 2, True)])
def test_bands_equal_inference_upscale_bit_for_bit(h, w, gray, tile, overlap, fixed):
    img = RNG.integers(0, 256, (h, w) if gray else (h, w, 3), dtype=np.uint8)
    opts = InferenceOptions(tile, overlap, False, fixed)
    got, sizes = streamed(bicubic, photo(img), opts)
    want = upscale(bicubic, img, 2, opts)
    assert got.dtype == np.uint8 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    assert max(sizes) <= 2 * tile and sum(sizes) == 2 * h  # one band of output rows at a time, in order
    assert len(sizes) == len(tile_grid(w, h, opts)[0])


@pytest.mark.parametrize("gray", [False, True])
def test_bands_equal_inference_upscale_with_the_real_network(gray):
    torch.manual_seed(0)
    model = create_model("hpun_s", 2).eval()
    img = RNG.integers(0, 256, (27, 35) if gray else (27, 35, 3), dtype=np.uint8)
    opts = InferenceOptions(16, 3)
    got, sizes = streamed(model, photo(img), opts)
    np.testing.assert_array_equal(got, upscale(model, img, 2, opts))
    assert len(sizes) > 1


def test_fixed_size_forward_receives_exactly_tile_by_tile_even_for_an_image_smaller_than_the_tile():
    shapes = set()

    def fixed(t):
        shapes.add(tuple(t.shape))
        return bicubic(t)

    for h, w in [(11, 7), (45, 30)]:
        img = RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)
        opts = InferenceOptions(24, 4, False, fixed_size=True)
        got, _ = streamed(fixed, photo(img), opts)
        assert got.shape == (2 * h, 2 * w, 3)
        np.testing.assert_array_equal(got, upscale(bicubic, img, 2, opts))
    assert shapes == {(1, 3, 24, 24)}


@pytest.mark.parametrize("gray", [False, True])
def test_16bit_goes_in_over_65535_and_comes_out_rounded_to_16_bits(gray):
    img = RNG.integers(0, 65536, (19, 22) if gray else (19, 22, 3), dtype=np.uint16)
    opts = InferenceOptions(16, 4)
    got, _ = streamed(bicubic, photo(img, depth=16), opts)
    rgb = np.repeat(img[..., None], 3, 2) if gray else img
    x = torch.from_numpy(rgb.transpose(2, 0, 1).astype(np.int32)).float().div(65535)[None]  # float32
    y = tiled_forward(bicubic, x, 2, 16, 4)  # the whole image at once, tiled as eval tiles it
    y = y.mean(1, keepdim=True) if gray else y
    want = y.clamp(0, 1).mul(65535).add(0.5).floor()[0].permute(1, 2, 0).numpy().astype(np.uint16)
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, want[..., 0] if gray else want)
    assert len(np.unique(got)) > 256  # not an 8-bit result in disguise


def test_alpha_is_bicubic_of_alpha_and_colour_is_untouched_by_it():
    rgb = RNG.integers(0, 256, (33, 26, 3), dtype=np.uint8)
    alpha = np.zeros((33, 26), np.uint8)
    alpha[8:25, 5:20] = 255
    alpha[12:20, 9:15] = RNG.integers(0, 256, (8, 6))
    got, sizes = streamed(bicubic, photo(rgb, alpha), InferenceOptions(16, 4))
    assert got.shape == (66, 52, 4) and len(sizes) > 2
    np.testing.assert_array_equal(got[..., :3], upscale(bicubic, rgb, 2, InferenceOptions(16, 4)))
    whole = np.asarray(Image.fromarray(alpha.astype(np.float32), "F").resize((52, 66), Image.Resampling.BICUBIC))
    want = np.clip(np.floor(whole + 0.5), 0, 255)
    diff = np.abs(got[..., 3].astype(int) - want)
    assert diff.max() <= 1 and (diff == 0).mean() > 0.99  # bands equal the whole resize to float rounding
    pil8 = np.asarray(Image.fromarray(alpha).resize((52, 66), Image.Resampling.BICUBIC)).astype(int)
    assert np.abs(got[..., 3].astype(int) - pil8).mean() < 1  # and PIL's own 8-bit bicubic, nearly


def test_self_ensemble_is_per_tile_and_near_whole_image_self_ensemble_with_enough_overlap():
    torch.manual_seed(0)
    spec = VariantSpec("tiny", "tiny", blocks=1, dense_front=False, paper=VARIANTS["hpun_s"].paper)
    model = HPUN(spec, 2).eval()
    r = model.receptive_radius
    img = RNG.integers(0, 256, (40, 46, 3), dtype=np.uint8)
    opts = InferenceOptions(2 * r + 12, r, self_ensemble=True)
    got, _ = streamed(model, photo(img), opts)
    x = torch.from_numpy(img.transpose(2, 0, 1).copy()).float().div_(255)[None]
    with torch.inference_mode():
        per_tile = tensor_to_image(tiled_forward(lambda t: self_ensemble(model, t), x, 2, opts.tile, r))
        whole = upscale(model, img, 2, InferenceOptions(None, self_ensemble=True))
        plain = upscale(model, img, 2, InferenceOptions(opts.tile, r))
    np.testing.assert_array_equal(got, per_tile)
    assert np.abs(got.astype(int) - whole).max() <= 1
    assert np.abs(got.astype(int) - plain).max() > 1  # the ensemble did change the result


def test_progress_counts_every_tile():
    img = RNG.integers(0, 256, (50, 30, 3), dtype=np.uint8)
    opts = InferenceOptions(16, 2)
    calls = []
    result = upscale_photo(bicubic, photo(img), 2, opts, lambda rows: None, lambda d, t: calls.append((d, t)))
    total = count_tiles(30, 50, opts)
    assert calls == [(i, total) for i in range(1, total + 1)] and result.tiles == total > 1
    assert result.in_size == (30, 50) and result.out_size == (60, 100) and result.megapixels == 30 * 50 / 1e6


# -- files end to end ---------------------------------------------------------------------------------

OPTS = InferenceOptions(16, 4)


def _run(tmp_path, src: Path) -> tuple[np.ndarray, Image.Image]:
    dst = tmp_path / "out" / f"{src.stem}.png"
    upscale_file(bicubic, src, dst, 2, OPTS)
    im = Image.open(dst)
    im.load()
    return np.asarray(im), im


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_jpeg_comes_out_upright_for_every_exif_orientation(tmp_path, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    src = tmp_path / "phone.jpg"
    Image.fromarray(RNG.integers(0, 256, (12, 20, 3), dtype=np.uint8)).save(src, exif=exif, quality=95)
    got, _ = _run(tmp_path, src)
    with Image.open(src) as im:
        upright = np.asarray(ImageOps.exif_transpose(im))
    assert got.shape == ((40, 24, 3) if orientation >= 5 else (24, 40, 3))  # portrait stays portrait
    np.testing.assert_array_equal(got, upscale(bicubic, upright, 2, OPTS))


def test_gray_in_gray_out_and_icc_profile_carried(tmp_path):
    gray = RNG.integers(0, 256, (14, 10), dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "g.png")
    got, im = _run(tmp_path, tmp_path / "g.png")
    assert im.mode == "L"
    np.testing.assert_array_equal(got, upscale(bicubic, gray, 2, OPTS))
    profile = srgb_profile()
    Image.fromarray(RNG.integers(0, 256, (9, 9, 3), dtype=np.uint8)).save(tmp_path / "p.jpg", icc_profile=profile)
    _, im = _run(tmp_path, tmp_path / "p.jpg")
    assert im.mode == "RGB" and im.info["icc_profile"] == profile


@pytest.mark.parametrize("kind", ["png_rgb", "png_gray", "tiff_rgba"])
def test_16bit_in_16bit_out(tmp_path, kind):
    shape = (10, 13) if kind == "png_gray" else (10, 13, 4 if kind == "tiff_rgba" else 3)
    arr = RNG.integers(0, 65536, shape, dtype=np.uint16)
    src = tmp_path / ("x.tif" if kind.startswith("tiff") else "x.png")
    write_tiff16(src, arr) if kind.startswith("tiff") else write_png(src, arr)
    _run(tmp_path, src)
    out = read_photo(tmp_path / "out" / "x.png")
    assert out.bit_depth == 16 and out.pixels.shape[:2] == (20, 26)
    assert out.channels == (shape[2] if len(shape) == 3 else 1)
    colour = arr[..., :3] if arr.ndim == 3 else arr
    want, _ = streamed(bicubic, photo(colour, depth=16), OPTS)
    np.testing.assert_array_equal(out.pixels, want)
    if kind == "png_gray":
        with Image.open(tmp_path / "out" / "x.png") as im:
            assert im.mode == "I;16"


def test_cmyk_jpeg_becomes_rgb_and_palette_with_transparency_keeps_it(tmp_path):
    cmyk = Image.fromarray(RNG.integers(0, 256, (8, 10, 4), dtype=np.uint8), mode="CMYK")
    cmyk.save(tmp_path / "c.jpg")
    got, im = _run(tmp_path, tmp_path / "c.jpg")
    assert im.mode == "RGB"
    np.testing.assert_array_equal(got, upscale(bicubic, read_photo(tmp_path / "c.jpg").pixels, 2, OPTS))
    pal = Image.fromarray(RNG.integers(0, 3, (8, 10), dtype=np.uint8), mode="P")
    pal.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255])
    pal.save(tmp_path / "p.png", transparency=0)
    got, im = _run(tmp_path, tmp_path / "p.png")
    assert im.mode == "RGBA" and got[..., 3].min() == 0 and got[..., 3].max() == 255


def test_a_failure_midway_leaves_no_output_and_no_temp_file(tmp_path):
    src = tmp_path / "x.png"
    Image.fromarray(RNG.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(src)
    out = tmp_path / "out"
    out.mkdir()
    (out / "x.png").write_bytes(b"earlier result")
    calls = []

    def failing(t):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("runtime died")
        return bicubic(t)

    with pytest.raises(RuntimeError, match="runtime died"):
        upscale_file(failing, src, out / "x.png", 2, OPTS)
    assert sorted(os.listdir(out)) == ["x.png"] and (out / "x.png").read_bytes() == b"earlier result"
    calls.clear()
    with pytest.raises(RuntimeError):
        upscale_file(failing, src, out / "new.png", 2, OPTS)
    assert sorted(os.listdir(out)) == ["x.png"]


def test_a_folder_with_a_broken_file_skips_it_with_one_line_and_writes_the_rest(tmp_path):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8)).save(folder / "a.jpg")
    Image.fromarray(RNG.integers(0, 256, (7, 5), dtype=np.uint8)).save(folder / "sub" / "b.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    jobs = plan_outputs([folder])
    reported = []
    batch = upscale_many(bicubic, jobs, 2, OPTS, on_skip=lambda p, why: reported.append(why))
    assert [r.source.name for r in batch.results] == ["a.jpg", "b.png"]
    assert (folder / "upscaled" / "a.png").is_file() and (folder / "sub" / "upscaled" / "b.png").is_file()
    assert not (folder / "upscaled" / "broken.png").exists()
    assert [p.name for p, _ in batch.skipped] == ["broken.png"] and reported == [batch.skipped[0][1]]
    why = batch.skipped[0][1]
    assert "\n" not in why and str(folder / "broken.png") in why
    assert batch.summary("hpun_s x2").startswith("upscaled 2 image(s)") and "skipped 1" in batch.summary("m")
    assert plan_outputs([folder]) == jobs  # the outputs are not picked up as inputs on a rerun
