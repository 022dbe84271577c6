"""`hpun-edge upscale`: people's own photos through a shipped model, weights, or an exported artifact.

    hpun-edge upscale INPUT... [--model hpun_s|hpun_m|hpun_l | WEIGHTS.safetensors | ARTIFACT]
                      [--scale S] [--out DIR] [--tile N --overlap M] [--self-ensemble] [--threads T]

Files and folders (recursively); one PNG per photo, by default in an ``upscaled/`` folder beside it
(`hpun_edge.photo.plan_outputs`), written band by band and atomically (`hpun_edge.upscaler`): EXIF
orientation applied, alpha upscaled apart (bicubic) and reattached, 16-bit in gives 16-bit out,
gray stays gray, CMYK becomes RGB, the ICC profile is carried. An artifact runs in its own runtime
at its own tile, as in `eval`. A photo that cannot be read or written is skipped with one line; the
run goes on and exits 1 listing the skipped ones. The runtimes' output goes to ``hpun-edge.log`` in
the output folder (``-v``: on the terminal).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from tqdm import tqdm

from hpun_edge.photo import PhotoError, plan_outputs
from hpun_edge.upscaler import upscale_many
from hpun_edge.variants import SCALES

from .console import CONSOLE, quiet
from .pipeline_cli import add_verbose
from .resolve import resolve_network

DEFAULT_TILE = 256  # a PyTorch model's tile (LR pixels): memory bounded by a band of these
DEFAULT_OVERLAP = 16


def cmd_upscale(args: argparse.Namespace) -> int:
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    if args.overlap < 0:
        raise ValueError(f"--overlap must be at least 0, got {args.overlap}")
    jobs = plan_outputs(args.inputs, args.out)  # PhotoError: an output would overwrite an input
    if not jobs:
        raise PhotoError(f"{' '.join(args.inputs)}: no photos found (files or folders of "
                         "png, jpg, jpeg, bmp, tif, tiff, webp)")
    log_dir = Path(args.out) if args.out else jobs[0][1].parent
    with quiet(log_dir, args.verbose):
        net = resolve_network(args.model, args.scale, args.threads, purpose="--scale")
        tile = args.tile if args.tile is not None or net.fixed_tile is not None else DEFAULT_TILE
        opts = net.options(tile, args.overlap, args.self_ensemble)
        bars: dict[Path, tqdm] = {}

        def progress(src: Path, done: int, total: int) -> None:
            bar = bars.get(src)
            if bar is None:
                bar = bars[src] = tqdm(total=total, desc=src.name, unit="tile", file=CONSOLE.err, leave=False)
            bar.update(done - bar.n)
            if done == total:
                bar.close()

        result = upscale_many(net.forward, jobs, net.scale, opts, progress,
                              on_skip=lambda src, line: CONSOLE.say(f"skipped: {line}"))
        for bar in bars.values():
            bar.close()
        what = f"{net.label} x{net.scale}, tile {opts.tile} overlap {opts.overlap}"
        CONSOLE.print(result.summary(what + (", self-ensemble" if opts.self_ensemble else "")))
        for r in result.results:
            CONSOLE.print(f"  {r.source} -> {r.destination}")
        if result.skipped:
            CONSOLE.say(f"skipped {len(result.skipped)} file(s):")
            for _, line in result.skipped:
                CONSOLE.say(f"  {line}")
            return 1
    return 0


def register(sub) -> None:
    s = sub.add_parser("upscale", help="upscale your own photos (files or folders) with a model, weights or artifact")
    s.add_argument("inputs", nargs="+", metavar="INPUT", help="photos, or folders searched recursively")
    s.add_argument("--model", default="hpun_s",
                   help="hpun_s, hpun_m, hpun_l (shipped weights), a .safetensors file, or an artifact "
                        "(.pte, .tflite, .onnx) with its sidecar (default hpun_s)")
    s.add_argument("--scale", type=int, choices=SCALES,
                   help="for a model name (default 2); weights and artifacts have their own")
    s.add_argument("--out", help="output folder (default: an upscaled/ folder beside each photo)")
    s.add_argument("--tile", type=int, help=f"LR tile (default {DEFAULT_TILE}; an artifact runs its own)")
    s.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP,
                   help=f"LR pixels of context around each tile (default {DEFAULT_OVERLAP})")
    s.add_argument("--self-ensemble", action="store_true", help="average the 8 flips/rotations of each tile")
    s.add_argument("--threads", type=int, help="CPU threads (default: torch's)")
    add_verbose(s)
    s.set_defaults(func=cmd_upscale)
