"""Weights: safetensors + model card; wrong variant, scale or shape refused with the mismatch named."""
from __future__ import annotations

import pickle

import pytest
import torch

from hpun_edge import create_model
from hpun_edge.weights import ModelCard, WeightsError, load_weights, model_from_weights, save_weights


def _card(m):
    return ModelCard(model=m.spec.name, scale=m.scale, bias_policy=m.spec.bias_policy, iterations=3)


def test_round_trip_keeps_every_tensor_and_the_card(tmp_path):
    torch.manual_seed(0)
    m = create_model("hpun_s", 3)
    path = tmp_path / "w.safetensors"
    save_weights(m, path, _card(m))
    assert (tmp_path / "w.json").exists() and not list(tmp_path.glob(".*tmp"))
    assert path.stat().st_mode & 0o044 == 0o044  # readable by others, as a normal file
    m2 = create_model("hpun_s", 3)
    card = load_weights(m2, path)
    assert card.iterations == 3 and card.model == "hpun_s"
    for (k, a), b in zip(m.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    assert model_from_weights(path).scale == 3


def test_wrong_variant_and_scale_are_named(tmp_path):
    m = create_model("hpun_s", 2)
    path = tmp_path / "s2.safetensors"
    save_weights(m, path, _card(m))
    with pytest.raises(WeightsError, match="for hpun_s, the model is hpun_m"):
        load_weights(create_model("hpun_m", 2), path)
    with pytest.raises(WeightsError, match="for x2, the model is x4"):
        load_weights(create_model("hpun_s", 4), path)


def test_foreign_tensors_without_metadata_are_checked_by_shape(tmp_path):
    from safetensors.torch import save_file

    state = dict(create_model("hpun_s", 2).state_dict())
    state["tail.weight"] = torch.zeros(27, 64, 3, 3)
    path = tmp_path / "foreign.safetensors"
    save_file(state, str(path))
    with pytest.raises(WeightsError, match=r"tail.weight has shape \(27, 64, 3, 3\).*needs \(12, 64, 3, 3\)"):
        load_weights(create_model("hpun_s", 2), path)


def test_pickles_and_garbage_are_refused_without_unpickling(tmp_path):
    pkl = tmp_path / "w.pth"
    pkl.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(WeightsError, match="pickled checkpoints are refused"):
        load_weights(create_model("hpun_s", 2), pkl)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 7)
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        load_weights(create_model("hpun_s", 2), bad)


def test_missing_pretrained_weights_say_how_to_get_them(monkeypatch, tmp_path):
    import hpun_edge.zoo as zoo

    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="hpun-edge train --model hpun_l --scale 3"):
        create_model("hpun_l", 3, pretrained=True)
