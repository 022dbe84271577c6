"""Reading photos (orientation, alpha, 16 bits, gray, CMYK, palette, ICC, refusals), finding them and
naming their outputs, and the streamed PNG writer checked against PIL's decoder."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from hpun_edge import data as data_mod
from hpun_edge.data import ImageError
from hpun_edge.photo import PhotoError, PngWriter, find_photos, output_path, plan_outputs, read_photo
from tests.photo_helpers import srgb_profile, write_png, write_tiff16

RNG = np.random.default_rng(0)


def _rgb(h=10, w=14):
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied_as_pil_exif_transpose_does(tmp_path, orientation):
    path = tmp_path / "o.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(_rgb(10, 14)).save(path, exif=exif, quality=95)
    with Image.open(path) as im:
        stored = np.asarray(im)
        upright = np.asarray(ImageOps.exif_transpose(im))
    got = read_photo(path)
    assert got.pixels.shape == ((14, 10, 3) if orientation >= 5 else (10, 14, 3))
    np.testing.assert_array_equal(got.pixels, upright)
    assert np.array_equal(got.pixels, stored) == (orientation == 1)


@pytest.mark.parametrize("fmt,suffix", [("PNG", "png"), ("BMP", "bmp"), ("TIFF", "tif"), ("WEBP", "webp"),
                                        ("JPEG", "jpg")])
def test_8bit_formats_read_as_pil_decodes_them(tmp_path, fmt, suffix):
    path = tmp_path / f"x.{suffix}"
    options = {"lossless": True} if fmt == "WEBP" else {}
    Image.fromarray(_rgb(9, 13)).save(path, format=fmt, **options)
    got = read_photo(path)
    with Image.open(path) as im:
        assert got.bit_depth == 8 and got.alpha is None and got.pixels.dtype == np.uint8
        np.testing.assert_array_equal(got.pixels, np.asarray(im.convert("RGB")))


def test_rgba_and_gray_alpha_keep_their_alpha_plane(tmp_path):
    rgba = RNG.integers(0, 256, (6, 9, 4), dtype=np.uint8)
    Image.fromarray(rgba).save(tmp_path / "a.png")
    got = read_photo(tmp_path / "a.png")
    assert got.bit_depth == 8 and got.channels == 4
    np.testing.assert_array_equal(got.pixels, rgba[..., :3])
    np.testing.assert_array_equal(got.alpha, rgba[..., 3])
    Image.fromarray(rgba[..., [0, 3]], mode="LA").save(tmp_path / "la.png")
    la = read_photo(tmp_path / "la.png")
    assert la.gray and la.channels == 2
    np.testing.assert_array_equal(la.pixels, rgba[..., 0])
    np.testing.assert_array_equal(la.alpha, rgba[..., 3])


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16bit_png_is_read_at_16_bits(tmp_path, channels):
    shape = (7, 11) if channels == 1 else (7, 11, channels)
    arr = RNG.integers(0, 65536, shape, dtype=np.uint16)
    write_png(tmp_path / "x.png", arr)
    got = read_photo(tmp_path / "x.png")
    full = got.pixels if got.alpha is None else np.dstack([got.pixels, got.alpha])
    assert got.bit_depth == 16 and got.pixels.dtype == np.uint16 and got.channels == channels
    np.testing.assert_array_equal(full.reshape(arr.shape), arr)
    with Image.open(tmp_path / "x.png") as im:  # PIL alone keeps the high byte of a colour sample
        if channels == 3:
            np.testing.assert_array_equal(np.asarray(im), arr >> 8)


@pytest.mark.parametrize("channels,big_endian,deflate",
                         [(3, False, False), (3, True, False), (3, False, True), (4, True, True)])
def test_16bit_rgb_tiff_is_read_at_16_bits(tmp_path, channels, big_endian, deflate):
    arr = RNG.integers(0, 65536, (5, 8, channels), dtype=np.uint16)
    write_tiff16(tmp_path / "x.tif", arr, big_endian, deflate)
    got = read_photo(tmp_path / "x.tif")
    full = got.pixels if got.alpha is None else np.dstack([got.pixels, got.alpha])
    assert got.bit_depth == 16
    np.testing.assert_array_equal(full, arr)


def test_16bit_gray_tiff_and_8bit_gray(tmp_path):
    arr = RNG.integers(0, 65536, (6, 5), dtype=np.uint16)
    Image.fromarray(arr).save(tmp_path / "g.tif")
    got = read_photo(tmp_path / "g.tif")
    assert got.bit_depth == 16 and got.gray
    np.testing.assert_array_equal(got.pixels, arr)
    Image.fromarray(_rgb()[..., 0]).save(tmp_path / "g.png")
    assert read_photo(tmp_path / "g.png").gray and read_photo(tmp_path / "g.png").bit_depth == 8


def test_cmyk_jpeg_becomes_rgb_and_its_cmyk_profile_is_dropped(tmp_path):
    cmyk = Image.fromarray(RNG.integers(0, 256, (8, 8, 4), dtype=np.uint8), mode="CMYK")
    fake_cmyk_profile = bytes(16) + b"CMYK" + bytes(108)
    cmyk.save(tmp_path / "c.jpg", icc_profile=fake_cmyk_profile)
    got = read_photo(tmp_path / "c.jpg")
    with Image.open(tmp_path / "c.jpg") as im:
        assert im.mode == "CMYK" and im.info["icc_profile"] == fake_cmyk_profile
        np.testing.assert_array_equal(got.pixels, np.asarray(im.convert("RGB")))
    assert got.pixels.shape == (8, 8, 3) and got.icc_profile is None


def test_rgb_icc_profile_is_kept(tmp_path):
    profile = srgb_profile()
    Image.fromarray(_rgb()).save(tmp_path / "p.jpg", icc_profile=profile)
    assert read_photo(tmp_path / "p.jpg").icc_profile == profile


def test_palette_with_transparency_becomes_rgba_and_without_becomes_rgb(tmp_path):
    pal = Image.fromarray(RNG.integers(0, 4, (6, 7), dtype=np.uint8), mode="P")
    pal.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])
    pal.save(tmp_path / "t.png", transparency=1)
    pal.save(tmp_path / "o.png")
    t, o = read_photo(tmp_path / "t.png"), read_photo(tmp_path / "o.png")
    assert t.alpha is not None and o.alpha is None and o.pixels.shape == (6, 7, 3)
    np.testing.assert_array_equal(t.alpha, np.where(np.asarray(pal) == 1, 0, 255))
    np.testing.assert_array_equal(o.pixels, np.asarray(pal.convert("RGB")))


def _refusal(path) -> str:
    with pytest.raises(PhotoError) as err:
        read_photo(path)
    message = str(err.value)
    assert isinstance(err.value, ImageError) and "\n" not in message and str(path) in message
    return message


def test_refusals_are_one_line_naming_the_file(tmp_path, monkeypatch):
    buf = io.BytesIO()
    Image.fromarray(_rgb(40, 40)).save(buf, format="PNG")
    (tmp_path / "trunc.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (tmp_path / "text.jpg").write_text("not an image")
    Image.fromarray(np.zeros((4, 4), np.float32)).save(tmp_path / "f.tif")
    Image.fromarray(_rgb(20, 20)).save(tmp_path / "big.png")
    assert "unreadable" in _refusal(tmp_path / "trunc.png")
    assert "identify" in _refusal(tmp_path / "text.jpg")
    assert "no such file" in _refusal(tmp_path / "missing.png")
    assert "float" in _refusal(tmp_path / "f.tif")
    monkeypatch.setattr(data_mod, "MAX_PIXELS", 300)  # the one limit, hpun_edge.data's
    assert "decompression bomb" in _refusal(tmp_path / "big.png")


def test_find_photos_recurses_sorted_skipping_output_folders_and_duplicates(tmp_path):
    for rel in ["b.jpg", "a.PNG", "sub/c.tif", "sub/notes.txt", "upscaled/old.png", "sub/upscaled/x.png"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    found = find_photos([tmp_path, tmp_path / "b.jpg", tmp_path / "other.xyz"])
    assert found == [tmp_path / "a.PNG", tmp_path / "b.jpg", tmp_path / "sub" / "c.tif", tmp_path / "other.xyz"]


def test_output_paths_default_beside_input_keep_subfolders_and_never_overwrite(tmp_path):
    src = tmp_path / "in" / "sub" / "x.jpg"
    assert output_path(src) == tmp_path / "in" / "sub" / "upscaled" / "x.png"
    assert output_path(src, tmp_path / "out", tmp_path / "in") == tmp_path / "out" / "sub" / "x.png"
    with pytest.raises(PhotoError, match="overwrite the input"):
        output_path(tmp_path / "x.png", tmp_path)
    for name in ["a.jpg", "a.png", "sub/a.jpg"]:
        (tmp_path / "in" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / name).write_bytes(b"")
    (tmp_path / "in" / "out").mkdir()
    (tmp_path / "in" / "out" / "a.png").write_bytes(b"")  # an earlier run's output inside the input
    plan = dict(plan_outputs([tmp_path / "in"], tmp_path / "in" / "out"))
    assert plan == {
        tmp_path / "in" / "a.jpg": tmp_path / "in" / "out" / "a_jpg.png",
        tmp_path / "in" / "a.png": tmp_path / "in" / "out" / "a_png.png",
        tmp_path / "in" / "sub" / "a.jpg": tmp_path / "in" / "out" / "sub" / "a.png",
    }
    beside = dict(plan_outputs([tmp_path / "in" / "a.jpg", tmp_path / "in" / "a.png"], tmp_path / "in"))
    assert beside[tmp_path / "in" / "a.png"] == tmp_path / "in" / "a_png.png"
    with pytest.raises(PhotoError, match="overwrite an input"):
        plan_outputs([tmp_path / "in" / "a.png"], tmp_path / "in")


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("depth", [8, 16])
def test_streamed_png_decodes_in_pil_to_the_rows_written(tmp_path, channels, depth):
    dtype = np.uint8 if depth == 8 else np.uint16
    shape = (23, 17) if channels == 1 else (23, 17, channels)
    arr = RNG.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
    profile = srgb_profile() if channels >= 3 else None
    write_png(tmp_path / "s.png", arr, profile, bands=4)
    with Image.open(tmp_path / "s.png") as im:
        im.load()
        assert im.info.get("icc_profile") == profile
        decoded = np.asarray(im)
    if depth == 8 or channels == 1:
        np.testing.assert_array_equal(decoded.reshape(arr.shape), arr)
    else:  # PIL keeps the high bytes of 16-bit colour; read_photo's full decode is tested above
        assert decoded.shape[:2] == arr.shape[:2] and decoded.max() == (arr >> 8).max()


def test_png_writer_checks_rows(tmp_path):
    with open(tmp_path / "w.png", "wb") as f:
        png = PngWriter(f, 4, 3, 3, 8)
        with pytest.raises(ValueError, match="expected"):
            png.write(np.zeros((1, 4, 3), np.uint16))
        with pytest.raises(ValueError, match="rows written"):
            png.write(np.zeros((4, 4, 3), np.uint8))
        png.write(np.zeros((2, 4, 3), np.uint8))
        with pytest.raises(ValueError, match="2 of 3 rows"):
            png.finish()
