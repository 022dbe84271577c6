"""The training loop: `train(config) -> Path` (the best weights), on CPU, one GPU, or under torchrun;
`train_together(configs)`: several runs in one process, a step of each in turn.

* Engine (`engine`, see `steps`): on one CUDA device the fast path (training pairs on the GPU, the
  whole step in a CUDA graph, fused Adam, bf16 autocast with ``amp``, channels_last), with eager
  steps as the fallback when capture fails; elsewhere today's eager loop (CPU: fp32,
  channels_last, DataLoader workers).
* Multi-GPU: ``torchrun --nproc_per_node N -m hpun_edge train ...`` sets WORLD_SIZE > 1; the model is
  wrapped in DistributedDataParallel (process group from the environment: NCCL on CUDA, gloo on
  CPU) and runs the eager engine. Each rank draws its own samples (see `patches`); batch_size is per
  rank. Rank 0 alone logs, validates and writes files; the other ranks wait for it and learn whether
  the write succeeded.
* EMA (`ema_decay`): an average of the weights is updated every step, validated beside the raw
  weights, and saved in checkpoints; `best.safetensors` is whichever validated best.
* Losses are checked for NaN/inf at every log, validation and checkpoint step (before anything is
  written), so a diverged run stops with the first bad step and never overwrites the last good
  checkpoint.
* The run is a generator that yields after every step (`_run`), so that `train_together` can
  interleave several runs on their own CUDA streams; `train` simply runs one to its end.
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from ..data import find_dataset, resolve_data_root
from ..weights import ModelCard, save_weights
from ..zoo import create_model
from .checkpoint import (
    CheckpointError,
    check_identity,
    checkpoint_record,
    load_checkpoint,
    load_init_weights,
    save_checkpoint,
    write_guarded,
)
from .config import TrainConfig, save_config
from .device_data import DeviceImages
from .history import prior_cycles, with_cycle
from .optim import (  # noqa: F401  (re-exported: callers use loop.build_optimizer etc.)
    TRAJECTORY_KEYS,
    Ema,
    apply_optimizer_settings,
    build_optimizer,
    cosine_lambda,
    effective_lr,
    keep_engine_flags,
)
from .patches import PatchDataset, TrainImages, load_train_images
from .runlog import RunLog, hardware_string, validate
from .steps import EagerSteps, FastSteps, to_input  # noqa: F401  (to_input re-exported)


class TrainingError(RuntimeError):
    """The run stopped (diverged, or another rank failed); str() is one line."""


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device_pref: str) -> Dist:
    """DDP from torchrun's environment when WORLD_SIZE > 1, else a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    owns = False
    if not dist.is_initialized():
        use_cuda = device_pref != "cpu" and torch.cuda.is_available()
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if use_cuda else "gloo")
        owns = True
    return Dist(dist.get_rank(), dist.get_world_size(), local_rank, owns)


def resolve_device(pref: str, local_rank: int = 0) -> torch.device:
    if pref == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(pref)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {pref}: CUDA is not available on this machine")
        if device.index is None:
            device = torch.device(f"cuda:{local_rank}")
    elif device.type != "cpu":
        raise ValueError(f"--device {pref}: expected auto, cpu, cuda or cuda:N")
    return device


def resolve_engine(cfg: TrainConfig, device: torch.device, world: int) -> str:
    """"fast" or "eager" for this run: auto is fast on one CUDA device, eager elsewhere."""
    if cfg.engine == "auto":
        return "fast" if device.type == "cuda" and world == 1 else "eager"
    if cfg.engine == "fast" and world > 1:
        raise ValueError("engine fast trains in one process; under torchrun use engine eager (or auto)")
    return cfg.engine


def compute_loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(sr, hr)


def train_step(model, optimizer, scheduler, lr_img, hr_img, autocast=contextlib.nullcontext) -> torch.Tensor:
    """One step (forward, L1 loss in fp32, backward, Adam, schedule); returns the detached loss."""
    with autocast():
        sr = model(lr_img)
    loss = compute_loss(sr.float(), hr_img)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    scheduler.step()
    return loss.detach()


