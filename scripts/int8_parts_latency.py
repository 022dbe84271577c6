"""Latency of ExecuTorch int8 HPUN for several sets of fp32 parts: one tile, interleaved medians.

    python scripts/int8_parts_latency.py --model hpun_s --scale 2 \
        --parts "residual_adds,mean_shift" "residual_adds,mean_shift,module:^head$,module:^tail$"

Each --parts entry is a comma-separated list of `mixed.FloatParts` words. Every set is quantized by
PTQ (the pipeline's calibration and rewrites), exported as a .pte at --tile, and timed with the fp32
.pte in the same loop, round after round, so that a machine's drift hits every artifact alike. Prints
the median per artifact and its op coverage. Artifacts go to --out.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpun_edge.converters import ExportSpec, export, get_target, load_artifact  # noqa: E402
from hpun_edge.quantization import FloatParts, load_calibration, quantize  # noqa: E402
from hpun_edge.zoo import create_model, pretrained_path  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="hpun_s")
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--parts", nargs="+", required=True)
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="out/int8_parts_latency")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = create_model(args.model, args.scale, pretrained=True).eval()
    weights = str(pretrained_path(args.model, args.scale))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cal = load_calibration(None, args.scale)

    runners, ops = {}, {}
    fp32 = out / f"{args.model}_x{args.scale}_fp32.pte"
    ops["fp32"] = export(model, ExportSpec("executorch", args.model, args.scale, args.tile, "fp32", weights), fp32).ops
    runners["fp32"] = load_artifact(fp32, threads=args.threads)[0]
    for i, words in enumerate(args.parts):
        parts = FloatParts.from_names([w for w in words.split(",") if w])
        target = get_target("executorch")
        q = quantize(model, target.quantizer, "ptq", cal, rewrites=target.int8_rewrites, fp32_parts=parts)
        path = out / f"{args.model}_x{args.scale}_int8_{i}.pte"
        spec = ExportSpec("executorch", args.model, args.scale, args.tile, "int8", weights)
        ops[words] = export(model, spec, path, quantized=q).ops
        runners[words] = load_artifact(path, threads=args.threads)[0]

    x = torch.rand(1, 3, args.tile, args.tile, generator=torch.Generator().manual_seed(0))
    for run in runners.values():  # warm-up
        run(x), run(x)
    times: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(args.rounds):
        for k, run in runners.items():
            t = time.perf_counter()
            run(x)
            times[k].append(1000 * (time.perf_counter() - t))
    print(f"| fp32 parts | median of {args.rounds} (ms, one {args.tile} tile, {args.threads} threads) | ops delegated |")
    print("|---|---|---|")
    for k, v in times.items():
        print(f"| {k} | {statistics.median(v):.1f} | {ops[k]['delegated']} / {ops[k]['total']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
