"""The main job: trained weights -> quantize -> convert per target -> run each artifact -> report.

`run_pipeline(PipelineConfig)` reads top to bottom as its stages. Each artifact is one job (a
target, a precision, an int8 method; `config.plan_jobs` derives them from the target registry); a
job that fails becomes a row with status ``failed`` and its reason, and the others go on. A second
run reuses what is up to date: an artifact whose sidecar's build key matches the request
(`artifacts.ArtifactMaker`), and a measurement whose record matches the artifact's sha256 and the
measuring settings (``out/records/``). Everything under ``out/`` is written atomically.
"""
from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path

import torch

from hpun_edge.converters import get_target, load_artifact, read_sidecar
from hpun_edge.converters.base import ArtifactError, one_line as first_line
from hpun_edge.data import find_dataset
from hpun_edge.evaluate import evaluate_dataset, write_json
from hpun_edge.files import atomic_write_bytes
from hpun_edge.inference import upscale
from hpun_edge.model import EvenForward
from hpun_edge.weights import model_from_weights
from hpun_edge.zoo import pretrained_path

from .artifacts import ArtifactMaker
from .config import Job, PipelineConfig, check_config, plan_jobs
from .console import CONSOLE
from .latency import LATENCY_HW, measure_latency, tiled_options
from .pictures import write_pictures
from .references import BICUBIC_TARGET, bicubic_sha256, measure_bicubic

RECORD_FORMAT = "hpun-edge-record/1"
_T0 = time.monotonic()


def say(line: str) -> None:
    """A progress line on the terminal (the runtimes' own output goes to the log: `console`)."""
    CONSOLE.say(f"[{time.monotonic() - _T0:6.0f} s] {line}")


def one_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {first_line(e)}" if not isinstance(e, ValueError) else first_line(e)


def load_network(cfg: PipelineConfig):
    """(the trained fp32 HPUN, its weights file): the config's weights, else the shipped ones."""
    weights = Path(cfg.weights) if cfg.weights else pretrained_path(cfg.model, cfg.scale)
    model = model_from_weights(weights)
    if (model.spec.name, model.scale) != (cfg.model, cfg.scale):
        raise ValueError(f"{weights}: holds {model.spec.name} x{model.scale}, not {cfg.model} x{cfg.scale}")
    return model, weights


def artifact_maker(cfg: PipelineConfig, model, weights: Path, hw: tuple[int, int] | None = None) -> ArtifactMaker:
    """The pipeline's artifacts of `model`: ``<out>/artifacts/<model>_x<s>_<target>_<job>`` at the
    config's tile; with `hw` (LR height, width), whole-frame ones: ``<model>_x<s>_<w>x<h>_<target>_<job>``."""
    stem = f"{cfg.model}_x{cfg.scale}" + (f"_{hw[1]}x{hw[0]}" if hw else "")
    return ArtifactMaker(model, cfg, weights=weights, folder=Path(cfg.out) / "artifacts", stem=stem,
                         hw=tuple(hw) if hw else None, say=say)


# ----------------------------------------------------------------------------------- the stages
def run_pipeline(cfg: PipelineConfig) -> dict:
    cfg = check_config(cfg)
    out = Path(cfg.out)
    check_writable(out)
    t_start = time.monotonic()
    torch.set_num_threads(cfg.threads)

    # 1. model: the trained fp32 weights; the datasets and calibration data, checked before any long work
    model, weights = load_network(cfg)
    datasets = [find_dataset(d, cfg.data_root) for d in cfg.datasets]
    maker = artifact_maker(cfg, model, weights)
    maker.check_inputs(plan_jobs(cfg))

    # 2. PyTorch fp32 through the same tiling: the baseline every delta is taken against
    torch_fp32 = cached_measure(out, f"{cfg.model}_x{cfg.scale}_pytorch_fp32", maker.weights_sha, cfg,
                                lambda: measure_forward(EvenForward(model).eval(), cfg, datasets))
    records = rows_for(cfg, "pytorch", "fp32", "fp32", None, torch_fp32, torch_fp32, status="ok")
    bicubic = cached_measure(out, f"bicubic_x{cfg.scale}", bicubic_sha256(), cfg,
                             lambda: measure_bicubic(cfg.scale, datasets))  # the reference below every model
    records += rows_for(cfg, BICUBIC_TARGET, "fp64", "bicubic", None, bicubic, torch_fp32, status="ok")

    # 3-5. quantize, convert, run: one job per (target, precision[, method])
    for job in plan_jobs(cfg):
        say(f"== {cfg.model} x{cfg.scale} {job.target} {job.name}")
        try:
            records += run_job(job, cfg, maker, datasets, torch_fp32)
        except Exception as e:  # one target failing does not stop the others
            say(f"   failed: {one_line(e)}")
            if os.environ.get("HPUN_EDGE_DEBUG"):
                traceback.print_exc()
            records += rows_for(cfg, job.target, job.precision, job.method, None, None, torch_fp32,
                                status="failed", reason=one_line(e))

    # 6. pictures: a few crops, every artifact's output and its difference to PyTorch fp32 (app.pictures)
    pictures = write_pictures(out, cfg, EvenForward(model).eval(), datasets, records, maker.weights_sha, say=say)

    # 7. report
    from .report import portable_path, write_reports

    summary = {"config": cfg.to_dict(), "weights": portable_path(str(weights), out),
               "weights_sha256": maker.weights_sha,
               "seconds": round(time.monotonic() - t_start, 1), "records": records, "pictures": pictures}
    write_reports(summary, out)
    return summary


