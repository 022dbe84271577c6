"""`hpun-edge bench`: the command-line face of `bench.run_bench` (host) and `adb.phone_bench` (phone)."""
from __future__ import annotations

import argparse
from pathlib import Path

from hpun_edge.converters import target_names
from hpun_edge.variants import SCALES, VARIANTS

from .bench import (
    AUTO, POLICY_TILES, RUNNER_TILE, WHOLE, WHOLE_FRAME_SIZES, BenchConfig, default_targets, parse_hw, runner_tile,
)
from .console import CONSOLE, quiet
from .pipeline_cli import add_verbose
from .bench_report import label, summary_lines, table, write_bench_json
from .profiling import profile_markdown


def config_from(args: argparse.Namespace) -> BenchConfig:
    cfg = BenchConfig()
    flags = {
        "models": tuple(args.model) if args.model else None,
        "scale": args.scale, "lr_size": parse_hw(args.lr_size) if args.lr_size else None,
        "targets": tuple(args.targets) if args.targets else None,
        "precisions": tuple(args.precisions) if args.precisions else None, "method": args.method,
        "tile": args.tile, "overlap": args.overlap, "threads": args.threads, "runs": args.runs,
        "warmup": args.warmup, "budget_s": args.budget, "profile": args.profile or None,
        "profile_runs": args.profile_runs, "benchmark_model": args.benchmark_model, "out": args.out,
        "calib_data": args.calib_data, "data_root": args.data_root,
    }
    for k, v in flags.items():
        if v is not None:
            setattr(cfg, k, v)
    if args.no_reference:
        cfg.reference = False
    if args.no_imdn:
        cfg.imdn = False
    if args.native:
        cfg.native = True
    if args.weights:
        if len(cfg.models) != 1:
            raise ValueError("--weights goes with one --model")
        cfg.weights = {cfg.models[0]: args.weights}
    return cfg


def cmd_bench(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    if args.adb is not None:
        from .adb import phone_bench

        if args.targets:
            raise ValueError("--adb runs .pte files through the native runner (and .tflite files through "
                             "--benchmark-model); --targets does not apply")
        runner_tile(cfg.tile)  # a whole-frame request fails here, before adb is looked for
        result = phone_bench(cfg, args.adb or None, runner=args.runner, benchmark_model=args.benchmark_model,
                             results=args.json)
        print(f"| model | target | precision | ms (median / p90) | status |\n|---|---|---|---|---|")
        for r in result["records"]:
            lat = r.get("latency_ms") or {}
            print(f"| {r['model']} | {r['target']} | {label(r)} | {lat.get('median', '-')} / {lat.get('p90', '-')} | "
                  f"{r['status']}{': ' + r['reason'] if r.get('reason') else ''} |")
        print(f"added {len(result['records'])} record(s) for {result['phone']} to {result['results']}")
        return 1 if any(r["status"] == "failed" for r in result["records"]) else 0

    from .bench import run_bench

    with quiet(cfg.out, args.verbose):
        data = run_bench(cfg)
        records = data["records"]
        out = CONSOLE.print
        out(table(records, cfg.models, cfg.lr_size))
        for line in summary_lines(records, cfg.models):
            out(f"- {line}")
        for r in records:
            if r.get("profile"):
                out(f"\n### {r['model']} {r['target']} {r['precision']}\n{profile_markdown(r['profile'])}")
        if args.json:
            path = write_bench_json(data, args.json)
            out(f"wrote {path} (results.json schema) and {Path(path).with_suffix('.md')}")
        return 1 if any(r["status"] == "failed" for r in records) else 0


def register(sub) -> None:
    s = sub.add_parser("bench", help="latency per model x target x precision beside IMDN and a dense 3x3 conv reference; "
                                     "--adb: on an Android phone")
    s.add_argument("--model", nargs="+", choices=list(VARIANTS), help="models (default hpun_s hpun_m); the latency "
                   "ratio is to the last one")
    s.add_argument("--scale", type=int, choices=SCALES, help="default 2")
    s.add_argument("--lr-size", dest="lr_size", help="LR image HEIGHTxWIDTH (default 360x640: 720p output at x2)")
    s.add_argument("--targets", nargs="+", metavar="TARGET",
                   help=f"{' '.join(target_names(include_aliases=True))} (default: {' '.join(default_targets())}, "
                        "the targets whose runtime runs here)")
    s.add_argument("--precisions", nargs="+", help="fp32 fp16 int8 (default fp32 int8)")
    s.add_argument("--method", choices=("ptq", "qat"), help="how int8 artifacts are made (default ptq; the same "
                   "graph; QAT with the pipeline's settings, so `make run`'s artifacts are reused; a quantizer with "
                   "one method uses it)")
    s.add_argument("--weights", help="a .safetensors file (with one --model; default: the shipped weights)")
    sizes = " and ".join(f"{w}x{h}" for h, w in WHOLE_FRAME_SIZES)
    s.add_argument("--tile", help=f"N: fixed LR tiles of N pixels; {WHOLE}: one export at exactly --lr-size, one call; "
                   f"{AUTO} (default): the tiling policy, {WHOLE} for {sizes} LR, else the tile of "
                   f"{'/'.join(map(str, POLICY_TILES))} running the fewest Multi-Adds over the image "
                   f"(benchmarks/measured/tiling_policy.md); HPUN and IMDN alike; with --adb, {AUTO} is {RUNNER_TILE} "
                   "(the C++ runner takes square tiles)")
    s.add_argument("--overlap", type=int, help="LR pixels of context around each tile (default 16)")
    s.add_argument("--threads", type=int, help="runtime threads (default 2)")
    s.add_argument("--runs", type=int, help="timed runs (default 10)")
    s.add_argument("--warmup", type=int, help="warm-up runs (default 3)")
    s.add_argument("--budget", type=float, help="seconds per measurement before runs are cut (default 30, min 3 runs)")
    s.add_argument("--no-reference", dest="no_reference", action="store_true",
                   help="skip the dense 3x3 conv 64->64 references (one conv, and 8 chained)")
    s.add_argument("--no-imdn", dest="no_imdn", action="store_true",
                   help="skip IMDN (the peer network each model's latency is compared with: vs imdn)")
    s.add_argument("--native", action="store_true",
                   help="also time each ExecuTorch program with the C++ runner (built when missing): rows "
                        "<target>-native, compared with their runtime's reference")
    s.add_argument("--profile", action="store_true", help="per-op profile of each artifact, grouped by op kind")
    s.add_argument("--profile-runs", dest="profile_runs", type=int, help="profiled calls (default 3)")
    s.add_argument("--benchmark-model", dest="benchmark_model",
                   help="LiteRT's benchmark_model binary: LiteRT op profiling (host) or .tflite timing (--adb)")
    s.add_argument("--calib-data", dest="calib_data", help="int8 calibration: HR image folder or .safetensors")
    s.add_argument("--data-root", dest="data_root")
    s.add_argument("--out", help="output folder: artifacts are shared with `pipeline` (default out)")
    s.add_argument("--json", help="write the records here (results.json schema) and a .md beside; with --adb: the "
                   "results.json to add the phone's records to (default <out>/results.json)")
    s.add_argument("--adb", nargs="?", const="", default=None, metavar="SERIAL",
                   help="run on an Android phone over adb (the one attached, or SERIAL)")
    s.add_argument("--runner", help="with --adb: the NDK build of hpun_runner")
    add_verbose(s)
    s.set_defaults(func=cmd_bench)
