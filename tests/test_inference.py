"""Tiled inference equals whole-image inference when the overlap covers the receptive field."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from hpun_edge import VARIANTS
from hpun_edge.inference import InferenceOptions, self_ensemble, tile_spans, tiled_forward, upscale
from hpun_edge.model import HPUN
from hpun_edge.variants import VariantSpec


@pytest.mark.parametrize("length,tile,overlap", [(10, 16, 2), (64, 16, 4), (70, 24, 5), (200, 64, 16), (130, 40, 0)])
def test_spans_cover_the_axis_once_with_even_starts_and_enough_context(length, tile, overlap):
    spans = tile_spans(length, tile, overlap)
    assert spans[0].keep_start == 0 and spans[-1].keep_stop == length
    for a, b in zip(spans, spans[1:]):
        assert a.keep_stop == b.keep_start
    for s in spans:
        assert s.start % 2 == 0 and s.stop - s.start == min(tile, length)
        assert s.start <= s.keep_start < s.keep_stop <= s.stop
        if s.keep_start > 0:
            assert s.keep_start - s.start >= overlap
        if s.keep_stop < length:
            assert s.stop - s.keep_stop >= overlap


def test_span_arguments_are_checked():
    with pytest.raises(ValueError, match="even"):
        tile_spans(64, 15, 2)
    with pytest.raises(ValueError, match="twice the overlap"):
        tile_spans(64, 16, 8)


def _tiny(dense: bool) -> HPUN:
    torch.manual_seed(0)
    spec = VariantSpec("tiny", "tiny", blocks=2, dense_front=dense, paper=VARIANTS["hpun_s"].paper)
    return HPUN(spec, 2).eval()


@pytest.mark.parametrize("dense", [False, True])
@pytest.mark.parametrize("h,w", [(100, 120), (87, 113)])
def test_tiled_equals_whole_image_with_overlap_at_the_receptive_radius(dense, h, w):
    m = _tiny(dense)
    x = torch.rand(1, 3, h, w)
    r = m.receptive_radius
    with torch.no_grad():
        whole = m(x)
        tiled = tiled_forward(m, x, 2, tile=2 * r + 8, overlap=r)
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().max().item() <= 1e-4


def test_small_overlap_differs_but_fixed_size_tiles_match_their_shape():
    m = _tiny(False)
    x = torch.rand(1, 3, 50, 50)
    seen = set()

    def fixed(t):
        seen.add(tuple(t.shape[-2:]))
        return m(t)

    with torch.no_grad():
        out = tiled_forward(fixed, x, 2, tile=64, overlap=8, fixed_size=True)
    assert out.shape == (1, 3, 100, 100) and seen == {(64, 64)}  # padded up to the tile


def test_self_ensemble_of_an_equivariant_function_is_the_function():
    x = torch.rand(1, 3, 6, 8)
    up = lambda t: torch.nn.functional.interpolate(t, scale_factor=2, mode="nearest")
    torch.testing.assert_close(self_ensemble(up, x), up(x))


def test_upscale_returns_uint8_and_keeps_gray_images_gray():
    m = _tiny(False)
    rgb = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    out = upscale(m, rgb, 2, InferenceOptions(self_ensemble=True))
    assert out.dtype == np.uint8 and out.shape == (24, 20, 3)
    gray = rgb[..., 0]
    assert upscale(m, gray, 2, InferenceOptions(tile=8, overlap=2)).shape == (24, 20)
