"""The tiling policy's measurements: HPUN-S and IMDN latency on one LR image per tiling, in alternation.

For an LR size (default 640x360) and each tiling (fixed tiles of 256, 368, 512 with overlap 16, and
``whole``: one export at exactly the LR size), the artifacts the bench makes (`hpun_edge.app.bench`:
the pipeline's maker for HPUN, `peer_maker` for IMDN; PTQ for int8) are loaded together and timed
in alternation: every round runs each (network, target, precision, tiling) once on the same image,
after one untimed call each, so the machine's drift and the other jobs on it hit every entry alike.
Printed and written (``--json``): per entry the median over the rounds, the calls per image and the
Multi-Adds the tiles run over the image's (``count_tiles * tile^2 / (H * W)``); per tiling the
HPUN/IMDN ratios (the ratio of the medians and the median of the per-round ratios).

    python scripts/tiling_policy.py --lr-size 360x640 --tiles 256 368 512 whole --rounds 5 \\
        --out out/tiling --json benchmarks/measured/tiling_policy_640x360.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from hpun_edge.app.bench import (
    IMDN, WHOLE, BenchConfig, check_config, measure_model, model_makers, parse_hw, peer_maker, resolve_tile,
)
from hpun_edge.app.config import Job
from hpun_edge.app.latency import count_tiles
from hpun_edge.converters import load_artifact


@dataclass(frozen=True)
class Entry:
    network: str  # hpun_s or imdn
    target: str
    precision: str

    @property
    def job(self) -> Job:
        return Job(self.target, self.precision, "ptq" if self.precision == "int8" else self.precision)

    @property
    def name(self) -> str:
        return f"{self.network} {self.target} {self.precision}"


ENTRIES = (Entry("hpun_s", "executorch-fused", "fp32"), Entry("hpun_s", "executorch-fused", "int8"),
           Entry("hpun_s", "executorch", "fp32"), Entry(IMDN, "executorch", "fp32"), Entry(IMDN, "executorch", "int8"))
# HPUN/IMDN pairs: the own-kernel .pte against IMDN's XNNPACK .pte, and XNNPACK against XNNPACK
PAIRS = ((0, 3), (1, 4), (2, 3))


def overhead(hw: tuple[int, int], tile: int | None, overlap: int) -> float:
    """Multi-Adds the tiling runs over the image's: tiles x tile^2 / (H x W); 1 whole-frame."""
    if tile is None:
        return 1.0
    return count_tiles(*hw, tile, overlap) * tile * tile / (hw[0] * hw[1])


