"""Which activation quantizers hold an int8 HPUN's error (quantization/sensitivity.py).

    python scripts/int8_sensitivity.py --model hpun_s --scale 2 --fp32-parts residual_adds mean_shift \
        --json out/int8_sensitivity_hpun_s_x2.json

PTQ with the pipeline's quantizer and rewrites for --target, calibrated on the pipeline's 64 training
patches; the shares are measured on other training patches (--count patches of --patch LR pixels,
seed 5), against the fp32 model. Prints the shares grouped over blocks, then the largest single
quantizers; --json writes every row (atomically).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpun_edge.converters import get_target  # noqa: E402
from hpun_edge.files import atomic_write_bytes  # noqa: E402
from hpun_edge.model import EvenForward  # noqa: E402
from hpun_edge.quantization.calibration import load_calibration, patches_from_folder  # noqa: E402
from hpun_edge.quantization.mixed import DEFAULT_FP32_PARTS, FloatParts  # noqa: E402
from hpun_edge.quantization.pt2e import quantize, weight_only_reference  # noqa: E402
from hpun_edge.quantization.sensitivity import grouped, mse_against, sensitivity  # noqa: E402
from hpun_edge.zoo import create_model  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="hpun_s")
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--target", default="executorch")
    p.add_argument("--fp32-parts", nargs="*", default=list(DEFAULT_FP32_PARTS))
    p.add_argument("--count", type=int, default=24, help="held-out LR patches (default 24)")
    p.add_argument("--patch", type=int, default=64, help="their size in LR pixels (default 64)")
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--data-root", default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from hpun_edge.data import resolve_data_root

    t0 = time.monotonic()
    model = create_model(args.model, args.scale, pretrained=True).eval()
    parts = FloatParts.from_names(args.fp32_parts)
    target = get_target(args.target)
    rewrites = target.int8_rewrites
    cal = load_calibration(None, args.scale, data_root=args.data_root)
    q = quantize(model, target.quantizer, "ptq", cal, rewrites=rewrites, fp32_parts=parts)
    held = patches_from_folder(resolve_data_root(args.data_root) / "train", args.scale, args.count, args.patch, seed=5)
    fp32 = EvenForward(model).eval()
    base, rows = sensitivity(q.reference, fp32, held.lr)
    weights_only = mse_against(weight_only_reference(model), held.lr, fp32(held.lr).detach())
    print(f"{args.model} x{args.scale}, {args.target} quantizer, rewrites {', '.join(rewrites) or 'none'}, "
          f"fp32 parts {', '.join(parts.names()) or 'none'}: int8 MSE against fp32 {base:.3g} "
          f"(weights' rounding alone: {weights_only:.3g}); {len(rows)} activation quantizers; "
          f"shares sum to {sum(r.share for r in rows):.2f}")
    print("\n| where (summed over blocks) | quantizers | share of the int8 MSE |\n|---|---|---|")
    for key, n, share in grouped(rows):
        print(f"| {key} | {n} | {100 * share:.1f}% |")
    print(f"\n| quantizer | module | producer -> consumers | step | share |\n|---|---|---|---|---|")
    for r in rows[: args.top]:
        print(f"| {r.node} | {r.module or '-'} | {r.producer} -> {', '.join(r.consumers)} | {r.scale:.5f} | "
              f"{100 * r.share:.1f}% |")
    if args.json:
        record = {"model": args.model, "scale": args.scale, "target": args.target, "rewrites": list(rewrites),
                  "fp32_parts": parts.names(), "held_out": {"count": args.count, "patch": args.patch, "seed": 5},
                  "int8_mse": base, "weights_only_mse": weights_only, "seconds": round(time.monotonic() - t0, 1),
                  "rows": [asdict(r) for r in rows]}
        text = json.dumps(record, indent=1)
        atomic_write_bytes(Path(args.json), lambda tmp: Path(tmp).write_text(text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
