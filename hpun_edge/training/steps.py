"""The two ways the loop runs its steps; each is `run(t) -> loss` for the 0-based step t.

* `EagerSteps` (today's loop): patches cropped on the host by DataLoader workers (`PatchDataset`),
  copied to the device, then forward, L1, backward, Adam and the schedule launched op by op.
* `FastSteps` (the default on one CUDA device): the training pairs live on the device
  (`device_data.DeviceImages`); the host only draws each sample's image, corner and transform
  (the same (seed, i) function as `PatchDataset`) and copies those 6 integers per sample over. The
  step (crop, uint8 -> float, forward in bf16, L1 in fp32, backward, fused Adam, EMA) works on
  fixed buffers, so on CUDA it is captured once in a CUDA graph after `WARMUP` eager steps and
  replayed: one launch per step instead of a thousand. If capture fails the run goes on with the
  same step launched eagerly, and says so in one line. On the CPU the same step runs eagerly.

Both draw sample `t*batch*world + rank*batch + j` at step t, so they train on the same patches; the
fast step differs from the eager one only by the fused Adam's rounding (and bf16 where autocast is on).
"""
from __future__ import annotations

import contextlib
from typing import Callable

import torch
from torch import nn

from .device_data import DeviceImages, crop_batch
from .patches import PatchDataset, batch_indices, make_loader

WARMUP = 3  # eager steps before capture (cuDNN autotuning, lazy initialisation), on a side stream