def runners(cfg: BenchConfig, entries: list[Entry], say, quantized: dict[str, dict]) -> dict[Entry, object]:
    """Each entry's artifact at the config's tiling, made (or reused) by the bench's makers, loaded.
    `quantized`: per network, the makers' int8 quantizations, shared by the tilings (PT2E captures the
    graph with dynamic height and width, and the kernels' own scheme keeps ranges: neither depends on
    the tile), so each network is calibrated once per scheme."""
    out = {}
    hpun = {name: maker for name, _, maker in model_makers(cfg)}
    imdn = peer_maker(cfg, IMDN)
    for maker in (*hpun.values(), imdn):
        maker._quantized = quantized.setdefault(maker.name, {})
    for e in entries:
        maker = imdn if e.network == IMDN else hpun[e.network]
        t0 = time.monotonic()
        path = maker.artifact(e.job)
        say(f"{e.name} tile {cfg.tile or WHOLE}: {path} ({time.monotonic() - t0:.0f} s)")
        out[e] = load_artifact(path, threads=cfg.threads)[0]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lr-size", default="360x640")
    ap.add_argument("--tiles", nargs="+", default=["256", "368", "512", WHOLE])
    ap.add_argument("--overlap", type=int, default=16)
    ap.add_argument("--entries", nargs="+", type=int, help="indices into ENTRIES (default all)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="out/tiling")
    ap.add_argument("--json")
    args = ap.parse_args()
    hw = parse_hw(args.lr_size)
    entries = [ENTRIES[i] for i in args.entries] if args.entries else list(ENTRIES)
    torch.set_num_threads(args.threads)
    t_start, load_at_start = time.monotonic(), os.getloadavg()
    say = lambda line: print(f"[{time.monotonic() - t_start:6.0f} s] {line}", flush=True)  # noqa: E731
    cfgs = {}
    for t in args.tiles:
        tile = resolve_tile(t, hw)
        tag = WHOLE if tile is None else f"t{tile}"
        cfgs[tag] = check_config(BenchConfig(
            models=("hpun_s",), scale=2, lr_size=hw, targets=("executorch", "executorch-fused"),
            precisions=("fp32", "int8"), method="ptq", tile=WHOLE if tile is None else tile, overlap=args.overlap,
            threads=args.threads, runs=1, warmup=1, budget_s=1e9, out=str(Path(args.out) / tag)))
    quantized: dict[str, dict] = {}
    loaded = {tag: runners(cfg, entries, say, quantized) for tag, cfg in cfgs.items()}
    keys = [(tag, e) for tag in cfgs for e in entries]
    times: dict[tuple, list[float]] = {k: [] for k in keys}
    say(f"{len(keys)} artifacts loaded; one untimed call each, then {args.rounds} rounds in alternation")
    for rnd in range(-1, args.rounds):
        for tag, e in keys:
            ms = measure_model(cfgs[tag], loaded[tag][e])["median"]
            if rnd >= 0:
                times[(tag, e)].append(ms)
        if rnd >= 0:
            say(f"round {rnd + 1}/{args.rounds}")
    rows, ratios = [], []
    for tag, e in keys:
        cfg = cfgs[tag]
        rows.append({"tiling": tag, "network": e.network, "target": e.target, "precision": e.precision,
                     "median_ms": round(statistics.median(times[(tag, e)]), 1),
                     "ms": [round(v, 1) for v in times[(tag, e)]],
                     "calls": 1 if cfg.tile is None else count_tiles(*hw, cfg.tile, cfg.overlap),
                     "macs_overhead": round(overhead(hw, cfg.tile, cfg.overlap), 3)})
    for tag in cfgs:
        for a, b in PAIRS:
            if ENTRIES[a] in entries and ENTRIES[b] in entries:
                ta, tb = times[(tag, ENTRIES[a])], times[(tag, ENTRIES[b])]
                ratios.append({"tiling": tag, "hpun": ENTRIES[a].name, "imdn": ENTRIES[b].name,
                               "ratio_of_medians": round(statistics.median(ta) / statistics.median(tb), 3),
                               "median_of_ratios": round(statistics.median(x / y for x, y in zip(ta, tb)), 3)})
    print(f"\n{hw[1]}x{hw[0]} LR, {args.threads} threads, {args.rounds} rounds in alternation; load {os.getloadavg()}")
    print("| tiling | calls | Multi-Adds x | " + " | ".join(e.name for e in entries) + " |")
    print("|---|---|---|" + "---|" * len(entries))
    for tag in cfgs:
        r0 = next(r for r in rows if r["tiling"] == tag)
        cells = [f"{next(r for r in rows if r['tiling'] == tag and r['network'] == e.network and r['target'] == e.target and r['precision'] == e.precision)['median_ms']:.0f}"
                 for e in entries]
        print(f"| {tag} | {r0['calls']} | {r0['macs_overhead']:.2f} | " + " | ".join(cells) + " |")
    print("\n| tiling | HPUN | IMDN | ratio of medians | median of ratios |\n|---|---|---|---|---|")
    for r in ratios:
        print(f"| {r['tiling']} | {r['hpun']} | {r['imdn']} | {r['ratio_of_medians']:.3f} | {r['median_of_ratios']:.3f} |")
    if args.json:
        data = {"lr_size": list(hw), "overlap": args.overlap, "threads": args.threads, "rounds": args.rounds,
                "load_at_start": load_at_start, "load_at_end": os.getloadavg(), "cpu": next((l.split(":", 1)[1].strip() for l in
                                                             Path("/proc/cpuinfo").read_text().splitlines()
                                                             if l.startswith("model name")), "?"),
                "finished_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "seconds": round(time.monotonic() - t_start), "rows": rows, "ratios": ratios}
        Path(args.json).write_text(json.dumps(data, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
