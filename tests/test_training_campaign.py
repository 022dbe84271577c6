"""Warm-restart campaigns on the CPU: plans checked up front, iterations sized from probed rates, warm
starts from the shipped weights with cumulative cards, a stopped campaign resumed to the same result,
candidates accepted only when better on every benchmark, and the WebP carry pixel-exact."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch
from PIL import Image
from test_training import assert_same_tensors, data_dir, loss_hook, smooth_image, tensors_of  # noqa: F401

from hpun_edge import create_model
from hpun_edge.app.cli import main
from hpun_edge.data import DatasetError, read_image
from hpun_edge.training.campaign import (
    CampaignRun,
    _size,
    accept_stage,
    load_campaign,
    size_iterations,
    train_stage,
)
from hpun_edge.training.carry import prepare_carry
from hpun_edge.training.loop import Shared
from hpun_edge.weights import ModelCard, save_weights


class Died(BaseException):
    """Stands for the process being killed (a signal, not an error the campaign could go on after)."""


def write_plan(path, runs, **extra):
    common = {"patch_size": 16, "batch_size": 2, "val_dataset": "none", "engine": "fast", "device": "cpu",
              "log_every": 1, "lr_rule": "none", **extra.pop("common", {})}
    path.write_text(json.dumps({"note": "test campaign", "common": common, "runs": runs, **extra}))
    return path


@pytest.fixture
def shipped(tmp_path):
    """Shipped hpun_s x2 and x3 weights with H200-style cards (x2: two cycles, 11600 steps)."""
    folder = tmp_path / "shipped"
    for scale, card_extra, iters in ((2, {"first_cycle": {"iterations": 5200, "config": {"batch_size": 16}}}, 11600),
                                     (3, {}, 2500)):
        torch.manual_seed(scale)
        m = create_model("hpun_s", scale)
        save_weights(m, folder / f"hpun_s_x{scale}.safetensors", ModelCard(
            "hpun_s", scale, m.spec.bias_policy, iterations=iters, hardware="NVIDIA H200",
            metrics={d: {"psnr_y": 20.0, "ssim_y": 0.5} for d in ("Set5", "Set14", "B100")},
            extra={"config": {"batch_size": 16, "patch_size": 48}, **card_extra}))
    return folder


# ------------------------------------------------------------------------------------------ plans
def test_plans_are_checked_before_anything_runs(tmp_path):
    ok = [{"model": "hpun_s", "scale": 2}]
    for extra, runs, msg in (({"speed": 1}, ok, "unknown plan entries speed"),
                             ({}, [{"model": "hpun_s", "scale": 2, "epochs": 3}], "run 1: .*epochs"),
                             ({}, ok + ok, "appears twice \\(hpun_s_x2\\)"),
                             ({}, [{"model": "hpun_s", "scale": 2, "share": 0}], "share must be > 0"),
                             ({"together": "sometimes"}, ok, "together must be auto, true or false"),
                             ({"fill": 1.5}, ok, "0 < fill <= 1"),
                             ({"common": {"batch_size": 0}}, ok, "batch_size must be at least 1"),
                             ({}, [], "no runs")):
        with pytest.raises(ValueError, match=msg):
            load_campaign(write_plan(tmp_path / "p.json", runs, **extra))
    assert main(["train-campaign", "train"]) == 2  # no plan: one line, exit 2


def test_iterations_follow_rate_share_and_budget():
    runs = (CampaignRun("hpun_l", 4, share=2.0), CampaignRun("hpun_s", 4, share=1.0),
            CampaignRun("hpun_m", 2, iterations=777), CampaignRun("hpun_s", 2, share=1.0))
    rates = {"hpun_l_x4": 20.0, "hpun_s_x4": 50.0, "hpun_s_x2": 0.01}
    it = size_iterations(runs, rates, budget_s=400, fill=0.9)
    # l: 20 steps/s x 400 s x 2/4 x 0.9 = 3600; s x4: 50 x 400 x 1/4 x 0.9 = 4500; fixed as given; floor 100.
    assert it == {"hpun_l_x4": 3600, "hpun_s_x4": 4500, "hpun_m_x2": 777, "hpun_s_x2": 100}


def test_sizing_probes_each_run_and_records_the_mode(data_dir, tmp_path, shipped):
    plan = load_campaign(write_plan(tmp_path / "p.json", [{"model": "hpun_s", "scale": 2}, {"model": "hpun_s", "scale": 3,
                                    "share": 3.0}], common={"data": str(data_dir), "patch_size": 12}, budget_s=30, fill=1.0,
                                    overhead_s=0))
    said = []
    state = _size(plan, tmp_path / "c", shipped, None, Shared(), time.monotonic(), 10**6, said.append)
    assert state["mode"] in ("together", "one after another") and len(state["probe"]) in (2, 4)
    rates = {r["name"]: r["rate"] for r in state["runs"]}
    assert all(r > 0 for r in rates.values())
    its = {r["name"]: r["iterations"] for r in state["runs"]}
    if state["mode"] == "one after another":
        assert its == size_iterations(plan.runs, rates, state["budget_s"], 1.0)
    else:
        assert its["hpun_s_x2"] == its["hpun_s_x3"]
    assert any(line.startswith("probe hpun_s x3: ") for line in said)


# ------------------------------------------------------------------------------------ training
def _campaign(tmp_path, data_dir, name):
    runs = [{"model": "hpun_s", "scale": 3, "iterations": 3}, {"model": "hpun_s", "scale": 2, "iterations": 4}]
    return load_campaign(write_plan(tmp_path / f"{name}.json", runs, common={"data": str(data_dir)}, validations=2))


def test_a_campaign_warm_starts_from_the_shipped_weights_and_a_stopped_one_resumes(data_dir, tmp_path, shipped,
                                                                                   monkeypatch):
    whole = tmp_path / "whole"
    cands = train_stage(_campaign(tmp_path, data_dir, "a"), whole, shipped=shipped, data_root=None, deadline_s=10**6,
                        say=lambda _l: None)
    assert [c.name for c in cands] == ["hpun_s_x3.safetensors", "hpun_s_x2.safetensors"]
    card = json.loads((whole / "cand" / "hpun_s_x2.json").read_text())
    assert card["iterations"] == 11600 + 4 and [c["steps"] for c in card["extra"]["cycles"]] == [5200, 6400, 4]
    assert card["extra"]["config"]["seed"] == 2  # two cycles behind: other patches than cycle 2's
    assert json.loads((whole / "cand" / "hpun_s_x3.json").read_text())["iterations"] == 2500 + 3
    assert (whole / "init" / "hpun_s_x2.safetensors").read_bytes() == (shipped / "hpun_s_x2.safetensors").read_bytes()

    # The same campaign killed during the x2 run's third step (after its step-2 checkpoint), then the
    # same command again: x3 is not trained again, x2 resumes, and the candidates are the same.
    cut = tmp_path / "cut"
    loss_hook(monkeypatch, 3 + 3, lambda loss: (_ for _ in ()).throw(Died()))
    with pytest.raises(Died):
        train_stage(_campaign(tmp_path, data_dir, "b"), cut, shipped=shipped, data_root=None, deadline_s=10**6,
                    say=lambda _l: None)
    monkeypatch.undo()
    assert json.loads((cut / "runs" / "hpun_s_x2" / "last.json").read_text())["step"] == 2
    said = []
    train_stage(_campaign(tmp_path, data_dir, "b"), cut, shipped=shipped, data_root=None, deadline_s=10**6,
                say=said.append)
    assert said[0] == f"campaign in {cut}: continuing (one after another, sized earlier)"
    assert f"hpun_s x3: trained already ({cut / 'runs' / 'hpun_s_x3'})" in said
    for name in ("hpun_s_x3", "hpun_s_x2"):
        assert_same_tensors(tensors_of(whole / "cand" / f"{name}.safetensors"), tensors_of(cut / "cand" / f"{name}.safetensors"))


def test_a_run_that_diverges_does_not_stop_the_campaign(data_dir, tmp_path, shipped, monkeypatch):
    loss_hook(monkeypatch, 2, lambda loss: loss * float("nan"))  # x3's second step
    said = []
    cands = train_stage(_campaign(tmp_path, data_dir, "a"), tmp_path / "c", shipped=shipped, data_root=None,
                        deadline_s=10**6, say=said.append)
    assert [c.name for c in cands] == ["hpun_s_x2.safetensors"]
    assert any(line.startswith("hpun_s x3: stopped by TrainingError: training diverged at step 2: loss is nan")
               and line.endswith("the other runs go on") for line in said)


def test_out_of_time_runs_are_not_started_and_have_no_candidate(data_dir, tmp_path, shipped):
    said = []
    cands = train_stage(_campaign(tmp_path, data_dir, "a"), tmp_path / "c", shipped=shipped, data_root=None,
                        deadline_s=0.0, say=said.append)
    assert cands == [] and "hpun_s x2: no candidate (not trained yet)" in said


# ------------------------------------------------------------------------------------- accept
def _bench_root(tmp_path):
    """Tiny Set5/Set14/B100 (two smooth 48x48 images each), so that measuring takes seconds."""
    rng = np.random.default_rng(5)
    root = tmp_path / "bench"
    for name in ("Set5", "Set14", "B100"):
        (root / name / "HR").mkdir(parents=True)
        for i in range(2):
            Image.fromarray(smooth_image(rng, 48, 48)).save(root / name / "HR" / f"{i}.png")
    return root


def test_a_candidate_replaces_the_shipped_weights_only_if_better_on_every_set(tmp_path, shipped):
    cand = tmp_path / "cand"
    for scale in (2, 3):
        torch.manual_seed(10 + scale)
        m = create_model("hpun_s", scale)
        save_weights(m, cand / f"hpun_s_x{scale}.safetensors", ModelCard("hpun_s", scale, m.spec.bias_policy, iterations=9))
    # x2's card is beaten everywhere (-50 dB); x3's card holds an unbeatable B100 figure.
    for scale, b100 in ((2, -50.0), (3, 99.0)):
        path = shipped / f"hpun_s_x{scale}.json"
        card = json.loads(path.read_text())
        card["metrics"] = {"Set5": {"psnr_y": -50.0, "ssim_y": 0}, "Set14": {"psnr_y": -50.0, "ssim_y": 0},
                           "B100": {"psnr_y": b100, "ssim_y": 0}}
        path.write_text(json.dumps(card))
    x3_before = (shipped / "hpun_s_x3.safetensors").read_bytes(), (shipped / "hpun_s_x3.json").read_text()
    said = []
    decisions = accept_stage(cand, tmp_path / "root", shipped=shipped, bench_root=str(_bench_root(tmp_path)),
                             device="cpu", note="campaign note", say=said.append)
    by = {d["name"]: d for d in decisions}
    assert by["hpun_s_x2"]["accepted"] and not by["hpun_s_x3"]["accepted"]
    assert by["hpun_s_x3"]["gains_db"]["B100"] < 0 < by["hpun_s_x3"]["gains_db"]["Set5"]
    assert_same_tensors(tensors_of(shipped / "hpun_s_x2.safetensors"), tensors_of(cand / "hpun_s_x2.safetensors"))
    shipped_x2 = json.loads((shipped / "hpun_s_x2.json").read_text())
    assert set(shipped_x2["metrics"]) == {"Set5", "Set14", "B100"} and shipped_x2["notes"].startswith("campaign note")
    assert ((shipped / "hpun_s_x3.safetensors").read_bytes(), (shipped / "hpun_s_x3.json").read_text()) == x3_before
    assert any("not better on B100" in line for line in said)
    assert json.loads((tmp_path / "root" / "accept.json").read_text()) == decisions
    with pytest.raises(FileNotFoundError, match="no candidate weights"):
        accept_stage(tmp_path / "empty", tmp_path / "root", shipped=shipped, bench_root=None, device="cpu")


# -------------------------------------------------------------------------------------- carry
def test_the_carry_is_lossless_webp_and_a_rerun_rewrites_nothing(tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / "data"
    images = {"train/T91/a.png": (40, 52), "train/BSD200/b.png": (30, 30), "Set5/HR/c.png": (24, 20),
              "Set14/HR/d.png": (16, 16), "B100/HR/e.png": (20, 28)}
    for rel, (h, w) in images.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(smooth_image(rng, h, w)).save(root / rel)
    Image.fromarray(smooth_image(rng, 18, 18)[..., 0]).save(root / "Set14/HR/gray.png")  # kept as gray PNG
    sizes = prepare_carry(root, tmp_path / "carry", say=lambda _l: None)
    assert set(sizes) == {"train", "bench"} and all(v > 0 for v in sizes.values())
    expect = {"train/train/T91/a.webp": "train/T91/a.png", "train/train/BSD200/b.webp": "train/BSD200/b.png",
              "train/Set5/HR/c.webp": "Set5/HR/c.png", "bench/Set5/HR/c.webp": "Set5/HR/c.png",
              "bench/Set14/HR/d.webp": "Set14/HR/d.png", "bench/B100/HR/e.webp": "B100/HR/e.png",
              "bench/Set14/HR/gray.png": "Set14/HR/gray.png"}
    copies = [p for p in (tmp_path / "carry").rglob("*") if p.is_file()]
    assert sorted(p.relative_to(tmp_path / "carry").as_posix() for p in copies) == sorted(expect)
    for copy, src in expect.items():
        assert np.array_equal(read_image(tmp_path / "carry" / copy), read_image(root / src)), copy
    assert read_image(tmp_path / "carry" / "bench/Set14/HR/gray.png").ndim == 2
    stamp = {p: p.stat().st_mtime_ns for p in copies}
    prepare_carry(root, tmp_path / "carry", say=lambda _l: None)
    assert {p: p.stat().st_mtime_ns for p in stamp} == stamp
    (root / "B100" / "HR" / "e.png").unlink()
    (root / "B100" / "HR").rmdir()
    with pytest.raises(DatasetError, match="B100/HR: not found"):
        prepare_carry(root, tmp_path / "carry2")
