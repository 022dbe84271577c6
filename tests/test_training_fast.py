"""The fast training path on the CPU: the device sampler equals PatchDataset, the fast step follows the
eager loop's loss trajectory, capture failures fall back to eager steps, resume and deadlines, runs
trained together, EMA, the lr rule and the cumulative cycles of warm restarts.

The CUDA graph itself needs a GPU: scripts/gpu_probe.py checks graph replays against eager steps there.
"""
from __future__ import annotations

import contextlib
import json
import time

import pytest
import torch
from test_training import Killed, assert_same_tensors, cfg_for, data_dir, last_record, loss_hook, tensors_of  # noqa: F401

from hpun_edge import create_model
from hpun_edge.app.cli import main
from hpun_edge.training import loop
from hpun_edge.training import steps as steps_mod
from hpun_edge.training.config import TrainConfig
from hpun_edge.training.device_data import DeviceImages, crop_batch
from hpun_edge.training.loop import train, train_together
from hpun_edge.training.optim import Ema, build_optimizer, effective_lr
from hpun_edge.training.patches import PatchDataset, batch_indices, load_train_images
from hpun_edge.training.steps import EagerSteps, FastSteps
from hpun_edge.weights import ModelCard, save_weights


def csv_losses(run) -> list[float]:
    return [float(r.split(",")[1]) for r in (run / "log.csv").read_text().splitlines()[1:]]


# ------------------------------------------------------------------------------------ sampler
@pytest.mark.parametrize("scale,patch", [(2, 16), (3, 12), (4, 10)])
@pytest.mark.parametrize("augment", [True, False], ids=["augment", "plain"])
def test_device_sampler_gives_the_patches_of_patch_dataset(data_dir, scale, patch, augment):
    images = load_train_images(data_dir, scale, patch)
    ds = PatchDataset(images, patch, seed=11, augment=augment)
    dev = DeviceImages.build(images, "cpu")
    seen = set()
    for step, rank, world in ((0, 0, 1), (7, 1, 2), (123, 0, 3)):
        idx = batch_indices(step, 24, rank, world)
        draws = dev.draws(11, idx, patch, augment)
        lr, hr = crop_batch(dev, draws, patch)
        assert lr.shape == (24, 3, patch, patch) and hr.shape == (24, 3, patch * scale, patch * scale)
        assert lr.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(lr, torch.stack([ds[i][0] for i in idx]))
        assert torch.equal(hr, torch.stack([ds[i][1] for i in idx]))
        seen |= {tuple(d[3:].tolist()) for d in draws}
    # The 8 transforms all occur with augment (72 draws), only the identity without.
    assert seen == ({(a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)} if augment else {(0, 0, 0)})


# --------------------------------------------------------------------------------- fast vs eager
def _steps_pair(data_dir, amp_dtype, n=6):
    """Losses and weights of n eager steps and n fast steps from the same initial weights (CPU)."""
    cfg = TrainConfig(model="hpun_s", scale=2, patch_size=16, batch_size=4, iterations=n, lr=5e-4, ema_decay=0.9,
                      lr_rule="none")
    images = load_train_images(data_dir, 2, 16)
    out = []
    for fast in (False, True):
        torch.manual_seed(0)
        model = create_model("hpun_s", 2).train().to(memory_format=torch.channels_last)
        opt, sched = build_optimizer(model, cfg, fused=fast)
        ema = Ema(model, cfg.ema_decay)
        if fast:
            s = FastSteps(loop._loss, model, opt, sched, ema, DeviceImages.build(images, "cpu"), seed=cfg.seed,
                          batch=4, patch=16, augment=True, device=torch.device("cpu"), amp_dtype=amp_dtype)
        else:
            s = EagerSteps(loop.train_step, model, opt, sched, ema, PatchDataset(images, 16, cfg.seed), 0, n, 4,
                           torch.device("cpu"), contextlib.nullcontext)
        losses = [float(s.run(t)) for t in range(n)]
        out.append((losses, model.state_dict(), ema.model.state_dict(), sched.get_last_lr()[0]))
    return out


