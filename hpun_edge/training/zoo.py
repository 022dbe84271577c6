"""Train and ship several variants in one run, from a plan file (`hpun-edge train-zoo PLAN.yaml`).

A plan is YAML (or JSON):

    note: "what this budget is"            # copied into every model card
    common: {batch_size: 16, lr: 2.0e-4}   # TrainConfig entries shared by every run
    runs:
      - {model: hpun_m, scale: 2, iterations: 300000}
      - {model: hpun_m, scale: 3, iterations: 100000, init_from_scale: 2}

Runs go in order, each in `<root>/<model>_x<scale>`. A run that has its final weights is not trained
again; one with a checkpoint is resumed, so a killed zoo run is continued by running the same command.
`init_from_scale` starts from the best (else final) weights of the same variant at that scale (all
but the tail).
Each finished run is measured on Set5/Set14/B100 and installed in the package (`publish`), unless the
package already holds those very weights with a complete card.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .checkpoint import checkpoint_record
from .config import config_from_dict, read_config_file


@dataclass(frozen=True)
class ZooRun:
    model: str
    scale: int
    iterations: int
    init_from_scale: int | None = None


@dataclass(frozen=True)
class ZooPlan:
    runs: tuple[ZooRun, ...]
    common: dict[str, Any]
    note: str = ""


def load_plan(path: str | os.PathLike) -> ZooPlan:
    data = read_config_file(path)
    unknown = sorted(set(data) - {"runs", "common", "note"})
    if unknown:
        raise ValueError(f"{path}: unknown plan entries {', '.join(unknown)}; known: common, note, runs")
    runs = []
    for i, entry in enumerate(data.get("runs") or []):
        try:
            runs.append(ZooRun(**entry))
        except TypeError as e:
            raise ValueError(f"{path}: run {i + 1}: {e}") from None
    if not runs:
        raise ValueError(f"{path}: the plan has no runs")
    plan = ZooPlan(tuple(runs), dict(data.get("common") or {}), str(data.get("note") or ""))
    for run in plan.runs:  # every config must be valid before the first run starts
        run_config(plan, run, Path("runs"))
    return plan


def run_dir(root: Path, model: str, scale: int) -> Path:
    return root / f"{model}_x{scale}"


def trained_weights(folder: Path) -> Path:
    """A finished run's weights: the best by validation, or the final ones where it did not validate."""
    best = folder / "best.safetensors"
    return best if best.exists() else folder / "final.safetensors"


def run_config(plan: ZooPlan, run: ZooRun, root: Path, data_root: str | None = None):
    entries = {**plan.common, "model": run.model, "scale": run.scale, "iterations": run.iterations,
               "run_dir": str(run_dir(root, run.model, run.scale))}
    if data_root is not None:
        entries["data_root"] = data_root
    if run.init_from_scale is not None:
        entries["init_from"] = str(trained_weights(run_dir(root, run.model, run.init_from_scale)))
    return config_from_dict(entries, source=f"plan run {run.model} x{run.scale}")


def run_zoo(plan: ZooPlan, root: Path, publish_dest: Path | None, data_root: str | None = None,
            say=print) -> list[Path]:
    """Train (or resume, or skip) every run of `plan`; publish each unless publish_dest is None."""
    from ..publish import installed_path, is_published, publish
    from .loop import train

    shipped = []
    for run in plan.runs:
        cfg = run_config(plan, run, root, data_root)
        folder = cfg.run_path
        if (folder / "final.safetensors").exists():
            say(f"{run.model} x{run.scale}: trained already ({folder})")
            best = trained_weights(folder)
        else:
            if cfg.init_from and not Path(cfg.init_from).exists():
                raise FileNotFoundError(
                    f"{cfg.init_from}: {run.model} x{run.scale} starts from it; put its run earlier in the plan"
                )
            cfg = dataclasses.replace(cfg, resume=checkpoint_record(folder) is not None)
            best = train(cfg)
        if publish_dest is not None and is_published(best, publish_dest):
            say(f"{run.model} x{run.scale}: published already ({installed_path(best, publish_dest)})")
        elif publish_dest is not None:
            dest, card = publish(best, publish_dest, data_root=data_root, note=plan.note)
            say(f"{run.model} x{run.scale}: " + ", ".join(
                f"{k} {m['psnr_y']:.2f}/{m['ssim_y']:.4f}" for k, m in card.metrics.items()) + f" -> {dest}")
            shipped.append(dest)
    return shipped
