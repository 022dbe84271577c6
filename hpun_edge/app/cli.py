"""`hpun-edge` command line: one entry point, a subcommand per stage.

Errors that a user can fix (bad files, unknown names, missing folders) print one line and exit 2;
batch commands go on past bad files and report them at the end.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hpun_edge.data import (
    DatasetError, ImageError, find_dataset, list_images, read_image, require_scale_fits, write_image,
)
from hpun_edge.converters.kernels import NativeError
from hpun_edge.files import cache_dir
from hpun_edge.variants import SCALES, UnknownModelError
from hpun_edge.weights import WeightsError

from .console import CONSOLE, quiet

# what a user can fix: one line and exit 2 (NativeError: a missing compiler or CMake, named with the fix)
USER_ERRORS = (DatasetError, ImageError, UnknownModelError, WeightsError, FileNotFoundError, ValueError, NativeError)


# ----------------------------------------------------------------------------------------- info
def cmd_info(args: argparse.Namespace) -> int:
    from hpun_edge.complexity import complexity
    from hpun_edge.variants import VARIANTS

    print(info_table([complexity(name, s) for name in VARIANTS for s in SCALES]))
    for name, spec in VARIANTS.items():
        print(f"{spec.title}: {spec.bias_policy}")
    return 0


def info_table(rows) -> str:
    lines = [
        "| model | scale | params | paper | diff | Multi-Adds (720p) | paper | diff |",
        "|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for c in rows:
        mark = ""
        if c.note:
            notes.append(c.note)
            mark = f" [{len(notes)}]"
        lines.append(
            f"| {c.model} | x{c.scale} | {c.params / 1e3:.1f}K | {c.paper_params / 1e3:.0f}K | "
            f"{c.params_diff_pct:+.2f}% | {c.multi_adds / 1e9:.2f}G | {c.paper_multi_adds / 1e9:.1f}G | "
            f"{c.multi_adds_diff_pct:+.2f}%{mark} |"
        )
    lines += [f"[{i}] {n}" for i, n in enumerate(notes, 1)]
    return "\n".join(lines)


# -------------------------------------------------------------------------------------- degrade
def cmd_degrade(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from hpun_edge.imresize import degrade

    in_dir, out_dir = Path(args.in_dir), Path(args.out_dir)
    if not in_dir.is_dir():
        raise DatasetError(f"{in_dir}: no such folder")
    paths = list_images(in_dir)
    if not paths:
        raise DatasetError(f"{in_dir}: no image files in this folder")
    skipped = []
    for path in tqdm(paths, desc=f"degrade x{args.scale}", disable=len(paths) < 20):
        try:
            hr = read_image(path)
            require_scale_fits(path, hr, args.scale)
            write_image(out_dir / (path.stem + ".png"), degrade(hr, args.scale))
        except ImageError as e:
            skipped.append(str(e))
    print(f"wrote {len(paths) - len(skipped)} LR images (x{args.scale}) to {out_dir}")
    return report_skipped(skipped)


def report_skipped(skipped: list[str]) -> int:
    if not skipped:
        return 0
    print(f"skipped {len(skipped)} file(s):", file=sys.stderr)
    for line in skipped:
        print(f"  {line}", file=sys.stderr)
    return 1


# ----------------------------------------------------------------------------------------- eval
def cmd_eval(args: argparse.Namespace) -> int:
    from hpun_edge.evaluate import evaluate_dataset, results_payload, write_json
    from hpun_edge.inference import InferenceOptions

    from .resolve import resolve_upscaler

    opts = InferenceOptions(tile=args.tile, overlap=args.overlap, self_ensemble=args.self_ensemble)
    datasets = [find_dataset(d, args.data) for d in args.dataset]  # fail early on a missing or empty set
    log_dir = Path(args.json).parent if args.json else cache_dir() / "logs"
    results = []
    with quiet(log_dir, args.verbose):
        for scale in args.scale:
            label, upscaler = resolve_upscaler(args.model, scale, opts)
            for ds in datasets:
                results.append(evaluate_dataset(upscaler, ds, scale, model=label, progress=True,
                                                progress_file=CONSOLE.err))
        CONSOLE.print(eval_table(results))
        if args.json:
            write_json(args.json, results_payload(results, opts))
            CONSOLE.print(f"wrote {args.json}")
    skipped = [f"{s['error']}" for r in results for s in r.skipped]
    return report_skipped(sorted(set(skipped)))


def eval_table(results) -> str:
    lines = ["| model | scale | dataset | images | PSNR-Y (dB) | SSIM-Y |", "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r.model} | x{r.scale} | {r.dataset} | {len(r.images)} | {r.psnr_y:.2f} | {r.ssim_y:.4f} |"
        )
    return "\n".join(lines)


# -------------------------------------------------------------------------------------- publish
def cmd_publish(args: argparse.Namespace) -> int:
    from hpun_edge.publish import publish

    dest, card = publish(args.weights, args.dest or _default_dest(), args.dataset, args.data)
    rows = [f"| {name} | {m['psnr_y']:.2f} | {m['ssim_y']:.4f} |" for name, m in card.metrics.items()]
    print("\n".join([f"{card.model} x{card.scale}", "| dataset | PSNR-Y | SSIM-Y |", "|---|---|---|", *rows]))
    print(f"installed {dest}")
    return 0


def _default_dest():
    from hpun_edge.zoo import WEIGHTS_DIR

    return WEIGHTS_DIR


# ------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from hpun_edge.training.cli import register as register_train
    from hpun_edge.training.cli import register_zoo
    from .bench_cli import register as register_bench
    from .pipeline_cli import register as register_pipeline
    from .upscale_cli import register as register_upscale

    p = argparse.ArgumentParser(prog="hpun-edge", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("info", help="parameters and Multi-Adds of every variant beside the paper's")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("degrade", help="write MATLAB-bicubic LR PNGs for a folder of HR images")
    s.add_argument("--scale", type=int, choices=SCALES, required=True)
    s.add_argument("in_dir")
    s.add_argument("out_dir")
    s.set_defaults(func=cmd_degrade)

    s = sub.add_parser("eval", help="PSNR/SSIM (Y) on benchmark sets, as the SR literature reports them")
    s.add_argument("--model", required=True, help="bicubic, a model name (pretrained), or a .safetensors file")
    s.add_argument("--scale", type=int, nargs="+", choices=SCALES, required=True)
    s.add_argument("--dataset", nargs="+", default=["Set5", "Set14", "B100"], help="names under the data root, or folders")
    s.add_argument("--data", default=None, help="data root (default: $HPUN_EDGE_DATA, ./data, ../shared/datasets)")
    s.add_argument("--self-ensemble", action="store_true", help="average the 8 flips/rotations (the paper's '+')")
    s.add_argument("--tile", type=int, default=None, help="LR tile size (default: whole image)")
    s.add_argument("--overlap", type=int, default=16, help="LR pixels of context around each tile")
    s.add_argument("--json", default=None, help="write per-image and mean PSNR/SSIM here")
    s.add_argument("-v", "--verbose", action="store_true",
                   help="show the runtimes' own output (default: in hpun-edge.log beside --json, or the cache)")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("publish", help="measure trained weights on the benchmarks and ship them in the package")
    s.add_argument("weights", help="a .safetensors file written by `hpun-edge train`")
    s.add_argument("--dest", default=None, help="folder to install into (default: hpun_edge/weights)")
    s.add_argument("--dataset", nargs="+", default=["Set5", "Set14", "B100"])
    s.add_argument("--data", default=None, help="data root")
    s.set_defaults(func=cmd_publish)

    register_train(sub)
    register_zoo(sub)
    register_pipeline(sub)
    register_bench(sub)
    register_upscale(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except USER_ERRORS as e:
        print(f"hpun-edge {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hpun-edge {args.command}: interrupted", file=sys.stderr)
        return 130