def test_fast_step_follows_the_eager_trajectory_in_fp32(data_dir):
    (le, we, ee, lr_e), (lf, wf, ef, lr_f) = _steps_pair(data_dir, None)
    # Same patches and the same math; only the fused Adam kernel rounds differently.
    assert lf == pytest.approx(le, rel=1e-5) and lr_e == lr_f
    for k in we:
        assert torch.allclose(wf[k], we[k], rtol=0, atol=1e-5), k
        assert torch.allclose(ef[k], ee[k], rtol=0, atol=1e-5), k
    assert max((wf[k] - we[k]).abs().max() for k in we) < 1e-5
    assert any(not torch.equal(ee[k], we[k]) for k in we)  # the EMA is not the weights


def test_fast_step_in_bf16_stays_within_bf16_of_the_eager_fp32_trajectory(data_dir):
    (le, *_), (lf, *_) = _steps_pair(data_dir, torch.bfloat16)
    assert lf != le  # bf16 autocast really ran
    assert lf == pytest.approx(le, rel=2e-2)


def test_a_failed_capture_goes_on_with_eager_steps_and_says_so_once(data_dir, monkeypatch):
    images = load_train_images(data_dir, 2, 16)
    cfg = TrainConfig(model="hpun_s", scale=2, patch_size=16, batch_size=2, iterations=6, ema_decay=0)
    runs = []
    for fail in (False, True):
        torch.manual_seed(0)
        model = create_model("hpun_s", 2).train().to(memory_format=torch.channels_last)
        opt, sched = build_optimizer(model, cfg, fused=True)
        said = []
        s = FastSteps(loop._loss, model, opt, sched, None, DeviceImages.build(images, "cpu"), seed=0, batch=2,
                      patch=16, augment=True, device=torch.device("cpu"), amp_dtype=None, say=said.append)
        if fail:  # as on a GPU whose capture refuses an op: the capture raises after the warm-up steps
            s.use_graphs, s.lr_t = True, torch.zeros(())
            monkeypatch.setattr(steps_mod.torch.cuda, "CUDAGraph", lambda: object())

            def refuse(graph, fn):
                raise RuntimeError("operation not permitted when stream is capturing\nsecond line")

            monkeypatch.setattr(FastSteps, "_record", staticmethod(refuse))
        runs.append(([float(s.run(t)) for t in range(6)], said, s.mode, [g["lr"] for g in opt.param_groups]))
    (l0, said0, _, _), (l1, said1, mode, lrs) = runs
    assert said0 == [] and len(said1) == 1 and "\n" not in said1[0]
    assert said1[0].startswith("CUDA graph capture failed (RuntimeError: operation not permitted")
    assert said1[0].endswith("training goes on with eager steps") and mode == "eager (capture failed)"
    assert l1 == l0 and all(isinstance(v, float) for v in lrs)  # the same steps; lr is a float again


def test_train_with_the_fast_engine_matches_eager_and_resumes_bit_for_bit(data_dir, tmp_path, monkeypatch):
    eager = cfg_for(data_dir, tmp_path / "eager", iterations=6, ckpt_every=3, engine="eager")
    fast = cfg_for(data_dir, tmp_path / "fast", iterations=6, ckpt_every=3, engine="fast")
    train(eager)
    train(fast)
    assert csv_losses(tmp_path / "fast") == pytest.approx(csv_losses(tmp_path / "eager"), rel=1e-5)
    assert json.loads((tmp_path / "fast" / "final.json").read_text())["extra"]["cycles"][0]["engine"] == "fast"

    halves = cfg_for(data_dir, tmp_path / "halves", iterations=6, ckpt_every=3, engine="fast")
    loss_hook(monkeypatch, 4, lambda loss: (_ for _ in ()).throw(Killed()))
    with pytest.raises(Killed):
        train(halves)
    monkeypatch.undo()
    train(TrainConfig(**{**halves.to_dict(), "resume": True}))
    for name in ("final.safetensors", "final_ema.safetensors"):
        assert_same_tensors(tensors_of(tmp_path / "fast" / name), tensors_of(tmp_path / "halves" / name))
    ra, rb = last_record(tmp_path / "fast"), last_record(tmp_path / "halves")
    a, b = tensors_of(tmp_path / "fast" / ra["tensors"]), tensors_of(tmp_path / "halves" / rb["tensors"])
    assert any(k.startswith("ema.") for k in a)
    assert_same_tensors(a, b)


