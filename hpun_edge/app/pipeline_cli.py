"""`hpun-edge pipeline` and `hpun-edge quantize`: the command-line faces of `pipeline.run_pipeline`.

Settings: `PipelineConfig` defaults < ``--config FILE.yaml`` < flags. The settings a run used are
saved beside its outputs (``<out>/config.yaml``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from hpun_edge.converters import target_names
from hpun_edge.files import atomic_write_bytes
from hpun_edge.quantization import DEFAULT_FP32_PARTS
from hpun_edge.quantization.shipped import QAT_STATE_CHOICES
from hpun_edge.training.config import read_config_file
from hpun_edge.variants import SCALES, VARIANTS

from .config import PipelineConfig, check_config
from .console import CONSOLE, quiet
from .pipeline import run_pipeline
from .report import markdown

TUPLES = {"targets", "precisions", "methods", "datasets", "int8_fp32_parts"}


def config_from(args: argparse.Namespace, base: PipelineConfig | None = None) -> PipelineConfig:
    cfg = base or PipelineConfig()
    known = {f.name: f for f in dataclasses.fields(PipelineConfig)}
    if getattr(args, "config", None):
        data = read_config_file(args.config)
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"{args.config}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        cfg = dataclasses.replace(cfg, **{k: tuple(v) if k in TUPLES else v for k, v in data.items()})
    flags = {k: v for k, v in vars(args).items() if k in known and v is not None}
    cfg = dataclasses.replace(cfg, **{k: tuple(v) if k in TUPLES else v for k, v in flags.items()})
    check_config(cfg)
    return cfg


def save_config(cfg: PipelineConfig, out: Path) -> None:
    text = "".join(f"{k}: {json.dumps(list(v) if isinstance(v, tuple) else v)}\n" for k, v in cfg.to_dict().items())
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "config.yaml", lambda tmp: Path(tmp).write_text(text))


def add_common(s: argparse.ArgumentParser) -> None:
    s.add_argument("--config", help="YAML file of PipelineConfig settings; flags override it")
    s.add_argument("--model", choices=list(VARIANTS))
    s.add_argument("--scale", type=int, choices=SCALES)
    s.add_argument("--weights", help="a .safetensors file (default: the shipped pretrained weights)")
    s.add_argument("--tile", type=int, help="fixed LR tile every artifact is exported at (default 256)")
    s.add_argument("--overlap", type=int, help="LR pixels of context around each tile (default 16)")
    s.add_argument("--datasets", nargs="+", help="benchmark sets (default Set5 Set14 B100)")
    s.add_argument("--data-root", dest="data_root")
    s.add_argument("--calib-data", dest="calib_data",
                   help="folder of HR training images or a calibration .safetensors (default <data root>/train)")
    s.add_argument("--calib-count", dest="calib_count", type=int, help="calibration patches (default 64)")
    s.add_argument("--qat-steps", dest="qat_steps", type=int, help="QAT fine-tuning steps (default 300)")
    s.add_argument("--qat-lr", dest="qat_lr", type=float, help="QAT learning rate, cosine to 0 (default 1e-4)")
    s.add_argument("--qat-loss", dest="qat_loss",
                   help="what QAT fine-tunes towards: l1 (the HR patch), distill_l1 or distill_mse (the fp32 "
                        "model's output)")
    s.add_argument("--qat-state", dest="qat_state", choices=QAT_STATE_CHOICES,
                   help="shipped (default): for the shipped weights, the QAT state shipped beside them where it "
                        "matches the run's quantization (hpun_edge/weights/qat); fine-tune: fine-tune here with the "
                        "--qat-* settings")
    s.add_argument("--int8-fp32-parts", dest="int8_fp32_parts", nargs="*",
                   help="what int8 models keep in fp32: residual_adds mean_shift module:<regex> "
                        "(default: " + " ".join(DEFAULT_FP32_PARTS) + "; give the flag alone for int8 everywhere)")
    s.add_argument("--threads", type=int, help="runtime threads for accuracy and latency (default 2)")
    s.add_argument("--latency-runs", dest="latency_runs", type=int, help="timed runs (default 10)")
    s.add_argument("--out", help="output folder (default out)")
    add_verbose(s)


def add_verbose(s: argparse.ArgumentParser) -> None:
    s.add_argument("-v", "--verbose", action="store_true",
                   help="show the runtimes' own output on the terminal (default: in <out>/hpun-edge.log)")


def cmd_pipeline(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    save_config(cfg, Path(cfg.out))
    with quiet(cfg.out, args.verbose):
        summary = run_pipeline(cfg)
        return finish(summary, cfg)


def cmd_quantize(args: argparse.Namespace) -> int:
    base = PipelineConfig(targets=(args.target,), precisions=("int8",), methods=(args.method,))
    cfg = config_from(args, base)
    if cfg.out == PipelineConfig.out:
        cfg.out = f"out/quantize/{cfg.model}_x{cfg.scale}_{cfg.targets[0]}_{args.method}"
    save_config(cfg, Path(cfg.out))
    with quiet(cfg.out, args.verbose):
        summary = run_pipeline(cfg)
        return finish(summary, cfg)


def finish(summary: dict, cfg: PipelineConfig) -> int:
    CONSOLE.print(markdown(summary))
    out = Path(cfg.out)
    CONSOLE.print(f"report: {out / 'report.md'} (and report.html, results.json); runtime output: "
                  f"{CONSOLE.log_path or 'on the terminal (-v)'}")
    failed = [r for r in summary["records"] if r["status"] == "failed"]
    return 1 if failed else 0


def register(sub) -> None:
    s = sub.add_parser("pipeline", help="quantize, convert to every installed target, run, time and report (make run)")
    add_common(s)
    s.add_argument("--targets", nargs="+", metavar="TARGET",
                   help=f"{' '.join(target_names())} (default: all; also {' '.join(target_names(include_aliases=True)[len(target_names()):])})")
    s.add_argument("--precisions", nargs="+", help="fp32 fp16 int8 (default: all each target has)")
    s.add_argument("--methods", nargs="+", help="int8 methods: qat ptq (default: each quantizer's own, QAT for XNNPACK and "
                   "LiteRT and the own kernels; for the shipped weights their QAT states are shipped: --qat-state)")
    s.set_defaults(func=cmd_pipeline)

    s = sub.add_parser("quantize", help="PTQ or QAT int8 for one target; writes the model and its accuracy record")
    add_common(s)
    s.add_argument("--method", choices=("ptq", "qat"), required=True)
    s.add_argument("--target", required=True, help=f"one of {', '.join(target_names(include_aliases=True))}")
    s.set_defaults(func=cmd_quantize)
