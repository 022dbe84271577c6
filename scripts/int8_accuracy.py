"""The int8 accuracy table of issue 4: fp32 vs PTQ (and QAT) int8 per variant, scale and dataset.

    python scripts/int8_accuracy.py --models hpun_s hpun_m hpun_l --scales 2 3 4 --datasets Set5 Set14 \
        --methods ptq --out out/int8_accuracy.jsonl
    python scripts/int8_accuracy.py --out out/int8_accuracy.jsonl --summary   # the README's table of it
    python scripts/int8_accuracy.py --target executorch-fused --models hpun_s hpun_m --datasets Set5 Set14 \
        --methods ptq qat --out out/int8_accuracy_fused.jsonl   # the project's kernels' int8 scheme
    python scripts/int8_accuracy.py --target executorch-fused --int8-parts srdsc_pw pud_pw dense dw ...
        # another set of the scheme's int8 parts (quantization/fused_int8.py PARTS): its fake-quant model

Each (model, scale, method, fp32 parts) quantization is measured with its fake-quant reference
(convert_pt2e's graph, which the ExecuTorch and ONNX int8 artifacts match within 0.002 dB; see
tests/test_quantization.py) through the pipeline's fixed 256 tiles, PSNR/SSIM on Y with
crop_border = scale; fp32 is the PyTorch model through the same tiles. One JSON line per
measurement is appended to --out as soon as it exists, and lines already there are not measured
again, so an interrupted run resumes. The markdown table is printed at the end.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpun_edge.data import find_dataset  # noqa: E402
from hpun_edge.evaluate import evaluate_dataset  # noqa: E402
from hpun_edge.inference import InferenceOptions, upscale  # noqa: E402
from hpun_edge.app.config import PipelineConfig  # noqa: E402
from hpun_edge.converters import get_target  # noqa: E402
from hpun_edge.zoo import create_model  # noqa: E402
from hpun_edge.quantization import get_quantizer, quantize  # noqa: E402
from hpun_edge.quantization.calibration import load_calibration  # noqa: E402
from hpun_edge.quantization.fused_int8 import METHOD_PARTS, PARTS, SCHEME as OWN_KERNELS, scheme_settings  # noqa: E402
from hpun_edge.quantization.mixed import DEFAULT_FP32_PARTS, FloatParts  # noqa: E402
from hpun_edge.quantization.pt2e import QAT_LOSSES, QATConfig  # noqa: E402
from hpun_edge.rewrites import check_rewrites  # noqa: E402


def key(r: dict) -> tuple:
    qat = (r["qat"]["steps"], r["qat"]["lr"], r["qat"].get("loss", "l1")) if r.get("qat") else None
    return r["model"], r["scale"], r["method"], tuple(r["fp32_parts"]), tuple(r.get("rewrites", [])), \
        tuple(r.get("calibration", (64, 48))), qat, r["dataset"]


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def qat_ckpt_dir(root, model: str, scale: int, target: str, parts: list[str], rewrites: list[str],
                 calib: tuple) -> Path:
    """One checkpoint folder per quantization: the QAT settings are checked by `quantize` itself
    (another run's state is refused), what it cannot see (fp32 parts, rewrites, calibration) is in
    the name's hash."""
    import hashlib

    digest = hashlib.sha256(json.dumps([parts, rewrites, list(calib)]).encode()).hexdigest()[:10]
    return Path(root) / f"{model}_x{scale}_{target}_{digest}"


def measure(forward, scale: int, dataset: str, data_root) -> tuple[float, float]:
    opts = InferenceOptions(tile=256, overlap=16, fixed_size=True)
    with torch.no_grad():
        res = evaluate_dataset(lambda lr: upscale(forward, lr, scale, opts), find_dataset(dataset, data_root), scale)
    return round(res.psnr_y, 4), round(res.ssim_y, 5)


# what a weight-only row's reference computes (quantization.pt2e.HalfCompute)
WEIGHT_ONLY_COMPUTE = "fp16 (int8 weights; float32 kernels, each op rounded to fp16)"


def table(rows: list[dict]) -> str:
    fp = {(r["model"], r["scale"], r["dataset"]): r for r in rows if r["method"] == "fp32"}
    lines = ["| model | scale | method | fp32 parts | dataset | PSNR / SSIM | vs fp32 (dB) |", "|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["model"], r["scale"], r["dataset"], r["method"] != "fp32", r["method"])):
        base = fp.get((r["model"], r["scale"], r["dataset"]))
        delta = "" if r["method"] == "fp32" or base is None else f"{r['psnr_y'] - base['psnr_y']:+.3f}"
        parts = ", ".join(r["fp32_parts"]) or ("-" if r["method"] == "fp32" else
                                               f"weight-only: {r['compute']}" if r.get("compute") else
                                               "none (int8 everywhere)")
        if tuple(r.get("calibration", (64, 48))) != (64, 48):
            parts += f"; calibration {r['calibration'][0]} x {r['calibration'][1]}px"
        if r.get("qat"):
            parts += f"; QAT {r['qat']['steps']} steps, lr {r['qat']['lr']:g}, loss {r['qat'].get('loss', 'l1')}"
        if r.get("rewrites"):
            parts += f"; rewrites: {', '.join(r['rewrites'])}"
        lines.append(f"| {r['model']} | x{r['scale']} | {r['method']} | {parts} | {r['dataset']} | "
                     f"{r['psnr_y']:.3f} / {r['ssim_y']:.4f} | {delta} |")
    return "\n".join(lines)


def summary_table(rows: list[dict], parts: list[str], rewrites: list[str], qat: tuple, *,
                  weight_only: bool = False) -> str:
    """One line per (model, scale, dataset): fp32, PTQ and QAT (the given settings) with their losses
    against fp32, the README's layout; cells with no measurement say so. For a weight-only target
    (Core ML) the PTQ column is the int8-weight, fp16-compute reference and QAT does not apply."""
    def cell(r, base, method="ptq"):
        if weight_only and method == "qat":
            return "n/a (weight-only int8)"
        if r is None:
            return "not measured"
        loss = r["psnr_y"] - base["psnr_y"]
        mark = "**" if abs(loss) <= 0.05 else ""
        return f"{r['psnr_y']:.3f} / {r['ssim_y']:.4f} ({mark}{loss:+.3f}{mark})"

    def pick(model, scale, ds, method):
        for r in rows:
            if (r["model"], r["scale"], r["dataset"], r["method"]) == (model, scale, ds, method) \
                    and r["fp32_parts"] == parts and r.get("rewrites", []) == rewrites \
                    and (method != "qat" or key(r)[6] == qat):
                return r
        return None

    order = {"Set5": 0, "Set14": 1, "B100": 2, "hpun_s": 0, "hpun_m": 1, "hpun_l": 2}
    lines = ["| model | scale | dataset | fp32 PSNR / SSIM | PTQ int8 (loss) | QAT int8 (loss) |",
             "|---|---|---|---|---|---|"]
    for model, scale, ds in sorted({(r["model"], r["scale"], r["dataset"]) for r in rows if r["method"] == "fp32"},
                                   key=lambda t: (order.get(t[0], 9), t[0], t[1], order.get(t[2], 9))):
        base = next(r for r in rows if (r["model"], r["scale"], r["dataset"], r["method"]) == (model, scale, ds, "fp32"))
        ptq, q = pick(model, scale, ds, "ptq"), pick(model, scale, ds, "qat")
        if ptq is None and q is None:
            continue
        lines.append(f"| {model} | x{scale} | {ds} | {base['psnr_y']:.3f} / {base['ssim_y']:.4f} | "
                     f"{cell(ptq, base)} | {cell(q, base, 'qat')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["hpun_s"])
    p.add_argument("--scales", nargs="+", type=int, default=[2])
    p.add_argument("--datasets", nargs="+", default=["Set5", "Set14", "B100"])
    p.add_argument("--methods", nargs="+", default=["ptq"], choices=["ptq", "qat"])
    p.add_argument("--fp32-parts", nargs="*", default=list(DEFAULT_FP32_PARTS))
    p.add_argument("--int8-parts", nargs="+", default=list(METHOD_PARTS["ptq"]), choices=list(PARTS),
                   help="--target executorch-fused: the scheme's int8 parts (default: PTQ's; the pipeline's QAT "
                        "adds pud_pw: quantization/fused_int8.METHOD_PARTS)")
    p.add_argument("--target", default="executorch")
    p.add_argument("--rewrites", nargs="*", default=None,
                   help="exact rewrites applied before quantizing (default: the pipeline's for --target)")
    p.add_argument("--calib-count", type=int, default=64, help="calibration patches (default 64, the pipeline's)")
    p.add_argument("--calib-patch", type=int, default=48, help="their LR size in pixels (default 48)")
    p.add_argument("--qat-steps", type=int, default=PipelineConfig.qat_steps)
    p.add_argument("--qat-lr", type=float, default=PipelineConfig.qat_lr)
    p.add_argument("--qat-loss", default="l1", choices=QAT_LOSSES,
                   help="l1: to the HR patch; distill_l1 / distill_mse: to the fp32 model's output")
    p.add_argument("--data-root", default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="out/int8_accuracy.jsonl")
    p.add_argument("--fp32-from", default=None,
                   help="another --out file whose fp32 rows (the PyTorch model through the same tiles, whatever the "
                        "target) are copied instead of measured again")
    p.add_argument("--qat-ckpt-root", default="out/int8_accuracy_qat",
                   help="QAT checkpoints, one folder per quantization: an interrupted QAT resumes there")
    p.add_argument("--summary", action="store_true",
                   help="measure nothing: print the fp32 / PTQ / QAT table of --out for these settings")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = read_rows(out) if out.exists() else []
    done = {key(r) for r in rows}
    target = get_target(args.target)
    args.target = target.name
    quantizer = get_quantizer(target.quantizer)
    fused = quantizer.name == OWN_KERNELS  # quantization/fused_int8.py: the kernels' own scheme
    weight_only = quantizer.weight_only
    unknown = [m for m in args.methods if m not in quantizer.methods]
    if unknown:
        p.error(f"--target {args.target} ({quantizer.name}: {quantizer.scheme}) has {', '.join(quantizer.methods)}, "
                f"not {', '.join(unknown)}")
    # weight-only int8 quantizes no activation, so no part is 'left in fp32'; the own kernels' scheme fixes its own
    parts = FloatParts() if weight_only or fused else FloatParts.from_names(args.fp32_parts)
    if fused or args.rewrites is None:
        args.rewrites = list(target.int8_rewrites)
    rewrites = list(check_rewrites(args.rewrites))
    calib = (args.calib_count, args.calib_patch)

    def part_names() -> list[str]:
        return scheme_settings(None, parts=args.int8_parts)["fp32_parts"] if fused else parts.names()

    if args.summary:
        print(summary_table(rows, part_names(), rewrites, (args.qat_steps, args.qat_lr, args.qat_loss),
                            weight_only=weight_only))
        return 0

    def record(r: dict) -> None:
        rows.append(r)
        done.add(key(r))
        with open(out, "a") as f:  # one whole line per append: an interrupted run loses at most the current one
            f.write(json.dumps(r) + "\n")
        print(json.dumps(r), flush=True)

    fp32_rows = []
    if args.fp32_from:
        fp32_rows = [r for r in read_rows(Path(args.fp32_from)) if r["method"] == "fp32"]
    for model_name in args.models:
        for scale in args.scales:
            model = create_model(model_name, scale, pretrained=True).eval()
            for ds in args.datasets:
                fp32_key = (model_name, scale, "fp32", (), (), (64, 48), None, ds)
                if fp32_key not in done:
                    known = [r for r in fp32_rows if key(r) == fp32_key]
                    record(known[0] if known else
                           {"model": model_name, "scale": scale, "method": "fp32", "fp32_parts": [], "dataset": ds,
                            **dict(zip(("psnr_y", "ssim_y"), measure(model, scale, ds, args.data_root)))})
            for method in args.methods:
                qat_key = (args.qat_steps, args.qat_lr, args.qat_loss) if method == "qat" else None
                todo = [ds for ds in args.datasets
                        if (model_name, scale, method, tuple(part_names()), tuple(rewrites), calib, qat_key, ds)
                        not in done]
                if not todo:
                    continue
                t0 = time.monotonic()
                cal = load_calibration(None, scale, count=calib[0], patch=calib[1], data_root=args.data_root)
                qat = QATConfig(steps=args.qat_steps, lr=args.qat_lr, loss=args.qat_loss) if method == "qat" else None
                train = None
                if method == "qat":
                    from hpun_edge.data import resolve_data_root

                    train = resolve_data_root(args.data_root) / "train"
                ckpt = qat_ckpt_dir(args.qat_ckpt_root, model_name, scale, args.target, part_names(), rewrites,
                                    calib) if method == "qat" else None
                common = dict(qat=qat, train_folder=train, say=lambda line: print(line, flush=True), ckpt_dir=ckpt)
                if fused:  # the scheme fixes its rewrites; its parts are --int8-parts
                    q = quantize(model, quantizer.name, method, cal, parts=tuple(args.int8_parts), **common)
                else:
                    q = quantize(model, quantizer.name, method, cal, fp32_parts=parts, rewrites=tuple(rewrites),
                                 **common)
                reference, q_qat = q.reference, getattr(q, "qat", None)
                seconds = round(time.monotonic() - t0, 1)
                for ds in todo:
                    record({"model": model_name, "scale": scale, "method": method, "fp32_parts": part_names(),
                            "rewrites": rewrites, "calibration": list(calib), "dataset": ds,
                            "target_quantizer": args.target, "quantize_seconds": seconds,
                            **({"compute": WEIGHT_ONLY_COMPUTE} if weight_only else {}),
                            "qat": q_qat, **dict(zip(("psnr_y", "ssim_y"), measure(reference, scale, ds, args.data_root)))})
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