def test_resumed_adam_moments_take_their_parameters_layout(data_dir, tmp_path):
    # The fused Adam pairs moments and weights by memory position: moments restored NCHW beside
    # channels_last weights would update the wrong weights (a max error of several units here).
    from hpun_edge.training import checkpoint as ckpt

    cfg = cfg_for(data_dir, tmp_path / "run", iterations=1, ckpt_every=1, engine="fast")
    train(cfg)
    model = create_model("hpun_s", 2).to(memory_format=torch.channels_last)
    opt, sched = build_optimizer(model, cfg, fused=True)
    ckpt.load_checkpoint(tmp_path / "run", model, opt, sched)
    four_d = [p for p in model.parameters() if p.dim() == 4 and p.requires_grad]
    assert any(not p.is_contiguous() for p in four_d)  # really channels_last (3x3 and 5x5 kernels)
    for p in four_d:
        for key in ("exp_avg", "exp_avg_sq"):
            assert opt.state[p][key].stride() == p.stride(), key


def test_a_run_resumed_on_the_other_engine_goes_on_with_a_note(data_dir, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    loss_hook(monkeypatch, 3, lambda loss: (_ for _ in ()).throw(Killed()))
    with pytest.raises(Killed):
        train(cfg_for(data_dir, run, iterations=4, ckpt_every=2, engine="eager"))
    monkeypatch.undo()
    capsys.readouterr()
    train(TrainConfig(**{**cfg_for(data_dir, run, iterations=4, ckpt_every=2, engine="fast").to_dict(), "resume": True}))
    out = capsys.readouterr().out
    assert "settings changed since the checkpoint" in out and "engine 'eager' -> 'fast'" in out
    record = last_record(run)
    assert record["step"] == 4 and (run / "final.safetensors").exists()
    assert all(g["fused"] is True and g["capturable"] is False for g in record["optimizer"]["param_groups"])


def test_a_run_stopped_at_its_deadline_keeps_a_checkpoint_and_resumes_to_the_same_end(data_dir, tmp_path):
    whole = cfg_for(data_dir, tmp_path / "whole", iterations=5, ckpt_every=100, engine="fast")
    train(whole)
    cut = cfg_for(data_dir, tmp_path / "cut", iterations=5, ckpt_every=100, engine="fast")
    assert train_together([cut], stop_at=time.monotonic()) == [None]
    assert last_record(tmp_path / "cut")["step"] == 1 and not (tmp_path / "cut" / "final.safetensors").exists()
    [out] = train_together([TrainConfig(**{**cut.to_dict(), "resume": True})])
    assert out == tmp_path / "cut" / "final.safetensors"
    assert_same_tensors(tensors_of(tmp_path / "whole" / "final.safetensors"), tensors_of(out))


def test_runs_trained_together_equal_the_same_runs_trained_one_by_one(data_dir, tmp_path):
    def cfgs(root):
        return [cfg_for(data_dir, root / "s2", iterations=4, engine="fast"),
                cfg_for(data_dir, root / "s3", scale=3, patch_size=12, iterations=3, engine="eager"),
                cfg_for(data_dir, root / "m2", model="hpun_m", iterations=2, engine="fast", batch_size=3)]

    for cfg in cfgs(tmp_path / "alone"):
        train(cfg)
    outs = train_together(cfgs(tmp_path / "together"))
    assert [p.relative_to(tmp_path / "together") for p in outs] == [
        p.relative_to(tmp_path / "alone") for p in (tmp_path / "alone" / n / "final.safetensors" for n in ("s2", "s3", "m2"))]
    for name in ("s2", "s3", "m2"):
        for f in ("final.safetensors", "final_ema.safetensors"):
            assert_same_tensors(tensors_of(tmp_path / "alone" / name / f), tensors_of(tmp_path / "together" / name / f))


# ------------------------------------------------------------------------------------------ EMA
def test_ema_is_the_exponential_average_of_the_weights():
    torch.manual_seed(0)
    model = create_model("hpun_s", 2)
    ema = Ema(model, 0.9)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(1.0)
    ema.update()
    for k, v in ema.model.state_dict().items():
        expect = start[k] + 0.1 * (model.state_dict()[k] - start[k])
        assert torch.allclose(v, expect, atol=1e-6), k
    assert torch.equal(ema.model.sub_mean.weight, model.sub_mean.weight)  # frozen tensors stay
    with pytest.raises(ValueError, match="ema_decay must be in"):
        Ema(model, 1.0)


# ------------------------------------------------------------------------------ settings and CLI
def test_lr_rule_scales_the_rate_with_the_global_batch_and_bad_settings_are_one_line_errors(tmp_path):
    base = dict(model="hpun_s", lr=2e-4, val_dataset="none")
    assert effective_lr(TrainConfig(**base)) == 2e-4  # batch 16: the rate as given
    assert effective_lr(TrainConfig(**base, batch_size=64)) == pytest.approx(4e-4)
    assert effective_lr(TrainConfig(**base, batch_size=64, lr_rule="linear")) == pytest.approx(8e-4)
    assert effective_lr(TrainConfig(**base, batch_size=64, lr_rule="none")) == 2e-4
    assert effective_lr(TrainConfig(**base, batch_size=8), world=4) == pytest.approx(2e-4 * 2 ** 0.5)
    for bad, msg in (({"engine": "graph"}, "engine must be one of auto, fast, eager"),
                     ({"lr_rule": "cube"}, "lr_rule must be one of"),
                     ({"ema_decay": 1.0}, "ema_decay must be 0"),
                     ({"lr_batch": 0}, "lr_batch must be at least 1"),
                     ({"batch_size": 1, "lr_rule": "linear", "min_lr": 1.9e-5}, "min_lr <= the effective lr")):
        with pytest.raises(ValueError, match=msg):
            TrainConfig(**{**base, **bad})
    from hpun_edge.app.cli import build_parser
    from hpun_edge.training.cli import config_from_args

    args = build_parser().parse_args(["train", "--model", "hpun_s", "--engine", "fast", "--ema-decay", "0",
                                      "--lr-rule", "linear", "--lr-batch", "32", "--val-dataset", "none"])
    cfg = config_from_args(args)
    assert (cfg.engine, cfg.ema_decay, cfg.lr_rule, cfg.lr_batch) == ("fast", 0.0, "linear", 32)
    assert main(["train", "--model", "hpun_s", "--engine", "fast", "--data", str(tmp_path / "none"),
                 "--run-dir", str(tmp_path / "r"), "--val-dataset", "none"]) == 2


# ------------------------------------------------------------------------------- warm restarts
def test_a_warm_restart_counts_every_earlier_step_and_cycle_in_its_card(data_dir, tmp_path, capsys):
    torch.manual_seed(3)
    src = create_model("hpun_s", 2)
    shipped = tmp_path / "hpun_s_x2.safetensors"
    # A card of the H200 kind: two cycles, the first recorded under extra.first_cycle.
    save_weights(src, shipped, ModelCard("hpun_s", 2, src.spec.bias_policy, iterations=11600, wall_time_s=250.0,
                                         hardware="NVIDIA H200", extra={
                                             "config": {"batch_size": 16, "patch_size": 48},
                                             "first_cycle": {"iterations": 5200, "wall_time_s": 205.6,
                                                             "config": {"batch_size": 16, "patch_size": 48}}}))
    out = train(cfg_for(data_dir, tmp_path / "warm", iterations=3, init_from=str(shipped), engine="fast"))
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["iterations"] == 11600 + 3 and card["extra"]["cycle_count"] == 3
    assert [c["steps"] for c in card["extra"]["cycles"]] == [5200, 6400, 3]
    assert card["extra"]["cycles"][2]["init_from"] == str(shipped)
    assert card["wall_time_s"] == pytest.approx(205.6 + 250.0 + card["extra"]["cycles"][2]["wall_time_s"], abs=0.11)
    n = len(src.state_dict())
    assert f"initialised {n} of {n} tensors from x2 weights {shipped} (tail included)" in capsys.readouterr().out
    # A second warm restart from that card adds a fourth cycle.
    out2 = train(cfg_for(data_dir, tmp_path / "warm2", iterations=2, init_from=str(out), engine="eager"))
    card2 = json.loads(out2.with_suffix(".json").read_text())
    assert card2["iterations"] == 11605 and [c["steps"] for c in card2["extra"]["cycles"]] == [5200, 6400, 3, 2]
    # From another scale's weights the count starts again (the x3 tail is new).
    out3 = train(cfg_for(data_dir, tmp_path / "x3", scale=3, patch_size=12, iterations=2, init_from=str(out)))
    assert json.loads(out3.with_suffix(".json").read_text())["iterations"] == 2
