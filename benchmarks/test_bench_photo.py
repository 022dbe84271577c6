"""Issue 22's 12-megapixel photo: `upscale_file` on a 4000x3000 synthetic JPEG, x2, tile 256, overlap
16, 2 threads, with the shipped HPUN-S weights (PyTorch) and with torch bicubic in the network's place
(the cost of reading, tiling, quantising and PNG encoding alone). Each run is a fresh subprocess
(`scripts/bench_photo.py`), timed once (the benchmark's time includes making the photo and starting
the interpreter; extra_info's `seconds` is `upscale_file` alone); its peak RSS (VmHWM) goes to
extra_info and must stay under 2 GB. `make bench`, or `pytest benchmarks/test_bench_photo.py --benchmark-only --benchmark-enable`.
Measured once (2026-12-06, torch 2.13 CPU, 2 vCPUs shared with other jobs, load average ~12) with
`scripts/bench_photo.py --forward model|bicubic --size 4000x3000 --tile 256 --overlap 16 --threads 2`:
HPUN-S 3920 s wall, 1535 CPU s, peak RSS 566 MiB (256 MiB after loading the model), PNG 58 MiB;
bicubic 25 s wall, 10 CPU s, peak RSS 440 MiB.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("bench_photo", Path(__file__).parent.parent / "scripts" / "bench_photo.py")
bench_photo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_photo)

SIZE = (4000, 3000)


@pytest.mark.parametrize("forward", ["bicubic", "model"])
def test_upscale_12mp_photo_x2(benchmark, forward):
    figures = {}

    def run():
        figures.update(bench_photo.measure(forward, "hpun_s", 2, SIZE, tile=256, overlap=16, threads=2))

    benchmark.group = "upscale a 12 MP photo x2 (tile 256, overlap 16, 2 threads)"
    benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    benchmark.extra_info.update(figures)
    assert figures["out_size"] == [2 * SIZE[0], 2 * SIZE[1]]
    assert figures["peak_rss_mib"] * 2**20 < bench_photo.LIMIT_BYTES
