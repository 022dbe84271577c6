"""Own-kernel (executorch-fused) int8 vs fp32 .pte of one model per LR tile, timed in alternation.

    python scripts/fused_int8_latency.py --kernels BUILD/libhpun_kernels_py.so --out out/fused_int8_latency \\
        --model hpun_s --scale 2 --tile 256 --rounds 11 --calls 5 --threads 1 2 --json result.json

Exports the fp32 program and the int8 one (the parts the pipeline's QAT ships, DEFAULT_PARTS,
calibrated by PTQ with the pipeline's 64 patches of 48 px: the speed does not depend on the weights), loads both in one process with the kernels, and in each round times
CALLS calls of each on the same tile (the order swapped every round); a round's figure per program is
the median of its calls. Prints each round's int8 / fp32 ratio and their median, min and max: on a
loaded machine the ratio of one round, both programs timed within seconds, is what to read.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch


def export_pair(model_name: str, scale: int, tile: int, out: Path, data_root: str | None) -> dict[str, Path]:
    from hpun_edge.converters import ExportSpec, export
    from hpun_edge.quantization.calibration import load_calibration
    from hpun_edge.quantization.fused_int8 import quantize_fused
    from hpun_edge.zoo import create_model

    model = create_model(model_name, scale, pretrained=True).eval()
    paths = {p: out / f"{model_name}_x{scale}_tile{tile}_{p}.pte" for p in ("fp32", "int8")}
    if not paths["fp32"].exists():
        export(model, ExportSpec("executorch-fused", model_name, scale, tile, "fp32"), paths["fp32"])
    if not paths["int8"].exists():
        from hpun_edge.quantization.fused_int8 import DEFAULT_PARTS

        q = quantize_fused(model, load_calibration(None, scale, count=64, data_root=data_root), parts=DEFAULT_PARTS)
        export(model, ExportSpec("executorch-fused", model_name, scale, tile, "int8"), paths["int8"], quantized=q)
    return paths


def alternate(paths: dict[str, Path], x: torch.Tensor, threads: int, rounds: int, calls: int) -> dict:
    from executorch.extension.pybindings import portable_lib
    from executorch.runtime import Runtime

    portable_lib._unsafe_reset_threadpool(threads)
    methods = {k: Runtime.get().load_program(v).load_method("forward") for k, v in paths.items()}
    for m in methods.values():  # warm-up
        for _ in range(2):
            m.execute((x,))
    per_round = []
    for r in range(rounds):
        ms = {}
        for k in (["fp32", "int8"] if r % 2 == 0 else ["int8", "fp32"]):
            times = []
            for _ in range(calls):
                t0 = time.perf_counter()
                methods[k].execute((x,))
                times.append((time.perf_counter() - t0) * 1e3)
            ms[k] = statistics.median(times)
        per_round.append({**ms, "ratio": ms["int8"] / ms["fp32"]})
        print(f"threads {threads} round {r + 1}: fp32 {ms['fp32']:.1f} ms, int8 {ms['int8']:.1f} ms, "
              f"ratio {ms['int8'] / ms['fp32']:.3f}", flush=True)
    ratios = sorted(r["ratio"] for r in per_round)
    return {"median_ratio": statistics.median(ratios), "min_ratio": ratios[0], "max_ratio": ratios[-1],
            "median_fp32_ms": statistics.median(r["fp32"] for r in per_round),
            "median_int8_ms": statistics.median(r["int8"] for r in per_round), "rounds": per_round}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kernels", required=True, help="the kernels' Python module (libhpun_kernels_py.so)")
    p.add_argument("--out", required=True, help="folder for the two .pte")
    p.add_argument("--model", default="hpun_s")
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--rounds", type=int, default=11)
    p.add_argument("--calls", type=int, default=5)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--data-root", default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args()

    from hpun_edge.converters.kernels import load_kernels
    from hpun_edge.quantization.fused_int8 import DEFAULT_PARTS

    torch.set_num_threads(1)
    load_kernels(Path(args.kernels))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = export_pair(args.model, args.scale, args.tile, out, args.data_root)
    x = torch.rand(1, 3, args.tile, args.tile, generator=torch.Generator().manual_seed(0))
    result = {"model": args.model, "scale": args.scale, "tile": args.tile, "int8_parts": list(DEFAULT_PARTS),
              "threads": {}}
    for t in args.threads:
        s = alternate(paths, x, t, args.rounds, args.calls)
        result["threads"][str(t)] = s
        print(f"threads {t}: int8/fp32 median {s['median_ratio']:.3f} (min {s['min_ratio']:.3f}, max "
              f"{s['max_ratio']:.3f}) over {args.rounds} rounds; medians fp32 {s['median_fp32_ms']:.1f} ms, "
              f"int8 {s['median_int8_ms']:.1f} ms", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