def to_input(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (N, 3, h, w) -> float in [0, 1] on `device`, channels_last.

    channels_last on CUDA and CPU alike: on the CPU (oneDNN) it made an HPUN-S training step 2.5x
    faster here (batch 8, 48x48: 1.27 s -> 0.50 s on 2 cores), the grouped and depthwise convs most.
    """
    x = batch.to(device, non_blocking=True).float().div_(255)
    return x.contiguous(memory_format=torch.channels_last)


class EagerSteps:
    """Today's steps: DataLoader batches of host-cropped patches, the step launched op by op."""

    def __init__(self, step_fn: Callable, model: nn.Module, optimizer, scheduler, ema, dataset: PatchDataset,
                 start: int, stop: int, batch: int, device: torch.device, autocast, *, rank: int = 0,
                 world: int = 1, workers: int = 0):
        self.step_fn, self.model, self.optimizer, self.scheduler = step_fn, model, optimizer, scheduler
        self.ema, self.device, self.autocast = ema, device, autocast
        self._batches = iter(make_loader(dataset, start, stop, batch, rank=rank, world=world, workers=workers,
                                         pin_memory=device.type == "cuda")) if start < stop else iter(())
        self.mode = "eager"

    def run(self, t: int) -> torch.Tensor:
        lr_u8, hr_u8 = next(self._batches)
        loss = self.step_fn(self.model, self.optimizer, self.scheduler, to_input(lr_u8, self.device),
                            to_input(hr_u8, self.device), self.autocast)
        if self.ema is not None:
            self.ema.update()
        return loss


class FastSteps:
    """The device-resident step: draws in, loss out; captured in a CUDA graph on CUDA.

    `loss_fn(sr, hr)` is the L1 of the loop (looked up at each call, so tests can wrap it). The
    optimizer must be Adam built with fused=True (and capturable=True on CUDA).
    """

    def __init__(self, loss_fn: Callable, model: nn.Module, optimizer, scheduler, ema, data: DeviceImages, *,
                 seed: int, batch: int, patch: int, augment: bool, device: torch.device,
                 amp_dtype: torch.dtype | None, rank: int = 0, world: int = 1, graphs: bool = True,
                 say: Callable[[str], None] = print, note: Callable[[str], None] = lambda _line: None):
        self.loss_fn, self.model, self.optimizer, self.scheduler, self.ema = loss_fn, model, optimizer, scheduler, ema
        self.data, self.seed, self.batch, self.patch, self.augment = data, seed, batch, patch, augment
        self.device, self.amp_dtype, self.rank, self.world = device, amp_dtype, rank, world
        self.say, self.note = say, note
        self.draw_buf = torch.zeros(batch, 6, dtype=torch.int64, device=device)
        self.use_graphs = graphs and device.type == "cuda"
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_loss: torch.Tensor | None = None
        self.lr_t = torch.zeros((), dtype=torch.float32, device=device) if self.use_graphs else None
        self.eager_steps = 0
        self.mode = "graph (pending capture)" if self.use_graphs else "eager"

    # ------------------------------------------------------------------------------------ pieces
    def draws(self, t: int) -> torch.Tensor:
        """The (batch, 6) draws of step t for this rank (host side, int64)."""
        return self.data.draws(self.seed, batch_indices(t, self.batch, self.rank, self.world), self.patch,
                               self.augment)

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        # No cast cache: a captured graph must recast the weights each replay.
        return torch.autocast(self.device.type, dtype=self.amp_dtype, cache_enabled=False)

    def body(self) -> torch.Tensor:
        """One step on the fixed buffers: crop, forward, L1 (fp32), backward, Adam, EMA; the loss."""
        lr_u8, hr_u8 = crop_batch(self.data, self.draw_buf, self.patch)
        lr, hr = lr_u8.float().div_(255), hr_u8.float().div_(255)
        with self._autocast():
            sr = self.model(lr)
        loss = self.loss_fn(sr.float(), hr)
        loss.backward()
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update()
        return loss.detach()

    # ---------------------------------------------------------------------------------- capture
    def _capture(self) -> None:
        """Record body() in a CUDA graph (nothing runs); on failure, stay eager and say why."""
        groups = self.optimizer.param_groups
        floats = [g["lr"] for g in groups]
        self.optimizer.zero_grad(set_to_none=True)  # the grads are allocated inside the graph
        graph = torch.cuda.CUDAGraph()
        try:
            for g in groups:  # Adam reads lr from this tensor at each replay
                g["lr"] = self.lr_t
            self.static_loss = self._record(graph, self.body)
        except Exception as e:  # any capture failure: the eager step is the same computation
            self.optimizer.zero_grad(set_to_none=True)
            self.graph, self.use_graphs, self.mode = None, False, "eager (capture failed)"
            reason = " ".join(str(e).split())[:300]
            self.say(f"CUDA graph capture failed ({type(e).__name__}: {reason}); training goes on with eager steps")
            return
        finally:
            for g, lr in zip(groups, floats):
                g["lr"] = lr
        self.graph, self.mode = graph, "graph"
        self.note(f"captured the training step in a CUDA graph after {self.eager_steps} eager steps")

    @staticmethod
    def _record(graph, fn):
        """fn() captured into `graph` (CUDA stream capture: recorded, not run); its result."""
        with torch.cuda.graph(graph):
            return fn()

    def capture(self) -> None:
        """Run the capture now (graph mode only); `run` otherwise does it after WARMUP steps."""
        if self.use_graphs and self.graph is None:
            self._capture()

    # -------------------------------------------------------------------------------------- run
    def run(self, t: int) -> torch.Tensor:
        """Train step t (0-based) and return its loss (a device tensor; not synchronised)."""
        self.draw_buf.copy_(self.draws(t), non_blocking=True)
        if self.use_graphs and self.graph is None and self.eager_steps >= WARMUP:
            self._capture()
        if self.graph is not None:
            self.lr_t.fill_(self.optimizer.param_groups[0]["lr"])
            self.graph.replay()
            loss = self.static_loss.clone()
        else:
            loss = self._eager()
        self.scheduler.step()
        return loss

    def _eager(self) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        if self.use_graphs and self.device.type == "cuda":  # warm-up before capture: on a side stream
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                loss = self.body()
            torch.cuda.current_stream(self.device).wait_stream(side)
        else:
            loss = self.body()
        self.eager_steps += 1
        return loss
