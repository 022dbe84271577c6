"""One training step (forward, L1 loss, backward, Adam step, schedule) per variant at x2.

The step is `hpun_edge.training.loop.train_step`, the one the training loop runs, on a fixed batch
of 48x48 LR patches: 16 per step on CUDA (the paper's batch; bf16 autocast), 4 per step on CPU (fp32) to keep
the run short; channels_last on both, as the loop runs it. The batch is in the benchmark's
name and in extra_info. Run: `.venv/bin/pytest benchmarks --benchmark-only --benchmark-enable`.
"""
from __future__ import annotations

import contextlib

import pytest
import torch

from hpun_edge import create_model
from hpun_edge.training.config import TrainConfig
from hpun_edge.training.loop import build_optimizer, to_input, train_step

CUDA = torch.cuda.is_available()
DEVICE = torch.device("cuda" if CUDA else "cpu")
BATCH = 16 if CUDA else 4  # CPU: a smaller fixed batch than the paper's 16
PATCH = 48
SCALE = 2


def _id(name: str) -> str:
    return f"{name}_x{SCALE}_{DEVICE.type}_batch{BATCH}x{PATCH}x{PATCH}"


@pytest.mark.parametrize("name", ["hpun_s", "hpun_m", "hpun_l"], ids=_id)
def test_train_step(benchmark, name):
    torch.manual_seed(0)
    model = create_model(name, SCALE).train()
    model = model.to(DEVICE, memory_format=torch.channels_last)  # as the loop runs it, CPU and CUDA
    optimizer, scheduler = build_optimizer(model, TrainConfig(model=name, scale=SCALE, iterations=10**9))
    g = torch.Generator().manual_seed(0)
    lr = to_input(torch.randint(0, 256, (BATCH, 3, PATCH, PATCH), dtype=torch.uint8, generator=g), DEVICE)
    hr = to_input(torch.randint(0, 256, (BATCH, 3, PATCH * SCALE, PATCH * SCALE), dtype=torch.uint8, generator=g),
                  DEVICE)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if CUDA else contextlib.nullcontext

    def step():
        loss = train_step(model, optimizer, scheduler, lr, hr, autocast)
        if CUDA:
            torch.cuda.synchronize()
        return loss

    benchmark.group = f"train step x{SCALE} ({DEVICE.type}, batch {BATCH})"
    benchmark.extra_info.update(
        model=name, scale=SCALE, device=torch.cuda.get_device_name() if CUDA else "cpu",
        batch=BATCH, lr_patch=PATCH, amp="bf16" if CUDA else "fp32", threads=torch.get_num_threads(),
        note="CUDA: the paper's batch 16" if CUDA else "CPU: batch 4 (not the paper's 16) to keep the run short",
    )
    loss = benchmark.pedantic(step, rounds=20 if CUDA else 5, warmup_rounds=5 if CUDA else 1, iterations=1)
    assert torch.isfinite(loss)
