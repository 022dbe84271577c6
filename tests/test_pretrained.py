"""The shipped weights: all nine variants load offline, and their model cards tell the truth."""
from __future__ import annotations

import json

import pytest

from hpun_edge import VARIANTS, create_model
from hpun_edge.data import find_dataset
from hpun_edge.evaluate import evaluate_dataset, model_upscaler
from hpun_edge.zoo import WEIGHTS_DIR, pretrained_path

ALL = [(name, s) for name in VARIANTS for s in (2, 3, 4)]


def test_all_nine_variants_are_shipped_with_a_card():
    shipped = sorted(p.name for p in WEIGHTS_DIR.glob("*.safetensors"))
    assert shipped == sorted(pretrained_path(n, s).name for n, s in ALL)
    for name, scale in ALL:
        card = json.loads(pretrained_path(name, scale).with_suffix(".json").read_text())
        assert (card["model"], card["scale"]) == (name, scale)
        assert card["iterations"] > 0 and card["wall_time_s"] > 0 and card["hardware"]
        assert set(card["metrics"]) == {"Set5", "Set14", "B100"}


@pytest.mark.parametrize("name,scale", ALL)
def test_card_set5_figure_is_what_the_weights_measure(data_root, name, scale):
    model = create_model(name, scale, pretrained=True)
    card = json.loads(pretrained_path(name, scale).with_suffix(".json").read_text())
    result = evaluate_dataset(model_upscaler(model, scale), find_dataset("Set5", data_root), scale)
    assert result.psnr_y == pytest.approx(card["metrics"]["Set5"]["psnr_y"], abs=0.005)
    assert result.ssim_y == pytest.approx(card["metrics"]["Set5"]["ssim_y"], abs=5e-5)


@pytest.mark.parametrize("scale", (2, 3, 4))
def test_trained_models_beat_bicubic_on_set5(data_root, scale):
    from hpun_edge.evaluate import bicubic_upscaler

    bicubic = evaluate_dataset(bicubic_upscaler(scale), find_dataset("Set5", data_root), scale).psnr_y
    for name in VARIANTS:
        card = json.loads(pretrained_path(name, scale).with_suffix(".json").read_text())
        assert card["metrics"]["Set5"]["psnr_y"] > bicubic + 0.3, (name, scale)
