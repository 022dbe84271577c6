"""Training throughput of every variant and setting in one short call; prints a table (and --json).

Each row is `hpun_edge.training.probe.probe`: the loop's own steps (eager: DataLoader workers and
op-by-op steps, today's loop; fast: pairs on the device, the step in a CUDA graph, fused Adam) on
the training images of --data (default: random images of the same kind, so that nothing needs to
be carried), bf16 autocast and channels_last on CUDA. "alone" rows time one variant at a time; the
"together" rows time all the variants of a setting stepping in turn in one process (each on its
own stream), as `train_together` runs them. Then, per setting, the samples per second of GPU time
of the nine trained one after another for equal steps (n * sum(batch) / (n * sum(1 / rate))) and
together, against today's 85 it/s of batch 16 (H200, three to six eager processes side by side;
README). With --graph-check, the first fast setting is also trained from a CUDA graph and eagerly
from the same weights, and the two trajectories compared.

    python scripts/gpu_probe.py [--settings eager:16x48 fast:16x48 fast:64x64] [--together fast:64x64]
        [--models hpun_s hpun_m hpun_l] [--scales 2 3 4] [--steps 60] [--warmup 8] [--device cuda]
        [--data DIR] [--graph-check] [--json FILE]
"""
import argparse
import dataclasses
import json
import sys
import time

import torch

from hpun_edge.training.config import TrainConfig
from hpun_edge.training.patches import load_train_images
from hpun_edge.training.probe import graph_check, probe, synthetic_images

TODAY_SAMPLES_PER_S = 85 * 16  # README: the H200 zoo run, nine variants, eager, batch 16 of 48 px


def setting(text: str) -> tuple[str, int, int]:
    try:
        engine, size = text.split(":")
        batch, patch = (int(v) for v in size.split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a setting is ENGINE:BATCHxPATCH, e.g. fast:64x64") from None
    if engine not in ("eager", "fast") or batch < 1 or patch < 8:
        raise argparse.ArgumentTypeError(f"{text!r}: engine eager or fast, batch >= 1, patch >= 8")
    return engine, batch, patch


ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--settings", nargs="+", type=setting, default=[setting(s) for s in ("eager:16x48", "fast:16x48", "fast:64x64")])
ap.add_argument("--together", nargs="*", type=setting, default=[setting("fast:64x64")],
                help="settings also timed with all variants in one process (none: skip)")
ap.add_argument("--models", nargs="+", default=["hpun_s", "hpun_m", "hpun_l"])
ap.add_argument("--scales", nargs="+", type=int, default=[2, 3, 4])
ap.add_argument("--steps", type=int, default=60)
ap.add_argument("--warmup", type=int, default=8)
ap.add_argument("--device", default="cuda")
ap.add_argument("--data", default=None, help="folder of HR training images (default: random images)")
ap.add_argument("--workers", type=int, default=4, help="DataLoader workers of the eager setting")
ap.add_argument("--graph-check", action="store_true")
ap.add_argument("--json", default=None)
a = ap.parse_args()
device = torch.device(a.device)
if device.type == "cuda" and not torch.cuda.is_available():
    sys.exit("gpu_probe: --device cuda but CUDA is not available here (use --device cpu for CPU figures)")
name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
print(f"device: {name}; torch {torch.__version__}; data: {a.data or 'random images'}", flush=True)

images = {}
for s in a.scales:
    for _, _, p in {*a.settings, *a.together}:
        key = (s, p)
        images[key] = (load_train_images(a.data, s, p, report=lambda _l: None) if a.data
                       else synthetic_images(s, size=(max(96, 2 * p), max(144, 3 * p))))


def cfg_of(model, scale, engine, batch, patch) -> TrainConfig:
    return TrainConfig(model=model, scale=scale, engine=engine, batch_size=batch, patch_size=patch,
                       iterations=10**6, workers=a.workers, val_dataset="none", device=str(device))


rows = []
t0 = time.perf_counter()
for engine, batch, patch in a.settings:
    for m in a.models:
        for s in a.scales:
            [r] = probe([cfg_of(m, s, engine, batch, patch)], [images[(s, patch)]], device, steps=a.steps, warmup=a.warmup)
            rows.append(r)
            print(f"  {m} x{s} {engine} {batch}x{patch}: {r.steps_per_s:.3g} steps/s ({r.mode})", flush=True)
for engine, batch, patch in a.together:
    cfgs = [cfg_of(m, s, engine, batch, patch) for m in a.models for s in a.scales]
    rows += probe(cfgs, [images[(c.scale, patch)] for c in cfgs], device, steps=max(10, a.steps // 3), warmup=a.warmup)
    print(f"  together {engine} {batch}x{patch}: {rows[-1].steps_per_s:.3g} rounds/s", flush=True)

print(f"\n| variant | setting | runs | steps/s | samples/s | LR Mpx/s | steps ran as | peak GiB |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r.model} x{r.scale} | {r.engine} {r.batch}x{r.patch} | {'alone' if r.together == 1 else f'{r.together} together'} "
          f"| {r.steps_per_s:.3g} | {r.samples_per_s:.3g} | {r.lr_mpix_per_s:.3g} | {r.mode} | {r.peak_gib:.2f} |")
print(f"\nsamples per second of {'GPU' if device.type == 'cuda' else 'CPU'} time, all {len(a.models) * len(a.scales)} "
      f"variants with equal steps (today: {TODAY_SAMPLES_PER_S}/s of 48 px at 16 a batch, eager, H200):")
summary = []
for engine, batch, patch in a.settings:
    alone = [r for r in rows if r.together == 1 and (r.engine, r.batch, r.patch) == (engine, batch, patch)]
    seq = len(alone) * batch / sum(1 / r.steps_per_s for r in alone)
    tog = [r for r in rows if r.together > 1 and (r.engine, r.batch, r.patch) == (engine, batch, patch)]
    both = f"; together {tog[0].steps_per_s * len(tog) * batch:.4g}/s" if tog else ""
    summary.append({"setting": f"{engine}:{batch}x{patch}", "one_after_another": seq,
                    "together": tog[0].steps_per_s * len(tog) * batch if tog else None})
    versus = (f" ({seq / TODAY_SAMPLES_PER_S:.1f}x today, {seq * patch * patch / (TODAY_SAMPLES_PER_S * 48 * 48):.1f}x "
              "its pixels)") if device.type == "cuda" else ""
    print(f"  {engine} {batch}x{patch}: one after another {seq:.4g}/s{versus}{both}")
check = None
if a.graph_check and device.type == "cuda":
    engine, batch, patch = next(((e, b, p) for e, b, p in a.settings if e == "fast"), ("fast", 16, 48))
    m, s = a.models[0], a.scales[0]
    check = graph_check(cfg_of(m, s, "fast", batch, patch), images[(s, patch)], device)
    print(f"graph check ({m} x{s} {batch}x{patch}, 12 steps): steps ran as {check['mode']}; largest relative loss "
          f"difference to eager {check['max_rel_loss_diff']:.2e}, largest weight difference {check['max_weight_diff']:.2e}")
print(f"probe done in {time.perf_counter() - t0:.0f} s")
if a.json:
    with open(a.json, "w") as f:
        json.dump({"device": name, "torch": torch.__version__, "rows": [dataclasses.asdict(r) for r in rows],
                   "summary": summary, "graph_check": check}, f, indent=1)
