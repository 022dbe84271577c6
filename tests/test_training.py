"""Training: config, patch indexing, resume bit-exactness, failure handling, init-from, DDP on gloo.

Runs on CPU with hpun_s x2, 16x16 LR patches, batch 2 and a few steps on synthetic smooth images.
"""
from __future__ import annotations

import errno
import json
import os
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from hpun_edge import create_model
from hpun_edge.app.cli import main
from hpun_edge.data import DatasetError
from hpun_edge.weights import ModelCard, WeightsError, save_weights
from hpun_edge.training import checkpoint as ckpt
from hpun_edge.training import loop
from hpun_edge.training.config import TrainConfig, config_from_dict, load_config, read_config_file, save_config
from hpun_edge.training.loop import TrainingError, train
from hpun_edge.training.patches import (
    PatchDataset,
    batch_indices,
    load_train_images,
    make_loader,
)

REPO = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------------ fixtures
def smooth_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.empty((h, w, 3))
    for c in range(3):
        fy, fx, py, px = rng.uniform(0.02, 0.12, 2).tolist() + rng.uniform(0, 6.28, 2).tolist()
        img[..., c] = 0.5 + 0.25 * np.sin(fy * yy + py) * np.cos(fx * xx + px) + 0.15 * (xx / w - yy / h)
    return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """Four smooth RGB images (two in a subfolder: the search is recursive)."""
    root = tmp_path_factory.mktemp("hr")
    rng = np.random.default_rng(7)
    for i, (h, w) in enumerate([(64, 72), (80, 64), (70, 70), (96, 60)]):
        folder = root / "sub" if i >= 2 else root
        folder.mkdir(exist_ok=True)
        Image.fromarray(smooth_image(rng, h, w)).save(folder / f"img{i}.png")
    return root


def cfg_for(data_dir: Path, run_dir: Path, **kw) -> TrainConfig:
    base = dict(model="hpun_s", scale=2, data=str(data_dir), patch_size=16, batch_size=2, iterations=4,
                ckpt_every=2, log_every=1, val_dataset="none", workers=0, device="cpu", run_dir=str(run_dir))
    base.update(kw)
    return TrainConfig(**base)


def tensors_of(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def last_record(run_dir: Path) -> dict:
    return json.loads((run_dir / "last.json").read_text())


def assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def set5_root() -> Path | None:
    for c in (os.environ.get("HPUN_EDGE_DATA"), REPO / "data", REPO.parent / "shared" / "datasets"):
        if c and (Path(c) / "Set5" / "HR").is_dir():
            return Path(c)
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("CI=true but no data root with Set5/HR ($HPUN_EDGE_DATA, ./data, ../shared/datasets)")
    pytest.skip("no data root with Set5/HR ($HPUN_EDGE_DATA, ./data, ../shared/datasets)")


class Killed(Exception):
    """Stands for the process being killed between two steps."""


def loss_hook(monkeypatch, at_call: int, action):
    """Make loop.compute_loss call action(loss) on its `at_call`-th call (1-based)."""
    real, calls = loop.compute_loss, {"n": 0}

    def hooked(sr, hr):
        calls["n"] += 1
        loss = real(sr, hr)
        return action(loss) if calls["n"] == at_call else loss

    monkeypatch.setattr(loop, "compute_loss", hooked)


# -------------------------------------------------------------------------------------- config
def test_config_file_round_trip_and_cli_override_without_pyyaml(tmp_path, monkeypatch):
    from hpun_edge.app.cli import build_parser
    from hpun_edge.training.cli import config_from_args

    monkeypatch.setitem(sys.modules, "yaml", None)  # `import yaml` raises ImportError: the JSON fallback
    cfg = TrainConfig(model="hpun_s", scale=3, lr=1e-3, min_lr=1e-7, workers=0, val_dataset="none")
    path = tmp_path / "run" / "config.yaml"
    save_config(cfg, path)
    assert load_config(path) == cfg
    args = build_parser().parse_args(["train", "--config", str(path), "--lr", "5e-4", "--scale", "4", "--no-amp"])
    cfg2 = config_from_args(args)
    assert cfg2 == TrainConfig(**{**cfg.to_dict(), "lr": 5e-4, "scale": 4, "amp": False})
    (tmp_path / "c.yaml").write_text("model: hpun_s\n")
    with pytest.raises(ValueError, match="PyYAML is not installed"):
        read_config_file(tmp_path / "c.yaml")
    with pytest.raises(ValueError, match="unknown setting.*learning_rate"):
        config_from_dict({"learning_rate": 1})
    with pytest.raises(ValueError, match="batch_size must be int"):
        config_from_dict({"batch_size": "16"})
    with pytest.raises(ValueError, match="unsupported scale 5"):
        config_from_dict({"scale": 5})


def test_config_yaml_round_trip(tmp_path):
    yaml = pytest.importorskip("yaml")
    f = tmp_path / "c.yaml"
    f.write_text("# a hand-written YAML config\nmodel: hpun_s\nscale: 3\nlr: 1e-3\nval_dataset: none\nworkers: 0\n")
    cfg = load_config(f, {"batch_size": 8})
    assert (cfg.model, cfg.scale, cfg.lr, cfg.workers, cfg.batch_size, cfg.patch_size) == ("hpun_s", 3, 1e-3, 0, 8, 48)
    # The saved config.yaml (JSON, floats written with a '.') reads back through PyYAML unchanged.
    out = tmp_path / "config.yaml"
    save_config(cfg, out)
    assert yaml.safe_load(out.read_text()) == cfg.to_dict() and load_config(out) == cfg
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="must be a mapping"):
        load_config(tmp_path / "list.yaml")


