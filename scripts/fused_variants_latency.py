"""One tile of HPUN-S and HPUN-M x2 through the executorch-fused program with and without the block
kernels (ExecuTorch Python runtime, the shipped weights, srdsc_fold): the "495 -> 390 ms" figures
of native/kernels/README.md.

    .venv/bin/python scripts/fused_variants_latency.py [--tile 368] [--runs 9]

`pointwise=False` is the fused PUD front part only (XNNPACK runs the 1x1 convs, depthwise convs and
adds); `pointwise=True` is the bench's executorch-fused program. The programs are timed interleaved
(one run of each in turn), after one warm-up run each; medians and minima are printed. Needs the
kernel library (built into the cache folder when missing: `hpun_edge.converters.kernels`). The
programs are written to out/fused_variants/.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpun_edge.converters.kernels import load_kernels  # noqa: E402
from hpun_edge.fused import ChannelsLastIO, apply_fused_pud  # noqa: E402
from hpun_edge.rewrites import apply_rewrites  # noqa: E402
from hpun_edge.zoo import create_model  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tile", type=int, default=368)
    p.add_argument("--runs", type=int, default=9)
    p.add_argument("--out", default="out/fused_variants")
    args = p.parse_args(argv)
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    from executorch.runtime import Runtime

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    x = torch.rand(1, 3, args.tile, args.tile, generator=torch.Generator().manual_seed(0))
    load_kernels()
    methods = {}
    for name in ("hpun_s", "hpun_m"):
        model = create_model(name, 2, pretrained=True).eval()
        for pointwise in (False, True):
            module = ChannelsLastIO(apply_fused_pud(apply_rewrites(model, ("srdsc_fold",)), pointwise=pointwise).eval(),
                                    "forward_even")
            program = to_edge_transform_and_lower(torch.export.export(module, (x,)),
                                                  partitioner=[XnnpackPartitioner()]).to_executorch()
            path = out / f"{name}_{args.tile}_pointwise{int(pointwise)}.pte"
            path.write_bytes(program.buffer)
            methods[(name, pointwise)] = Runtime.get().load_program(path).load_method("forward")
    times: dict = {k: [] for k in methods}
    for m in methods.values():
        m.execute([x])
    for _ in range(args.runs):
        for k, m in methods.items():
            t0 = time.perf_counter()
            m.execute([x])
            times[k].append((time.perf_counter() - t0) * 1e3)
    for (name, pointwise), ms in times.items():
        print(f"{name} pointwise={pointwise}: median {statistics.median(ms):.1f} ms, min {min(ms):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
