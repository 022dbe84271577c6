"""The main job: trained weights -> quantize -> convert per target -> run each artifact -> report.

`run_pipeline(PipelineConfig)` reads top to bottom as its stages. Each artifact is one job; a job
that fails becomes a row with status ``failed`` and its reason, and the others go on. A second run
reuses what is up to date: an artifact whose sidecar matches the request (weights hash, tile,
quantization settings, tool versions) is not exported again, and a measurement whose record
matches the artifact's sha256 and the measuring settings is not repeated (``out/records/``).
Everything under ``out/`` is written atomically.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from quantization.mixed import DEFAULT_FP32_PARTS

from .benchmark import LATENCY_HW, measure_latency, tiled_options
from .evaluate import evaluate_dataset, write_json
from .files import atomic_write_bytes

TARGET_PRECISIONS = {
    "executorch": ("fp32", "int8"),
    "litert": ("fp32", "fp16", "int8"),
    "onnx": ("fp32", "int8"),
    "coreml": ("fp32", "fp16", "int8"),
}
# Exact rewrites each target's int8 graph is built with (chosen by measurement; see README).
# srdsc_fold: HPUN-S x2 PTQ Set5 -0.181 -> -0.153 dB, one 256 tile 6% (ExecuTorch) / 11% (ONNX) faster;
# pud_dilated: LiteRT's int8 conversion fails on the 6-D pixel_unshuffle without it.
INT8_REWRITES = {"executorch": ("srdsc_fold",), "onnx": ("srdsc_fold",), "litert": ("pud_dilated", "srdsc_fold"),
                 "coreml": ()}
RECORD_FORMAT = "hpun-edge-record/1"


@dataclass
class PipelineConfig:
    model: str = "hpun_s"
    scale: int = 2
    weights: str | None = None  # None: the shipped pretrained weights
    targets: tuple[str, ...] = ("executorch", "litert", "onnx", "coreml")
    precisions: tuple[str, ...] = ("fp32", "fp16", "int8")
    methods: tuple[str, ...] = ("qat",)  # for int8: qat and/or ptq
    tile: int = 256  # LR; a 640x360 image is 6 tiles, a B100 image (x2) 1
    overlap: int = 16
    datasets: tuple[str, ...] = ("Set5", "Set14", "B100")
    data_root: str | None = None
    calib_data: str | None = None  # folder of HR images or calibration .safetensors; None: <data root>/train
    calib_count: int = 64
    qat_steps: int = 300  # the setting of the README's int8 table (every QAT row within 0.05 dB)
    qat_lr: float = 1e-4
    qat_batch: int = 8
    qat_loss: str = "l1"  # quantization.pt2e.QAT_LOSSES: l1 (to HR), distill_l1 / distill_mse (to the fp32 model)
    # int8 mixed precision (quantization.mixed.FloatParts words): what stays fp32 in int8 artifacts
    int8_fp32_parts: tuple[str, ...] = DEFAULT_FP32_PARTS
    threads: int = 2
    latency_runs: int = 10
    latency_warmup: int = 3
    latency_budget_s: float = 30.0  # a slow artifact gets fewer timed runs (at least 3; the record says how many)
    out: str = "out"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Job:
    target: str
    precision: str
    method: str  # fp32 / fp16 / ptq / qat

    @property
    def name(self) -> str:
        return self.precision if self.precision != "int8" else f"int8-{self.method}"


def plan_jobs(cfg: PipelineConfig) -> list[Job]:
    jobs = []
    for target in cfg.targets:
        for precision in cfg.precisions:
            if precision not in TARGET_PRECISIONS.get(target, ()):
                continue
            if precision != "int8":
                jobs.append(Job(target, precision, precision))
            elif target == "coreml":
                jobs.append(Job(target, precision, "ptq"))  # weight-only int8: nothing to fine-tune
            else:
                jobs.extend(Job(target, precision, m) for m in cfg.methods)
    return jobs


_T0 = time.monotonic()


def say(line: str) -> None:
    print(f"[{time.monotonic() - _T0:6.0f} s] {line}", file=sys.stderr, flush=True)


def one_line(e: BaseException) -> str:
    from converters.base import one_line as first

    return f"{type(e).__name__}: {first(e)}" if not isinstance(e, ValueError) else first(e)


# ----------------------------------------------------------------------------------- the stages
def run_pipeline(cfg: PipelineConfig) -> dict:
    from converters.base import EvenForward, file_sha256

    from .data import find_dataset
    from .weights import model_from_weights
    from .zoo import pretrained_path

    out = Path(cfg.out)
    check_writable(out)
    t_start = time.monotonic()
    torch.set_num_threads(cfg.threads)

    # 1. model: the trained fp32 weights
    weights = Path(cfg.weights) if cfg.weights else pretrained_path(cfg.model, cfg.scale)
    model = model_from_weights(weights)
    if (model.spec.name, model.scale) != (cfg.model, cfg.scale):
        raise ValueError(f"{weights}: holds {model.spec.name} x{model.scale}, not {cfg.model} x{cfg.scale}")
    weights_sha = file_sha256(weights)
    datasets = [find_dataset(d, cfg.data_root) for d in cfg.datasets]
    qat = qat_config(cfg)

    # 2. PyTorch fp32 through the same tiling: the baseline every delta is taken against
    torch_fp32 = cached_measure(out, f"{cfg.model}_x{cfg.scale}_pytorch_fp32", weights_sha, cfg,
                                lambda: measure_forward(EvenForward(model).eval(), cfg, datasets))
    records = rows_for(cfg, "pytorch", "fp32", "fp32", None, torch_fp32, torch_fp32, status="ok")

    # 3-5. quantize, convert, run: one job per (target, precision[, method])
    quantized_cache: dict = {}
    for job in plan_jobs(cfg):
        say(f"== {cfg.model} x{cfg.scale} {job.target} {job.name}")
        try:
            records += run_job(job, cfg, model, weights, weights_sha, datasets, qat, quantized_cache, torch_fp32, out)
        except Exception as e:  # one target failing does not stop the others
            say(f"   failed: {one_line(e)}")
            if os.environ.get("HPUN_EDGE_DEBUG"):
                traceback.print_exc()
            records += rows_for(cfg, job.target, job.precision, job.method, None, None, torch_fp32,
                                status="failed", reason=one_line(e))

    # 6. report
    from .report import write_reports

    summary = {"config": cfg.to_dict(), "weights": str(weights), "weights_sha256": weights_sha,
               "seconds": round(time.monotonic() - t_start, 1), "records": records}
    write_reports(summary, out)
    return summary


def run_job(job: Job, cfg, model, weights, weights_sha, datasets, qat, cache, torch_fp32, out: Path) -> list[dict]:
    from converters import ExportSpec, export, load_artifact
    from converters.base import SUFFIXES, read_sidecar

    suffix = {v: k for k, v in SUFFIXES.items()}[job.target]
    path = out / "artifacts" / f"{cfg.model}_x{cfg.scale}_{job.target}_{job.name}{suffix}"
    spec = ExportSpec(job.target, cfg.model, cfg.scale, cfg.tile, job.precision, str(weights))
    wanted_q = quant_settings(job, cfg, qat) if job.precision == "int8" else None
    quantized = None
    if not up_to_date(path, spec, weights_sha, wanted_q):
        if job.precision == "int8":
            quantized = get_quantized(job, cfg, model, qat, cache, out)
        say(f"   export {path}")
        export(model, spec, path, quantized=quantized)
    else:
        say(f"   up to date: {path}")
    sidecar = read_sidecar(path)
    ops = ops_summary(sidecar)

    def measure_reference():
        q = quantized or get_quantized(job, cfg, model, qat, cache, out)
        return measure_forward(q.reference, cfg, datasets[:1])  # the agreement check: first dataset

    reference = None
    if job.precision == "int8":  # Core ML's: int8 weights, fp16 compute (quantization.pt2e.HalfCompute)
        say("   measure the fake-quant reference")
        reference = cached_measure(out, path.name + ".reference", sidecar.artifact_sha256, cfg, measure_reference)
    if job.target == "coreml" and sys.platform != "darwin":
        return rows_for(cfg, job.target, job.precision, job.method, sidecar, None, torch_fp32, status="skipped",
                        reason="converted, not run (needs macOS)", ops=ops, reference=reference,
                        problems=sidecar.problems)
    runner, sidecar = load_artifact(path, threads=cfg.threads)
    say("   measure the artifact in its runtime")
    measured = cached_measure(out, path.name, sidecar.artifact_sha256, cfg,
                              lambda: measure_forward(runner, cfg, datasets, latency=True))
    status = "failed" if sidecar.problems else "ok"
    reason = "; ".join(sidecar.problems) if sidecar.problems else None
    return rows_for(cfg, job.target, job.precision, job.method, sidecar, measured, torch_fp32, status=status,
                    reason=reason, ops=ops, reference=reference, problems=sidecar.problems)


# --------------------------------------------------------------------------------- quantization
def qat_config(cfg: PipelineConfig):
    """The QAT settings a pipeline config asks for, as the QATConfig that runs them (a QuantError
    names a bad one). The pipeline, its CLI check and `hpun-edge bench` all take them from here, so
    an artifact one of them made is the one the others look for."""
    from quantization.pt2e import QATConfig

    return QATConfig(steps=cfg.qat_steps, lr=cfg.qat_lr, batch_size=cfg.qat_batch, loss=cfg.qat_loss)


def quant_settings(job: Job, cfg: PipelineConfig, qat) -> dict:
    from quantization.targets import FAMILY

    from quantization.mixed import FloatParts
    from quantization.targets import WEIGHT_ONLY

    # weight-only int8 (Core ML) has no activations to keep in fp32: its settings record none
    parts = [] if job.target in WEIGHT_ONLY else FloatParts.from_names(cfg.int8_fp32_parts).names()
    return {"family": FAMILY[job.target], "method": job.method, "rewrites": list(INT8_REWRITES[job.target]),
            "fp32_parts": parts,
            "calib_count": cfg.calib_count, "qat": asdict(qat) if job.method == "qat" else None}


def get_quantized(job: Job, cfg: PipelineConfig, model, qat, cache: dict, out: Path):
    from quantization.calibration import load_calibration
    from quantization.mixed import FloatParts
    from quantization.pt2e import quantize
    from quantization.targets import FAMILY

    key = (FAMILY[job.target], job.method, INT8_REWRITES[job.target])
    if key not in cache:
        cal = load_calibration(cfg.calib_data, cfg.scale, count=cfg.calib_count, data_root=cfg.data_root)
        train_folder = cal.source if Path(cal.source).is_dir() else None
        parts = FloatParts.from_names(cfg.int8_fp32_parts)
        tag = hashlib.sha256(json.dumps(parts.names()).encode()).hexdigest()[:8] if not parts.empty else "int8"
        # one folder per QAT setting, so a run with another budget or loss starts its own checkpoint
        qat_tag = hashlib.sha256(json.dumps(asdict(qat), sort_keys=True).encode()).hexdigest()[:8]
        ckpt = out / "qat" / f"{cfg.model}_x{cfg.scale}_{key[0]}_{'-'.join(key[2]) or 'plain'}_{tag}_{qat_tag}"
        say(f"   quantize ({job.method}, {key[0]} quantizer, rewrites: {', '.join(key[2]) or 'none'})")
        q = quantize(model, job.target, job.method, cal, rewrites=key[2], qat=qat, train_folder=train_folder,
                     ckpt_dir=ckpt, fp32_parts=parts,
                     say=lambda line: say(f"   {line}"))
        cache[key] = q
    return cache[key]


def up_to_date(path: Path, spec, weights_sha: str, wanted_q: dict | None) -> bool:
    from converters.base import ArtifactError, artifact_digest, read_sidecar, tool_versions, target_module

    if not path.exists():
        return False
    try:
        sc = read_sidecar(path)
    except ArtifactError:
        return False
    have_q = sc.quantization or None
    if have_q is not None:
        have_q = {k: have_q.get(k) for k in ("family", "method", "rewrites", "fp32_parts", "calib_count", "qat")}
    mod = target_module(spec.target)
    return (
        sc.source_sha256 == weights_sha and sc.tile == spec.tile and sc.precision == spec.precision
        and sc.scale == spec.scale and sc.model == spec.model and have_q == wanted_q
        and sc.tool_versions == tool_versions(mod.PACKAGES) and artifact_digest(path)[0] == sc.artifact_sha256
    )


# ---------------------------------------------------------------------------------- measurement
def measure_forward(forward, cfg: PipelineConfig, datasets, latency: bool = False) -> dict:
    """PSNR/SSIM per dataset through the fixed-tile tiling; latency (tile, 640x360) when asked."""
    from .inference import upscale

    opts = tiled_options(cfg.tile, cfg.overlap)

    def upscaler(lr):
        return upscale(forward, lr, cfg.scale, opts)

    result: dict = {"datasets": {}}
    for ds in datasets:
        r = evaluate_dataset(upscaler, ds, cfg.scale, model=cfg.model)
        result["datasets"][ds.name] = {"psnr_y": r.psnr_y, "ssim_y": r.ssim_y, "images": len(r.images),
                                       "skipped": r.skipped}
    if latency:
        run = forward
        result["latency_tile_ms"] = measure_latency(run, cfg.scale, cfg.tile, cfg.overlap, cfg.threads, hw=None,
                                                    runs=cfg.latency_runs, warmup=cfg.latency_warmup,
                                                    budget_s=cfg.latency_budget_s).to_dict()
        result["latency_ms"] = measure_latency(run, cfg.scale, cfg.tile, cfg.overlap, cfg.threads, hw=LATENCY_HW,
                                               runs=cfg.latency_runs, warmup=cfg.latency_warmup,
                                                    budget_s=cfg.latency_budget_s).to_dict()
    return result


def measure_key(cfg: PipelineConfig) -> dict:
    return {"tile": cfg.tile, "overlap": cfg.overlap, "datasets": list(cfg.datasets), "threads": cfg.threads,
            "latency_runs": cfg.latency_runs, "latency_warmup": cfg.latency_warmup,
            "latency_budget_s": cfg.latency_budget_s, "scale": cfg.scale}


def cached_measure(out: Path, name: str, sha: str, cfg: PipelineConfig, compute) -> dict:
    """A measurement of `name` (whose content hash is `sha`), from out/records/ when it matches."""
    path = out / "records" / f"{name}.json"
    key = {"format": RECORD_FORMAT, "sha256": sha, "settings": measure_key(cfg)}
    if path.is_file():
        try:
            data = json.loads(path.read_text())
            if {k: data.get(k) for k in key} == key:
                say(f"   measured before: {path}")
                return data["result"]
        except (ValueError, OSError):
            pass
    result = compute()
    write_json(path, {**key, "result": result})
    return result


def ops_summary(sidecar) -> dict:
    ops = sidecar.ops or {}
    return {"delegated": ops.get("delegated"), "total": ops.get("total"), "fallback": ops.get("fallback", [])}


def rows_for(cfg, target, precision, method, sidecar, measured, torch_fp32, *, status, reason=None, ops=None,
             reference=None, problems=()) -> list[dict]:
    rows = []
    for name in torch_fp32["datasets"]:  # the datasets' own names, in the order asked
        m = (measured or {}).get("datasets", {}).get(name, {})
        base = torch_fp32["datasets"].get(name, {}) if torch_fp32 else {}
        ref = (reference or {}).get("datasets", {}).get(name, {})
        psnr = m.get("psnr_y")
        rows.append({
            "model": cfg.model, "scale": cfg.scale, "target": target, "precision": precision, "method": method,
            "artifact": str(Path(cfg.out) / "artifacts" / sidecar.artifact) if sidecar else None,
            "size_bytes": sidecar.artifact_bytes if sidecar else None,
            "dataset": name, "psnr_y": psnr, "ssim_y": m.get("ssim_y"),
            "psnr_delta_vs_torch_fp32": None if psnr is None or "psnr_y" not in base else psnr - base["psnr_y"],
            "psnr_y_fake_quant": ref.get("psnr_y"),
            "psnr_delta_vs_fake_quant": None if psnr is None or "psnr_y" not in ref else psnr - ref["psnr_y"],
            "latency_ms": (measured or {}).get("latency_ms"),
            "latency_tile_ms": (measured or {}).get("latency_tile_ms"),
            "ops": ops, "problems": list(problems), "status": status, "reason": reason,
            "tile": cfg.tile, "overlap": cfg.overlap,
        })
    return rows


def check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        atomic_write_bytes(probe, lambda tmp: Path(tmp).write_text(""))
        probe.unlink()
    except OSError as e:
        raise ValueError(f"{out}: output folder is not writable ({e.strerror or e})") from None