def _loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    return compute_loss(sr, hr)  # the module attribute at call time (tests wrap it)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _all_ok(ok: bool, d: Dist, device: torch.device) -> bool:
    """True on every rank iff `ok` on every rank (a barrier that also carries a failure)."""
    if d.world == 1:
        return ok
    flag = torch.tensor([0.0 if ok else 1.0], device=device)
    dist.all_reduce(flag)
    return flag.item() == 0


def _check_losses(pending: list[torch.Tensor], first_step: int, d: Dist, device: torch.device) -> float:
    """Mean of the losses since the last check (over ranks); TrainingError if any is NaN or inf."""
    losses = torch.stack(pending).float()
    finite = torch.isfinite(losses)
    mean = losses.mean()
    if d.world > 1:
        info = torch.stack([torch.where(finite.all(), mean, torch.zeros_like(mean)), (~finite).any().float()])
        dist.all_reduce(info)
        mean, bad = info[0] / d.world, info[1].item() > 0
    else:
        bad = not bool(finite.all())
    if bad:
        values = losses.cpu().tolist()
        local = [(first_step + i, v) for i, v in enumerate(values) if not math.isfinite(v)]
        if local:
            where = f"step {local[0][0]}: loss is {local[0][1]}"
        else:
            where = f"a rank other than {d.rank} had a non-finite loss between steps {first_step} and {first_step + len(values) - 1}"
        raise TrainingError(f"training diverged at {where}; stopped without saving (the last good checkpoint is kept)")
    return float(mean)


def _params_finite(model: torch.nn.Module) -> bool:
    return bool(torch.stack([p.detach().isfinite().all() for p in model.parameters()]).all())


@dataclass
class Shared:
    """Training images decoded once per (folder, scale, patch) and put on each device once, for all
    the runs of one process."""

    host: dict = field(default_factory=dict)
    device: dict = field(default_factory=dict)

    def images(self, folder: Path, scale: int, patch: int, *, progress: bool, report) -> TrainImages:
        key = (str(folder), scale, patch)
        if key not in self.host:
            self.host[key] = load_train_images(folder, scale, patch, progress=progress, report=report)
        return self.host[key]

    def on_device(self, images: TrainImages, device: torch.device) -> DeviceImages:
        key = (id(images), str(device))
        if key not in self.device:
            self.device[key] = DeviceImages.build(images, device)
            if device.type == "cuda":  # other runs read it from their own streams
                torch.cuda.current_stream(device).synchronize()
        return self.device[key]


