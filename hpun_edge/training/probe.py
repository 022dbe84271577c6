"""Training throughput, measured with the loop's own steps: `probe(cfgs, ...)` -> steps/s per run.

Each run is set up as the loop sets it up (model, Adam, `steps.FastSteps` or `steps.EagerSteps`
on the given training images), warmed up (the fast step's CUDA graph is captured during warm-up),
then timed over `steps` steps with the device synchronised at both ends. Several configs probed
together run as `loop.train_together` runs them: one step of each in turn, each on its own CUDA
stream. Nothing is written; the weights trained here are thrown away.

`graph_check` trains the same steps twice from the same weights, replayed from a CUDA graph and
launched eagerly, and returns how far the losses and weights drift apart (CUDA only).
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..zoo import create_model
from .config import TrainConfig
from .device_data import DeviceImages
from .optim import Ema, build_optimizer
from .patches import PatchDataset, TrainImages
from .steps import EagerSteps, FastSteps


@dataclass(frozen=True)
class ProbeResult:
    model: str
    scale: int
    engine: str
    batch: int
    patch: int
    mode: str  # how the steps ran: graph, eager, eager (capture failed)
    steps_per_s: float
    together: int  # runs stepping side by side (1: alone)
    peak_gib: float  # peak device memory while probing (CUDA; 0 on the CPU)

    @property
    def samples_per_s(self) -> float:
        return self.steps_per_s * self.batch

    @property
    def lr_mpix_per_s(self) -> float:
        return self.samples_per_s * self.patch * self.patch / 1e6


def synthetic_images(scale: int, count: int = 32, size: tuple[int, int] = (96, 144), seed: int = 0) -> TrainImages:
    """Random LR/HR pairs (LR `size`, HR size * scale) for timing without a data set."""
    rng = np.random.default_rng(seed)
    out = TrainImages(folder=Path("<synthetic>"), scale=scale)
    h, w = size
    for _ in range(count):
        out.lr.append(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        out.hr.append(rng.integers(0, 256, (h * scale, w * scale, 3), dtype=np.uint8))
    return out


def _make(cfg: TrainConfig, images: TrainImages, device: torch.device, data: DeviceImages | None, seed_model: int):
    torch.manual_seed(seed_model)
    model = create_model(cfg.model, cfg.scale).train().to(device, memory_format=torch.channels_last)
    from .loop import resolve_engine

    fast = resolve_engine(cfg, device, 1) == "fast"
    opt, sched = build_optimizer(model, cfg, fused=fast, capturable=fast and device.type == "cuda")
    ema = Ema(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
    amp = torch.bfloat16 if cfg.amp and device.type == "cuda" else None
    if fast:
        data = data if data is not None else DeviceImages.build(images, device)
        return FastSteps(lambda sr, hr: torch.nn.functional.l1_loss(sr, hr), model, opt, sched, ema, data,
                         seed=cfg.seed, batch=cfg.batch_size, patch=cfg.patch_size, augment=cfg.augment,
                         device=device, amp_dtype=amp)
    from .loop import train_step

    autocast = (lambda: torch.autocast("cuda", dtype=amp)) if amp is not None else contextlib.nullcontext
    return EagerSteps(train_step, model, opt, sched, ema, PatchDataset(images, cfg.patch_size, cfg.seed, cfg.augment),
                      0, 10**9, cfg.batch_size, device, autocast, workers=cfg.num_workers)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def probe(cfgs: list[TrainConfig], images: list[TrainImages], device: torch.device | str, *, steps: int = 50,
          warmup: int = 8, data: list[DeviceImages | None] | None = None) -> list[ProbeResult]:
    """Steps per second of each config, all stepping in turn in this process (one config: alone).

    `images[i]` are config i's training images (`data[i]`, if given, the same on the device).
    """
    if steps < 1 or warmup < 0:
        raise ValueError(f"probe needs steps >= 1 and warmup >= 0, got {steps} and {warmup}")
    device = torch.device(device)
    data = data or [None] * len(cfgs)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    streams = [torch.cuda.Stream(device) if device.type == "cuda" and len(cfgs) > 1 else None for _ in cfgs]
    runs = [_make(c, im, device, d, i) for i, (c, im, d) in enumerate(zip(cfgs, images, data))]

    def round_(t: int) -> list[torch.Tensor]:
        losses = []
        for run, stream in zip(runs, streams):
            with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
                losses.append(run.run(t))
        return losses

    for t in range(warmup):
        round_(t)
    _sync(device)
    start = time.perf_counter()
    for t in range(warmup, warmup + steps):
        losses = round_(t)
    _sync(device)
    elapsed = time.perf_counter() - start
    if not all(math.isfinite(float(x)) for x in losses):
        raise RuntimeError("the probe's losses are not finite")
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
    results = [ProbeResult(c.model, c.scale, "fast" if isinstance(r, FastSteps) else "eager", c.batch_size, c.patch_size,
                           r.mode, steps / elapsed, len(cfgs), round(peak, 2)) for c, r in zip(cfgs, runs)]
    del runs
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return results


def graph_check(cfg: TrainConfig, images: TrainImages, device: torch.device | str, steps: int = 12) -> dict:
    """The same `steps` fast steps from the same weights, from a CUDA graph and eagerly: the largest
    relative loss difference and weight difference, and whether the graph really ran."""
    device = torch.device(device)
    out = []
    for graphs in (True, False):
        run = _make(cfg, images, device, None, 0)
        run.use_graphs = run.use_graphs and graphs
        losses = [float(run.run(t)) for t in range(steps)]
        out.append((losses, {k: v.float().cpu() for k, v in run.model.state_dict().items()}, run.mode))
    (lg, wg, mode), (le, we, _) = out
    return {"mode": mode, "max_rel_loss_diff": max(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(lg, le)),
            "max_weight_diff": max(float((wg[k] - we[k]).abs().max()) for k in wg)}
