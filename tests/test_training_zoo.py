"""train-zoo: a plan of runs, x3/x4 started from x2, resumable, validated before it starts."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from hpun_edge.training.zoo import load_plan, run_zoo


@pytest.fixture
def plan_files(tmp_path):
    hr = tmp_path / "hr"
    hr.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        yy, xx = np.mgrid[0:80, 0:72]
        img = np.stack([128 + 60 * np.sin(xx * rng.uniform(0.05, 0.2) + c + yy * 0.03) for c in range(3)], -1)
        Image.fromarray(img.astype(np.uint8)).save(hr / f"{i}.png")
    common = dict(data=str(hr), patch_size=16, batch_size=2, val_dataset="none", workers=0, device="cpu",
                  ckpt_every=1, log_every=1)
    plan = {"note": "test plan", "common": common, "runs": [
        {"model": "hpun_s", "scale": 2, "iterations": 2},
        {"model": "hpun_s", "scale": 3, "iterations": 2, "init_from_scale": 2},
    ]}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    return path, tmp_path / "runs"


def test_plan_runs_in_order_starts_x3_from_x2_and_skips_what_is_done(plan_files):
    path, root = plan_files
    plan = load_plan(path)
    said = []
    run_zoo(plan, root, publish_dest=None, say=said.append)
    for name in ("hpun_s_x2", "hpun_s_x3"):
        assert (root / name / "final.safetensors").exists()
    cfg = json.loads((root / "hpun_s_x3" / "config.yaml").read_text())
    assert cfg["init_from"] == str(root / "hpun_s_x2" / "final.safetensors")  # no validation: no best
    said.clear()
    run_zoo(plan, root, publish_dest=None, say=said.append)
    assert said == [f"hpun_s x2: trained already ({root / 'hpun_s_x2'})",
                    f"hpun_s x3: trained already ({root / 'hpun_s_x3'})"]


def test_a_killed_plan_resumes_the_unfinished_run(plan_files):
    path, root = plan_files
    plan = load_plan(path)
    run_zoo(plan, root, publish_dest=None, say=lambda _: None)
    (root / "hpun_s_x3" / "final.safetensors").unlink()  # as if killed before the end
    run_zoo(plan, root, publish_dest=None, say=lambda _: None)
    assert (root / "hpun_s_x3" / "final.safetensors").exists()


def test_bad_plans_are_refused_before_anything_runs(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"runs": [{"model": "hpun_s", "scale": 2, "iterations": 1, "speed": 3}]}))
    with pytest.raises(ValueError, match="run 1: .*speed"):
        load_plan(bad)
    bad.write_text(json.dumps({"common": {"batch_size": 0}, "runs": [{"model": "hpun_s", "scale": 2, "iterations": 1}]}))
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        load_plan(bad)
    bad.write_text(json.dumps({"runs": []}))
    with pytest.raises(ValueError, match="no runs"):
        load_plan(bad)


def test_a_run_whose_init_weights_are_missing_says_so(tmp_path):
    plan_path = tmp_path / "p.json"
    plan_path.write_text(json.dumps({"runs": [{"model": "hpun_m", "scale": 4, "iterations": 1, "init_from_scale": 2}]}))
    with pytest.raises(FileNotFoundError, match="put its run earlier in the plan"):
        run_zoo(load_plan(plan_path), tmp_path / "runs", publish_dest=None)