def train(config: TrainConfig) -> Path:
    """Train as `config` says; returns the path of the best weights (final weights without validation)."""
    d = setup_distributed(config.device)
    try:
        return _finish(_run(config, d, Shared()))
    finally:
        if d.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def _finish(gen):
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def train_together(configs: list[TrainConfig], *, stop_at: float | None = None, one_by_one: bool = False,
                   shared: Shared | None = None, keep_going=None) -> list[Path | None]:
    """Train several runs in this one process, one step of each in turn (on CUDA each on its own
    stream, so that their kernels overlap), or with `one_by_one` each to its end before the next.
    Images are decoded once for all (`shared`). Returns each run's best (else final) weights, or
    None for a run stopped at `stop_at` (time.monotonic()) before its end, or not started by then:
    such a run resumes from its checkpoint. With `keep_going(cfg, error)`, a run that fails (diverges,
    say) is reported through it and dropped, and the others go on; without, the error stops all.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ValueError("train_together runs in one process; it cannot run under torchrun")
    shared = shared if shared is not None else Shared()
    results: list[Path | None] = [None] * len(configs)
    if one_by_one:
        for i, cfg in enumerate(configs):
            if stop_at is not None and time.monotonic() >= stop_at:
                tqdm.write(f"{cfg.model} x{cfg.scale}: not started, out of time")
                continue
            try:
                results[i] = _finish(_run(cfg, Dist(), shared, stop_at=stop_at, tag=True))
            except Exception as e:
                if keep_going is None:
                    raise
                keep_going(cfg, e)
        return results
    runs = []
    for i, cfg in enumerate(configs):
        device = resolve_device(cfg.device)
        stream = torch.cuda.Stream(device) if device.type == "cuda" else None
        runs.append([i, _run(cfg, Dist(), shared, position=i, stop_at=stop_at, tag=True), stream])
    while runs:
        for run in list(runs):
            i, gen, stream = run
            with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
                try:
                    next(gen)
                except StopIteration as stop:
                    results[i] = stop.value
                    runs.remove(run)
                except Exception as e:
                    if keep_going is None:
                        raise
                    keep_going(configs[i], e)
                    runs.remove(run)
    return results


def _run(cfg: TrainConfig, d: Dist, shared: Shared, *, position: int = 0, stop_at: float | None = None,
         tag: bool = False):
    """The run as a generator: yields after setup and after every step; returns the weights path
    (None if stopped by `stop_at`)."""
    prefix = f"{cfg.model} x{cfg.scale}: " if tag else ""

    def say(msg: str) -> None:
        if d.main:
            tqdm.write(prefix + msg)

    device = resolve_device(cfg.device, d.local_rank)
    run_dir = cfg.run_path
    record = checkpoint_record(run_dir)
    if record is not None and not cfg.resume:
        raise CheckpointError(
            f"{run_dir} already holds a checkpoint (step {record['step']}); pass --resume to continue it "
            "or choose another --run-dir"
        )
    if cfg.resume:
        if record is None:
            raise CheckpointError(f"{run_dir}: nothing to resume (no last.json there)")
        check_identity(record, cfg.model, cfg.scale, run_dir / "last.json")
    engine = resolve_engine(cfg, device, d.world)

    val_set = find_dataset(cfg.val_dataset, cfg.data_root) if cfg.validates else None
    data_dir = Path(cfg.data) if cfg.data else resolve_data_root(cfg.data_root) / "train"
    images = shared.images(data_dir, cfg.scale, cfg.patch_size, progress=d.main,
                           report=say if d.main else (lambda _line: None))

    seed_everything(cfg.seed)
    model = create_model(cfg.model, cfg.scale).train()
    prior: list = []
    if cfg.init_from and not cfg.resume:
        say(load_init_weights(model, cfg.init_from))
        prior = prior_cycles(cfg.init_from, cfg.model, cfg.scale)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    model = model.to(device, memory_format=torch.channels_last)
    fast = engine == "fast"
    optimizer, scheduler = build_optimizer(model, cfg, d.world, fused=fast, capturable=fast and device.type == "cuda")
    ema = Ema(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
    start_step, wall_before = 0, 0.0
    best: dict = {"psnr_y": None, "ssim_y": None, "step": None, "weights": None}
    if cfg.resume:
        restore_flags = keep_engine_flags(optimizer)
        record = load_checkpoint(run_dir, model, optimizer, scheduler, ema_model=ema.model if ema else None)
        restore_flags()
        start_step, wall_before = record["step"], record["train"].get("wall_time_s", 0.0)
        best.update(record["train"].get("best", {}))
        prior = record["train"].get("prior_cycles", [])
        if start_step > cfg.iterations:
            raise ValueError(f"{run_dir}: the checkpoint is at step {start_step}, beyond --iterations {cfg.iterations}")
        say(f"resuming {run_dir} at step {start_step}")
        if ema is not None and not record.get("ema_loaded"):
            ema.reset()
            say("  the checkpoint holds no EMA of the weights; the EMA starts from the resumed weights")
        changed = {k: (v, getattr(cfg, k)) for k, v in record.get("config", {}).items()
                   if k in TRAJECTORY_KEYS and getattr(cfg, k) != v}
        if record["train"].get("world_size", 1) != d.world:
            changed["world_size"] = (record["train"].get("world_size", 1), d.world)
        if record["train"].get("engine", engine) != engine:
            changed["engine"] = (record["train"]["engine"], engine)
        if changed:
            say("  settings changed since the checkpoint, so the trajectory differs from an uninterrupted run: "
                + ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in changed.items()))
            apply_optimizer_settings(optimizer, scheduler, cfg, start_step, d.world)

    if d.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_guarded(f"{run_dir / 'config.yaml'}", lambda: save_config(cfg, run_dir / "config.yaml"))
    if images.skipped:
        say(f"{len(images.skipped)} of {len(images) + len(images.skipped)} image files skipped (listed above)")
    hardware = hardware_string(device, d.world)
    lr_eff = effective_lr(cfg, d.world)
    say(f"training {cfg.model} x{cfg.scale} on {hardware}: {len(images)} images from {data_dir}, "
        f"steps {start_step}..{cfg.iterations} of batch {cfg.batch_size}"
        f"{f' x {d.world} ranks' if d.world > 1 else ''} ({cfg.patch_size}x{cfg.patch_size} LR patches), "
        f"lr {lr_eff:.3g}, {engine} engine, run dir {run_dir}")

    use_amp = cfg.amp and device.type == "cuda"
    net = model
    if d.world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:
        net = torch.compile(net)
    runlog = RunLog(run_dir, start_step, say) if d.main else None
    if fast:
        steps = FastSteps(_loss, net, optimizer, scheduler, ema, shared.on_device(images, device),
                          seed=cfg.seed, batch=cfg.batch_size, patch=cfg.patch_size, augment=cfg.augment,
                          device=device, amp_dtype=torch.bfloat16 if use_amp else None, say=say,
                          note=runlog.note if runlog else (lambda _line: None))
    else:
        autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_amp else contextlib.nullcontext
        steps = EagerSteps(train_step, net, optimizer, scheduler, ema,
                           PatchDataset(images, cfg.patch_size, cfg.seed, cfg.augment), start_step, cfg.iterations,
                           cfg.batch_size, device, autocast, rank=d.rank, world=d.world, workers=cfg.num_workers)
    best_path, final_path = run_dir / "best.safetensors", run_dir / "final.safetensors"
    final_ema_path = run_dir / "final_ema.safetensors"

    def card(step: int, wall: float, metrics: dict, note: str) -> ModelCard:
        cycle = {"steps": step, "batch_size": cfg.batch_size * d.world, "patch_size": cfg.patch_size,
                 "lr": lr_eff, "engine": engine, "ema_decay": cfg.ema_decay, "hardware": hardware,
                 "wall_time_s": round(wall, 1), "init_from": cfg.init_from}
        total_steps, total_wall, history = with_cycle(prior, cycle)
        return ModelCard(
            model=cfg.model, scale=cfg.scale, bias_policy=model.spec.bias_policy,
            training_data=f"{images.describe()}; random {cfg.patch_size}x{cfg.patch_size} LR patches"
                          f"{', flips and 90-degree rotations' if cfg.augment else ''}",
            iterations=total_steps, wall_time_s=total_wall, hardware=hardware, metrics=metrics, notes=note,
            extra={"config": cfg.to_dict(), "world_size": d.world, **history},
        )

    def rank0_write(what: str, fn) -> None:
        """fn() on rank 0; every rank raises if it failed (the all-reduce is the barrier around saves)."""
        err = None
        if d.main:
            try:
                fn()
            except Exception as e:  # re-raised below, after the other ranks have been told
                err = e
        if not _all_ok(err is None, d, device):
            if err is not None:
                raise err
            raise TrainingError(f"rank 0 failed to write {what}; stopping")

    def checkpoint(step: int) -> None:
        train_state = {"best": best, "wall_time_s": wall_before + time.perf_counter() - t0, "world_size": d.world,
                       "engine": engine, "prior_cycles": prior}
        rank0_write("the checkpoint", lambda: save_checkpoint(
            run_dir, model, optimizer, scheduler, step=step, config=cfg.to_dict(), train_state=train_state,
            ema_model=ema.model if ema else None))

    yield  # set up: the other runs of train_together set up before anyone trains
    t0 = time.perf_counter()
    pbar = tqdm(total=cfg.iterations, initial=start_step, disable=not d.main, desc=f"{cfg.model} x{cfg.scale}",
                unit="it", dynamic_ncols=True, position=position)
    pending: list[torch.Tensor] = []
    final_metrics: dict = {}
    final_ema_metrics: dict = {}
    first_pending, t_mark, steps_mark = start_step + 1, time.perf_counter(), 0
    stopped = False
    try:
        for step in range(start_step + 1, cfg.iterations + 1):
            pending.append(steps.run(step - 1))
            steps_mark += 1
            pbar.update(1)
            last = step == cfg.iterations
            late = stop_at is not None and time.monotonic() >= stop_at and not last
            do_log = step % cfg.log_every == 0 or last or late
            do_val = val_set is not None and (step % cfg.val_every == 0 or last)
            do_ckpt = step % cfg.ckpt_every == 0 or last or late
            if not (do_log or do_val or do_ckpt):
                yield
                continue
            mean_loss = _check_losses(pending, first_pending, d, device)
            pending, first_pending = [], step + 1
            if (do_val or do_ckpt) and not _all_ok(_params_finite(model), d, device):
                raise TrainingError(f"step {step}: the weights became NaN/inf (loss was finite); stopped "
                                    "without saving (the last good checkpoint is kept)")
            it_s = steps_mark / max(time.perf_counter() - t_mark, 1e-9)
            lr_now = scheduler.get_last_lr()[0]
            val: dict = {}
            if do_val:
                def validate_and_keep_best() -> None:
                    candidates = [("raw", model)] + ([("ema", ema.model)] if ema is not None else [])
                    parts = []
                    for which, net_ in candidates:
                        psnr, ssim, skipped = validate(net_, device, val_set, cfg.scale)
                        val[which] = (psnr, ssim)
                        for line in skipped:
                            say(f"validation skipped {line}")
                        parts.append(f"{'EMA ' if which == 'ema' else ''}{psnr:.3f} dB / {ssim:.4f}")
                    which, (psnr, ssim) = max(val.items(), key=lambda kv: kv[1][0] if math.isfinite(kv[1][0]) else -1e9)
                    is_best = math.isfinite(psnr) and (best["psnr_y"] is None or psnr > best["psnr_y"])
                    say(f"step {step}: {val_set.name} PSNR-Y / SSIM-Y {', '.join(parts)}"
                        f"{' (best so far: the ' + ('EMA' if which == 'ema' else 'raw weights') + ')' if is_best else ''}")
                    if is_best:
                        best.update(psnr_y=psnr, ssim_y=ssim, step=step, weights=which)
                        kind = f"the EMA (decay {cfg.ema_decay}) of the weights" if which == "ema" else "the weights"
                        c = card(step, wall_before + time.perf_counter() - t0,
                                 {val_set.name: {"psnr_y": psnr, "ssim_y": ssim}},
                                 f"{kind} with the best {val_set.name} PSNR-Y of validations every {cfg.val_every} steps")
                        src = ema.model if which == "ema" else model
                        write_guarded(str(best_path), lambda: save_weights(src, best_path, c))

                rank0_write(str(best_path), validate_and_keep_best)
                if last and d.main:
                    final_metrics = {val_set.name: dict(zip(("psnr_y", "ssim_y"), val["raw"]))}
                    if "ema" in val:
                        final_ema_metrics = {val_set.name: dict(zip(("psnr_y", "ssim_y"), val["ema"]))}
            if d.main:
                raw, avg = val.get("raw", (None, None)), val.get("ema", (None, None))
                runlog.row(step, mean_loss, lr_now, it_s, raw[0], raw[1], avg[0], avg[1])
                pbar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{lr_now:.2e}")
            if do_ckpt:
                checkpoint(step)
            t_mark, steps_mark = time.perf_counter(), 0
            if late:
                say(f"stopped at step {step} of {cfg.iterations}: out of time (resume continues from here)")
                stopped = True
                break
            yield

        def write_final() -> None:
            wall = wall_before + time.perf_counter() - t0
            c = card(cfg.iterations, wall, final_metrics, "final weights")
            write_guarded(str(final_path), lambda: save_weights(model, final_path, c))
            if ema is not None:
                c = card(cfg.iterations, wall, final_ema_metrics, f"final EMA (decay {cfg.ema_decay}) of the weights")
                write_guarded(str(final_ema_path), lambda: save_weights(ema.model, final_ema_path, c))

        if not stopped and (start_step < cfg.iterations or not final_path.exists()):
            rank0_write(str(final_path), write_final)
    finally:
        pbar.close()
        if runlog is not None:
            runlog.note(f"engine {engine}: steps ran as {steps.mode}")
            runlog.close()
    if stopped:
        return None
    if best["step"] is not None:
        say(f"best {val_set.name if val_set else 'validation'} PSNR-Y {best['psnr_y']:.3f} dB at step {best['step']}"
            f"{' (EMA weights)' if best.get('weights') == 'ema' else ''}: {best_path}")
        return best_path
    say(f"final weights: {final_path}")
    return final_path