def run_job(job: Job, cfg: PipelineConfig, maker: ArtifactMaker, datasets, torch_fp32) -> list[dict]:
    target = get_target(job.target)
    missing = target.available()
    if missing:
        raise ArtifactError(missing)
    path = maker.artifact(job)
    sidecar = read_sidecar(path)
    ops = ops_summary(sidecar)
    reference = None
    if job.precision == "int8":  # Core ML's: int8 weights, fp16 compute (quantization.pt2e.HalfCompute)
        say("   measure the fake-quant reference")
        reference = cached_measure(Path(cfg.out), path.name + ".reference", sidecar.artifact_sha256, cfg,
                                   lambda: measure_forward(maker.reference(job, sidecar), cfg, datasets[:1]))
    if not target.runs_here():
        return rows_for(cfg, job.target, job.precision, job.method, sidecar, None, torch_fp32, status="skipped",
                        reason=target.not_here, ops=ops, reference=reference, problems=sidecar.problems)
    runner, sidecar = load_artifact(path, threads=cfg.threads)
    say("   measure the artifact in its runtime")
    measured = cached_measure(Path(cfg.out), path.name, sidecar.artifact_sha256, cfg,
                              lambda: measure_forward(runner, cfg, datasets, latency=True))
    status = "failed" if sidecar.problems else "ok"
    reason = "; ".join(sidecar.problems) if sidecar.problems else None
    return rows_for(cfg, job.target, job.precision, job.method, sidecar, measured, torch_fp32, status=status,
                    reason=reason, ops=ops, reference=reference, problems=sidecar.problems)


# ---------------------------------------------------------------------------------- measurement
def measure_forward(forward, cfg: PipelineConfig, datasets, latency: bool = False) -> dict:
    """PSNR/SSIM per dataset through the fixed-tile tiling; latency (tile, 640x360) when asked."""
    opts = tiled_options(cfg.tile, cfg.overlap)

    def upscaler(lr):
        return upscale(forward, lr, cfg.scale, opts)

    result: dict = {"datasets": {}}
    for ds in datasets:
        r = evaluate_dataset(upscaler, ds, cfg.scale, model=cfg.model)
        result["datasets"][ds.name] = {"psnr_y": r.psnr_y, "ssim_y": r.ssim_y, "images": len(r.images),
                                       "skipped": r.skipped}
    if latency:
        timing = dict(runs=cfg.latency_runs, warmup=cfg.latency_warmup, budget_s=cfg.latency_budget_s,
                      min_runs=cfg.latency_min_runs)
        result["latency_tile_ms"] = measure_latency(forward, cfg.scale, cfg.tile, cfg.overlap, cfg.threads, hw=None,
                                                    **timing).to_dict()
        result["latency_ms"] = measure_latency(forward, cfg.scale, cfg.tile, cfg.overlap, cfg.threads,
                                               hw=LATENCY_HW, **timing).to_dict()
    return result


def measure_key(cfg: PipelineConfig) -> dict:
    return {"tile": cfg.tile, "overlap": cfg.overlap, "datasets": list(cfg.datasets), "threads": cfg.threads,
            "latency_runs": cfg.latency_runs, "latency_warmup": cfg.latency_warmup,
            "latency_budget_s": cfg.latency_budget_s, "latency_min_runs": cfg.latency_min_runs, "scale": cfg.scale}


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
            "artifact": f"artifacts/{sidecar.artifact}" if sidecar else None,  # relative to the output folder
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