def test_default_config_is_the_paper_recipe():
    c = TrainConfig()
    assert (c.patch_size, c.batch_size, c.lr, c.augment) == (48, 16, 2e-4, True)
    assert c.run_path == Path("runs/hpun_m_x2") and c.num_workers == min(4, os.cpu_count())


# ------------------------------------------------------------------------------------ sampling
def test_sample_indexing_is_independent_of_workers_and_ranks(data_dir):
    # rank r at step t takes t*batch*world + r*batch + j: the ranks of a world-2 run together draw
    # exactly what one process with twice the batch draws, and disjoint sets per rank.
    for t in range(3):
        both = batch_indices(t, 2, 0, 2) + batch_indices(t, 2, 1, 2)
        assert both == batch_indices(t, 4, 0, 1)
        assert not set(batch_indices(t, 2, 0, 2)) & set(batch_indices(t, 2, 1, 2))

    images = load_train_images(data_dir, 2, 16)
    ds = PatchDataset(images, 16, seed=3)
    again = PatchDataset(load_train_images(data_dir, 2, 16), 16, seed=3)
    for i in (0, 5, 123456):
        assert all(torch.equal(a, b) for a, b in zip(ds[i], again[i]))
    lr, hr = ds[0]
    assert lr.dtype == torch.uint8 and lr.shape == (3, 16, 16) and hr.shape == (3, 32, 32)
    assert not torch.equal(ds[0][0], PatchDataset(images, 16, seed=4)[0][0])

    def batches(workers, start):
        return [b for b in make_loader(ds, start, 5, 2, workers=workers)]

    serial, parallel, resumed = batches(0, 0), batches(2, 0), batches(2, 3)
    assert len(serial) == 5
    for a, b in zip(serial, parallel):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    for a, b in zip(serial[3:], resumed):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


