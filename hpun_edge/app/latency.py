"""Running a forward the way the report measures it: accuracy through the tiling, and latency.

Latency is wall-clock time of one call, measured after warm-up runs, reported as the median and
the 90th percentile over repeated runs, with the thread count the runtime was given. Two inputs:
one tile (what the artifact computes per call) and a 640x360 LR image (the paper's cost
convention: 1280x720 output at x2) run through the same crop-and-stitch tiling as accuracy.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch

from hpun_edge.inference import InferenceOptions, tiled_forward

LATENCY_HW = (360, 640)  # LR height, width


@dataclass(frozen=True)
class Latency:
    median: float  # milliseconds
    p90: float
    input_hw: list[int]
    threads: int
    runs: int
    warmup: int
    tiles: int  # calls per measured run (1 for a tile)

    def to_dict(self) -> dict:
        return asdict(self)


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), q in [0, 100]."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def time_calls(fn: Callable[[], object], runs: int, warmup: int, budget_s: float | None = None,
               min_runs: int = 3) -> tuple[list[float], int]:
    """`warmup` untimed calls, then `runs` timed ones (ms). With `budget_s`: when the first warm-up
    call says that the runs would take longer than the budget, one warm-up only and fewer runs (at
    least `min_runs`)."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    if budget_s is not None and first * (runs + warmup - 1) > budget_s:
        warmup, runs = 1, max(min_runs, min(runs, int(budget_s / max(first, 1e-9))))
    for _ in range(warmup - 1):
        fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out, max(warmup, 1)


def count_tiles(h: int, w: int, tile: int, overlap: int) -> int:
    from hpun_edge.inference import tile_spans

    he, we = max(h + h % 2, tile), max(w + w % 2, tile)
    return len(tile_spans(he, tile, overlap)) * len(tile_spans(we, tile, overlap))


def measure_latency(forward, scale: int, tile: int | None, overlap: int, threads: int, *, hw: tuple[int, int] | None,
                    runs: int, warmup: int, seed: int = 0, budget_s: float | None = None,
                    min_runs: int = 3) -> Latency:
    """Latency of one tile (hw None), of a whole hw image through the fixed-size tiling, or (tile
    None) of one call on the whole hw image (a whole-frame artifact)."""
    g = torch.Generator().manual_seed(seed)
    if tile is None:
        if hw is None:
            raise ValueError("measure_latency: a whole-frame measurement (tile None) needs the image size hw")
        x = torch.rand(1, 3, *hw, generator=g)
        with torch.inference_mode():
            times, warm = time_calls(lambda: forward(x), runs, warmup, budget_s, min_runs)
        return Latency(round(statistics.median(times), 3), round(percentile(times, 90), 3), list(hw), threads,
                       len(times), warm, 1)
    if hw is None:
        x = torch.rand(1, 3, tile, tile, generator=g)
        times, warm = time_calls(lambda: forward(x), runs, warmup, budget_s, min_runs)
        return Latency(round(statistics.median(times), 3), round(percentile(times, 90), 3), [tile, tile], threads,
                       len(times), warm, 1)
    x = torch.rand(1, 3, *hw, generator=g)

    def run():
        with torch.inference_mode():
            return tiled_forward(forward, x, scale, tile, overlap, fixed_size=True)

    times, warm = time_calls(run, runs, warmup, budget_s, min_runs)
    return Latency(round(statistics.median(times), 3), round(percentile(times, 90), 3), list(hw), threads,
                   len(times), warm, count_tiles(*hw, tile, overlap))


def tiled_options(tile: int, overlap: int) -> InferenceOptions:
    return InferenceOptions(tile=tile, overlap=overlap, fixed_size=True)
