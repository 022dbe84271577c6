"""QAT states shipped beside the weights (`quantization.shipped`): made from a finished checkpoint,
used only where everything that determined them matches, loaded through the QAT's resume path."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from hpun_edge.app.artifacts import ArtifactMaker
from hpun_edge.app.config import Job, PipelineConfig, check_config, plan_jobs
from hpun_edge.converters.sidecar import file_sha256
from hpun_edge.quantization import shipped as shipped_mod
from hpun_edge.quantization.finetune import QATConfig, checkpoint_paths
from hpun_edge.quantization.shipped import find_shipped, seed_checkpoint, ship_state, state_path, state_tools
from hpun_edge.weights import ModelCard, save_weights
from hpun_edge.zoo import create_model, pretrained_path

SETTINGS = {"method": "qat", "rewrites": ["srdsc_fold"], "fp32_parts": ["residual_adds"], "calib_count": 64}


def finished_checkpoint(folder: Path, qat: QATConfig, tensors: dict[str, torch.Tensor]) -> Path:
    """A QAT checkpoint folder as `finetune.fine_tune` leaves it after its last step."""
    st, js = checkpoint_paths(folder)
    folder.mkdir(parents=True)
    save_file(tensors, str(st))
    js.write_text(json.dumps({"step": qat.steps, "config": asdict(qat)}))
    return folder


@pytest.fixture
def states_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "shipped"
    monkeypatch.setattr(shipped_mod, "QAT_STATES_DIR", folder)
    return folder


def test_a_state_is_found_only_where_everything_matches(states_dir, tmp_path):
    qat = QATConfig(steps=7, lr=3e-4)
    ckpt = finished_checkpoint(tmp_path / "ckpt", qat, {"model.w": torch.ones(3), "opt.0.exp_avg": torch.zeros(3)})
    dest = state_path("hpun_s", 2, "xnnpack")
    card = json.loads(ship_state(ckpt, dest, weights_sha256="a" * 64, family="xnnpack",
                                 settings={**SETTINGS, "qat": asdict(qat)}, command="hpun-edge pipeline ...").read_text())
    assert set(load_file(str(dest))) == {"model.w"}  # the optimizer's moments are not shipped
    assert card["sha256"] == file_sha256(dest) and card["qat"] == asdict(qat) and card["tools"] == state_tools()

    found, why = find_shipped("hpun_s", 2, "xnnpack", "a" * 64, SETTINGS)
    assert why is None and found.qat == qat and found.source().startswith("shipped hpun_s_x2_xnnpack.safetensors")
    assert find_shipped("hpun_s", 2, "xnnpack", "b" * 64, SETTINGS) == (None, "made from other weights")
    assert find_shipped("hpun_s", 2, "xnnpack", "a" * 64, {**SETTINGS, "rewrites": []}) == (None, "made with other rewrites")
    assert find_shipped("hpun_s", 2, "fused-int8", "a" * 64, SETTINGS) == (None, None)  # none shipped
    card["tools"] = {"torch": "0.1", "torchao": "0.1"}
    dest.with_suffix(".json").write_text(json.dumps(card))
    found, why = find_shipped("hpun_s", 2, "xnnpack", "a" * 64, SETTINGS)
    assert found is None and why.startswith("made with {'torch': '0.1'")


def test_a_unfinished_checkpoint_is_not_shipped(states_dir, tmp_path):
    qat = QATConfig(steps=7)
    ckpt = finished_checkpoint(tmp_path / "ckpt", qat, {"model.w": torch.ones(3)})
    checkpoint_paths(ckpt)[1].write_text(json.dumps({"step": 3, "config": asdict(qat)}))
    with pytest.raises(ValueError, match="stopped at step 3 of 7; finish it first"):
        ship_state(ckpt, state_path("hpun_s", 2, "xnnpack"), weights_sha256="a" * 64, family="xnnpack",
                   settings=SETTINGS, command="")


def maker_for(weights: Path, tmp_path: Path, **cfg) -> ArtifactMaker:
    from hpun_edge.weights import model_from_weights

    config = check_config(PipelineConfig(out=str(tmp_path / "out"), **cfg))
    return ArtifactMaker(model_from_weights(weights), config, weights=weights, folder=tmp_path / "out" / "a",
                         stem="hpun_s_x2", say=lambda line: None)


def test_the_pipeline_takes_a_matching_shipped_state_and_says_where_its_qat_came_from(states_dir, tmp_path):
    weights = pretrained_path("hpun_s", 2)
    job = Job("executorch", "int8", "qat")
    plain = maker_for(weights, tmp_path).quant_settings(job)
    qat = QATConfig(steps=11, lr=5e-5)
    ckpt = finished_checkpoint(tmp_path / "ckpt", qat, {"model.w": torch.ones(3)})
    ship_state(ckpt, state_path("hpun_s", 2, "xnnpack"), weights_sha256=file_sha256(weights), family="xnnpack",
               settings={k: plain[k] for k in SETTINGS}, command="")
    maker = maker_for(weights, tmp_path)
    got = maker.quant_settings(job)
    assert got["qat"] == asdict(qat) and got["qat_source"].startswith("shipped hpun_s_x2_xnnpack.safetensors")
    # LiteRT's QAT is its own (its graph rounds after the upsampling): XNNPACK's state is not its
    assert maker.quant_settings(Job("litert", "int8", "qat"))["qat_source"] == "fine-tuned here"
    assert maker.quant_settings(Job("executorch", "int8", "ptq")).get("qat_source") is None
    # asked to fine-tune, or other settings: the config's QAT, here
    for other in (dict(qat_state="fine-tune"), dict(calib_count=32)):
        s = maker_for(weights, tmp_path, **other).quant_settings(job)
        assert s["qat"] == asdict(QATConfig(steps=300, lr=1e-4, batch_size=8)) and s["qat_source"] == "fine-tuned here"
    # the state is handed over as the QAT's finished checkpoint
    folder = maker.qat_dir(job, got)
    seed_checkpoint(maker.shipped_qat(job), folder)
    assert json.loads(checkpoint_paths(folder)[1].read_text()) == {"step": 11, "config": asdict(qat)}
    assert checkpoint_paths(folder)[0].read_bytes() == state_path("hpun_s", 2, "xnnpack").read_bytes()


def test_a_qat_checkpoint_belongs_to_its_weights(tmp_path):
    """Two weights files, the same QAT settings: two checkpoint folders (a run with other weights in
    the same output folder must not resume the first one's fine-tuning)."""
    model = create_model("hpun_s", 2, pretrained=True)
    with torch.no_grad():
        model.head.weight.mul_(1.01)
    other = tmp_path / "other.safetensors"
    save_weights(model, other, ModelCard("hpun_s", 2, "all convs have biases"))
    job = Job("executorch", "int8", "qat")
    a, b = maker_for(pretrained_path("hpun_s", 2), tmp_path), maker_for(other, tmp_path)
    assert a.qat_dir(job, a.quant_settings(job)) != b.qat_dir(job, b.quant_settings(job))
    assert b.quant_settings(job)["qat_source"] == "fine-tuned here"


@pytest.mark.parametrize("model", ["hpun_s", "hpun_m"])
def test_make_run_uses_the_shipped_states(model):
    """Every int8 QAT job of the main job (`make run`: the defaults; HPUN-M: `hpun-edge bench`'s second
    model) finds its shipped state with the pinned torch/torchao: a change to the defaults, the
    weights or the versions that would make them fine-tune for minutes again fails here (re-ship
    with scripts/ship_qat_state.py)."""
    cfg = check_config(PipelineConfig(model=model, datasets=("Set5", "Set14")))
    maker = ArtifactMaker(create_model(model, 2, pretrained=True), cfg, weights=pretrained_path(model, 2),
                          folder=Path("unused"), stem=f"{model}_x2")
    qat_jobs = [j for j in plan_jobs(cfg) if j.method == "qat"]
    assert qat_jobs
    for job in qat_jobs:
        assert maker.shipped_qat(job) is not None, job
