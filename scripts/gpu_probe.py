"""Time training steps of one variant on CUDA (the loop's own train_step, bf16 autocast, channels_last,
Adam) on random uint8 batches resident on the GPU, so the data loader is not in the figure.
Prints one line: `probe MODEL xS BATCH it/s`. Used by scripts/gpu_zoo.sh to size `iterations`.

    python scripts/gpu_probe.py MODEL SCALE [--batch 16] [--patch 48] [--warmup 40] [--steps 300]
"""
import argparse
import time

import torch

from hpun_edge.training.config import TrainConfig
from hpun_edge.training.loop import build_optimizer, to_input, train_step
from hpun_edge.zoo import create_model

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("scale", type=int)
ap.add_argument("--batch", type=int, default=16)
ap.add_argument("--patch", type=int, default=48)
ap.add_argument("--warmup", type=int, default=40)
ap.add_argument("--steps", type=int, default=300)
a = ap.parse_args()

dev = torch.device("cuda")
torch.backends.cudnn.benchmark = True
cfg = TrainConfig(model=a.model, scale=a.scale, iterations=10**6, batch_size=a.batch, patch_size=a.patch)
model = create_model(a.model, a.scale).train().to(dev, memory_format=torch.channels_last)
opt, sched = build_optimizer(model, cfg)
g = torch.Generator(device=dev).manual_seed(0)
p, s = a.patch, a.scale
batches = [(torch.randint(0, 256, (a.batch, 3, p, p), generator=g, device=dev, dtype=torch.uint8),
            torch.randint(0, 256, (a.batch, 3, p * s, p * s), generator=g, device=dev, dtype=torch.uint8))
           for _ in range(4)]
autocast = lambda: torch.autocast("cuda", dtype=torch.bfloat16)  # noqa: E731
for i in range(a.warmup):
    lr, hr = batches[i % 4]
    train_step(model, opt, sched, to_input(lr, dev), to_input(hr, dev), autocast)
torch.cuda.synchronize()
t = time.perf_counter()
for i in range(a.steps):
    lr, hr = batches[i % 4]
    loss = train_step(model, opt, sched, to_input(lr, dev), to_input(hr, dev), autocast)
    if i % 50 == 49:
        loss.item()  # the loop syncs on the loss at its log steps too
torch.cuda.synchronize()
print(f"probe {a.model} x{a.scale} {a.batch} {a.steps / (time.perf_counter() - t):.1f}", flush=True)