# ------------------------------------------------------------------------------------- data errors
def test_empty_missing_and_unusable_data_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no image files"):
        load_train_images(tmp_path / "empty", 2, 16)
    with pytest.raises(DatasetError, match="no such training data folder"):
        load_train_images(tmp_path / "nope", 2, 16)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.png").write_bytes(b"not a png")
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(bad / "tiny.png")
    with pytest.raises(DatasetError, match="none of the 2 image file"):
        load_train_images(bad, 2, 16)
    # Through the CLI: one line, exit 2.
    rc = main(["train", "--model", "hpun_s", "--data", str(tmp_path / "empty"), "--run-dir", str(tmp_path / "r"),
               "--val-dataset", "none", "--workers", "0"])
    assert rc == 2


def test_unreadable_and_too_small_images_are_skipped_with_a_report(data_dir, tmp_path):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for p in sorted(data_dir.rglob("*.png"))[:2]:
        (mixed / p.name).write_bytes(p.read_bytes())
    (mixed / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    Image.fromarray(np.zeros((40, 31, 3), np.uint8)).save(mixed / "small.png")  # 31 < 32 HR patch
    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(mixed / "gray.png")  # grayscale: replicated
    lines = []
    images = load_train_images(mixed, 2, 16, report=lines.append)
    assert len(images) == 3 and all(im.shape[2] == 3 for im in images.hr)
    assert len(lines) == 2
    assert any("broken.png" in ln and "unreadable" in ln for ln in lines)
    assert any("small.png" in ln and "31x40" in ln and "too small" in ln for ln in lines)
    assert all("\n" not in ln for ln in lines)


# ------------------------------------------------------------------------------------ checkpoints
def test_resume_continues_the_same_trajectory_bit_for_bit(data_dir, tmp_path, monkeypatch):
    straight = cfg_for(data_dir, tmp_path / "a", iterations=6, ckpt_every=3)
    train(straight)

    # The same run killed during step 4 (after the step-3 checkpoint), then resumed.
    halves = cfg_for(data_dir, tmp_path / "b", iterations=6, ckpt_every=3)
    loss_hook(monkeypatch, 4, lambda loss: (_ for _ in ()).throw(Killed()))
    with pytest.raises(Killed):
        train(halves)
    assert last_record(tmp_path / "b")["step"] == 3 and not (tmp_path / "b" / "final.safetensors").exists()
    monkeypatch.undo()
    train(TrainConfig(**{**halves.to_dict(), "resume": True}))

    assert_same_tensors(tensors_of(tmp_path / "a" / "final.safetensors"), tensors_of(tmp_path / "b" / "final.safetensors"))
    ra, rb = last_record(tmp_path / "a"), last_record(tmp_path / "b")
    assert ra["step"] == rb["step"] == 6 and ra["scheduler"] == rb["scheduler"]
    assert ra["optimizer"]["param_groups"] == rb["optimizer"]["param_groups"]
    assert_same_tensors(tensors_of(tmp_path / "a" / ra["tensors"]), tensors_of(tmp_path / "b" / rb["tensors"]))

    def losses(run):
        rows = (run / "log.csv").read_text().splitlines()
        return [r.split(",")[:3] for r in rows]  # step, loss, lr (not it/s)

    assert losses(tmp_path / "a") == losses(tmp_path / "b") and len(losses(tmp_path / "a")) == 7
    assert len(list((tmp_path / "b").glob("last-*.safetensors"))) == 1


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(data_dir, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    # Losses are checked at each log/checkpoint step; the NaN of step 3 is found at step 4, before
    # the step-4 checkpoint would be written.
    cfg = cfg_for(data_dir, run, iterations=8, ckpt_every=2, log_every=100)
    loss_hook(monkeypatch, 3, lambda loss: loss * float("nan"))
    with pytest.raises(TrainingError, match=r"step 3: loss is nan"):
        train(cfg)
    record = last_record(run)
    assert record["step"] == 2 and not (run / "final.safetensors").exists()
    state = tensors_of(run / record["tensors"])
    assert all(torch.isfinite(v.float()).all() for v in state.values())
    monkeypatch.undo()
    # --resume alone takes the run's saved settings; here it diverges again (inf at step 3): the CLI
    # prints one line and exits 1, and the step-2 checkpoint is still the last.
    loss_hook(monkeypatch, 1, lambda loss: loss * float("inf"))
    capsys.readouterr()
    rc = main(["train", "--run-dir", str(run), "--resume"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and last_record(run)["step"] == 2
    assert err[-1].startswith("hpun-edge train: error: training diverged at step 3: loss is inf")


@pytest.mark.parametrize("fail_at", [3, 4], ids=["tensor-file", "last.json"])
def test_full_disk_leaves_the_previous_checkpoint_intact(data_dir, tmp_path, monkeypatch, capsys, fail_at):
    run = tmp_path / "run"
    real, calls = ckpt._write_bytes, {"n": 0}

    def writer(path, data):
        calls["n"] += 1
        if calls["n"] == fail_at:  # writes 1-2: the step-2 checkpoint; 3-4: the step-4 one
            with open(path, "wb") as f:
                f.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(ckpt, "_write_bytes", writer)
    cfg = cfg_for(data_dir, run, iterations=4, ckpt_every=2)
    save_config(cfg, tmp_path / "c.yaml")
    rc = main(["train", "--config", str(tmp_path / "c.yaml")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert "no space left on device" in err[-1] and "previous checkpoint (step 2) is intact" in err[-1]
    record = last_record(run)
    assert record["step"] == 2
    assert sorted(p.name for p in run.iterdir() if "last" in p.name) == sorted(["last.json", record["tensors"]])
    assert not [p for p in run.iterdir() if p.name.startswith(".")]  # no temp files
    model = create_model("hpun_s", 2)
    opt, sched = loop.build_optimizer(model, cfg)
    assert ckpt.load_checkpoint(run, model, opt, sched)["step"] == 2  # sha256 and contents check out


def test_resume_refuses_another_variant_or_scale(data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    train(cfg_for(data_dir, run, iterations=2))
    for model, scale in (("hpun_m", 2), ("hpun_s", 3)):
        with pytest.raises(ckpt.CheckpointError, match=rf"checkpoint is hpun_s x2, this run is {model} x{scale}"):
            train(cfg_for(data_dir, run, model=model, scale=scale, iterations=4, resume=True))
    capsys.readouterr()
    rc = main(["train", "--model", "hpun_m", "--scale", "2", "--run-dir", str(run), "--resume",
               "--data", str(data_dir), "--val-dataset", "none"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "hpun_s x2" in err[0] and "hpun_m x2" in err[0]
    # A run folder that holds a checkpoint is not overwritten without --resume.
    with pytest.raises(ckpt.CheckpointError, match="pass --resume"):
        train(cfg_for(data_dir, run, iterations=2))


# ------------------------------------------------------------------------------------- init-from
def test_init_from_x2_loads_all_but_the_tail(data_dir, tmp_path):
    torch.manual_seed(1)
    src = create_model("hpun_s", 2)
    path = tmp_path / "x2.safetensors"
    save_weights(src, path, ModelCard("hpun_s", 2, src.spec.bias_policy))
    torch.manual_seed(2)
    dst = create_model("hpun_s", 3)
    fresh_tail = dst.tail.weight.detach().clone()
    msg = ckpt.load_init_weights(dst, path)
    assert "tail.weight, tail.bias left freshly initialised" in msg
    for name, t in dst.state_dict().items():
        if name.startswith("tail."):
            continue
        assert torch.equal(t, src.state_dict()[name]), name
    assert torch.equal(dst.tail.weight, fresh_tail)

    with pytest.raises(WeightsError, match="--init-from weights are for hpun_s, the model is hpun_m"):
        ckpt.load_init_weights(create_model("hpun_m", 3), path)
    state = dict(src.state_dict())
    state["body_tail.weight"] = torch.zeros(64, 64, 1, 1)
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "bad.safetensors"))
    with pytest.raises(WeightsError, match=r"body_tail.weight has shape \(64, 64, 1, 1\)"):
        ckpt.load_init_weights(create_model("hpun_s", 3), tmp_path / "bad.safetensors")

    # Through the loop: one x3 step from the x2 weights.
    out = train(cfg_for(data_dir, tmp_path / "run", scale=3, iterations=1, init_from=str(path), patch_size=10))
    assert out.name == "final.safetensors"


# -------------------------------------------------------------------------------------- learning
def test_loss_decreases_on_a_fixed_tiny_set(data_dir, tmp_path):
    cfg = cfg_for(data_dir, tmp_path / "run", iterations=30, ckpt_every=30, lr=1e-3, batch_size=4)
    ds = PatchDataset(load_train_images(data_dir, 2, 16), 16, seed=99)
    lr = torch.stack([ds[i][0] for i in range(16)]).float() / 255
    hr = torch.stack([ds[i][1] for i in range(16)]).float() / 255

    loop.seed_everything(cfg.seed)
    init = create_model("hpun_s", 2)
    final = create_model("hpun_s", 2)
    train(cfg)
    final.load_state_dict(tensors_of(tmp_path / "run" / "final.safetensors"))
    with torch.no_grad():
        before, after = (torch.nn.functional.l1_loss(m(lr), hr).item() for m in (init, final))
    print(f"fixed-batch L1 before {before:.4f}, after {after:.4f}")
    assert after < 0.5 * before, (before, after)


def test_validation_on_set5_keeps_the_best_weights_with_a_model_card(data_dir, tmp_path):
    root = set5_root()
    cfg = cfg_for(data_dir, tmp_path / "run", iterations=2, val_every=2, val_dataset="Set5", data_root=str(root))
    best = train(cfg)
    assert best == tmp_path / "run" / "best.safetensors" and best.exists()
    card = json.loads(best.with_suffix(".json").read_text())
    m = card["metrics"]["Set5"]
    assert card["iterations"] == 2 and 5 < m["psnr_y"] < 40 and 0 < m["ssim_y"] < 1
    assert "4 HR images" in card["training_data"] and card["hardware"]
    rows = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert rows[0] == "step,loss,lr,it_s,val_psnr_y,val_ssim_y,ema_psnr_y,ema_ssim_y"
    assert rows[-1].split(",")[4] != "" and rows[-1].split(",")[6] != ""  # raw and EMA both validated


# ------------------------------------------------------------------------------------------- DDP
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_rank(rank: int, world: int, port: int, cfg_dict: dict) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world))
    train(TrainConfig(**cfg_dict))


def test_ddp_on_gloo_equals_one_process_with_the_whole_batch(data_dir, tmp_path):
    import torch.multiprocessing as mp

    ddp = cfg_for(data_dir, tmp_path / "ddp", iterations=2, batch_size=2)
    mp.spawn(_ddp_rank, args=(2, _free_port(), ddp.to_dict()), nprocs=2, join=True)
    single = cfg_for(data_dir, tmp_path / "one", iterations=2, batch_size=4)
    train(single)
    # The same samples: the logged losses (DDP: mean over ranks) agree to float rounding.
    def losses(run):
        return [float(r.split(",")[1]) for r in (run / "log.csv").read_text().splitlines()[1:]]

    assert losses(tmp_path / "ddp") == pytest.approx(losses(tmp_path / "one"), abs=2e-6)
    # Gradients summed in another order: Adam's first steps move every weight by about +-lr (2e-4),
    # so other data would change most weights by ~1e-4; rounding moves only weights whose gradient is
    # near zero (Adam's update is then sensitive to it).
    a, b = tensors_of(tmp_path / "ddp" / "final.safetensors"), tensors_of(tmp_path / "one" / "final.safetensors")
    assert a.keys() == b.keys()
    diff = torch.cat([(a[k] - b[k]).abs().flatten() for k in a])
    assert (diff > 1e-6).float().mean() < 1e-3 and diff.max() < 1e-4
    assert json.loads((tmp_path / "ddp" / "final.json").read_text())["extra"]["world_size"] == 2
