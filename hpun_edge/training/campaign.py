"""Warm-restart campaigns (`hpun-edge train-campaign`): one more cosine cycle for each shipped
variant, sized to the GPU time at hand; only a measured improvement replaces what is shipped.

A plan (YAML or JSON; configs/zoo-warm.yaml):

    note: "what this campaign is"          # copied into every model card
    common: {batch_size: 64, patch_size: 64, lr: 2.0e-4}   # TrainConfig entries for every run
    budget_s: 420        # training seconds for all runs together (less if the deadline leaves less)
    fill: 0.9            # the share of the probed steps/s counted on
    overhead_s: 8        # seconds per run outside its timed steps (set-up, capture, validation, saving)
    validations: 4       # validations (raw and EMA) and checkpoints per run
    together: auto       # auto / true / false: step all runs in turn in one process, or one after another
    runs:                # in order: the largest gaps to the paper first
      - {model: hpun_l, scale: 4, share: 1.0}      # share: this run's part of the budget
      - {model: hpun_m, scale: 2, iterations: 30000}  # or a fixed length (not probed)

`train` stage, in `root`: (1) the shipped weights and cards are copied to `root/init` (each run
starts from them: all tensors, tail included, so its card counts every earlier step and cycle);
(2) each run's steps/s is probed with its own settings (and all runs together where `together`
allows), and each run gets `iterations` = rate x budget x share / (sum of shares) x fill, in
hundreds (`campaign.json` records this; a resumed campaign keeps it); (3) the runs train in the
chosen mode, each resumed from its checkpoint or skipped if finished, and stopped with a checkpoint
at the deadline; (4) each run's best weights by validation (raw or EMA) go to `root/cand`.

`accept` stage: every candidate is measured on Set5, Set14 and B100 (`publish`, on `device`) into
`root/measured`; one that beats the shipped card's PSNR-Y on all three replaces the shipped weights
and card; `root/accept.json` records every decision.
"""
from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..files import atomic_write_bytes
from ..weights import ModelCard, card_path
from .config import TrainConfig, config_from_dict, read_config_file

FORMAT = "hpun-edge-campaign/1"
PLAN_KEYS = ("note", "common", "budget_s", "fill", "overhead_s", "validations", "together", "runs")


@dataclass(frozen=True)
class CampaignRun:
    model: str
    scale: int
    share: float = 1.0
    iterations: int | None = None  # a fixed length: not probed, not sized

    @property
    def name(self) -> str:
        return f"{self.model}_x{self.scale}"


@dataclass(frozen=True)
class Campaign:
    runs: tuple[CampaignRun, ...]
    common: dict[str, Any]
    note: str = ""
    budget_s: float = 420.0
    fill: float = 0.9
    overhead_s: float = 8.0
    validations: int = 4
    together: str = "auto"  # auto, true, false


def load_campaign(path: str | Path) -> Campaign:
    """The plan at `path`, every run's settings checked (one-line ValueError) before anything runs."""
    data = read_config_file(path)
    unknown = sorted(set(data) - set(PLAN_KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown plan entries {', '.join(unknown)}; known: {', '.join(PLAN_KEYS)}")
    runs = []
    for i, entry in enumerate(data.get("runs") or []):
        try:
            runs.append(CampaignRun(**entry))
        except TypeError as e:
            raise ValueError(f"{path}: run {i + 1}: {e}") from None
        if not runs[-1].share > 0 or (runs[-1].iterations is not None and runs[-1].iterations < 1):
            raise ValueError(f"{path}: run {i + 1}: share must be > 0 and iterations at least 1")
    if not runs:
        raise ValueError(f"{path}: the plan has no runs")
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: a variant and scale appears twice ({', '.join(sorted(n for n in set(names) if names.count(n) > 1))})")
    together = str(data.get("together", "auto")).lower()
    if together not in ("auto", "true", "false"):
        raise ValueError(f"{path}: together must be auto, true or false, got {data.get('together')!r}")
    plan = Campaign(tuple(runs), dict(data.get("common") or {}), str(data.get("note") or ""),
                    float(data.get("budget_s", 420.0)), float(data.get("fill", 0.9)),
                    float(data.get("overhead_s", 8.0)), int(data.get("validations", 4)), together)
    if not (plan.budget_s > 0 and 0 < plan.fill <= 1 and plan.overhead_s >= 0 and plan.validations >= 1):
        raise ValueError(f"{path}: need budget_s > 0, 0 < fill <= 1, overhead_s >= 0 and validations >= 1")
    for run in plan.runs:
        run_config(plan, run, Path("runs"), run.iterations or 1000, Path("init.safetensors"))
    return plan


def run_config(plan: Campaign, run: CampaignRun, root: Path, iterations: int, init: Path,
               data_root: str | None = None, resume: bool = False) -> TrainConfig:
    """The TrainConfig of one run: the plan's common settings, warm-started from `init`.

    Unless the plan sets a seed, the seed is the number of cycles behind `init`, so that each cycle
    draws other patches than the one before (sample i is a function of (seed, i)).
    """
    from .history import prior_cycles

    every = max(1, math.ceil(iterations / plan.validations))
    seed = len(prior_cycles(str(init), run.model, run.scale)) if Path(init).is_file() else 0
    entries = {"val_every": every, "ckpt_every": every, "seed": seed, **plan.common, "model": run.model, "scale": run.scale,
               "iterations": iterations, "run_dir": str(root / "runs" / run.name), "init_from": str(init),
               "resume": resume}
    if data_root is not None:
        entries["data_root"] = data_root
    return config_from_dict(entries, source=f"campaign run {run.model} x{run.scale}")


def size_iterations(runs: tuple[CampaignRun, ...], rates: dict[str, float], budget_s: float,
                    fill: float) -> dict[str, int]:
    """Steps for each run: fixed ones as given; the others rate x budget x share / shares x fill,
    rounded down to hundreds (at least 100)."""
    shares = sum(r.share for r in runs if r.iterations is None)
    out = {}
    for r in runs:
        if r.iterations is not None:
            out[r.name] = r.iterations
        else:
            out[r.name] = max(100, int(rates[r.name] * budget_s * r.share / shares * fill) // 100 * 100)
    return out


def _state_path(root: Path) -> Path:
    return root / "campaign.json"


def _write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=1) + "\n"
    atomic_write_bytes(path, lambda tmp: Path(tmp).write_text(text))


def _copy(src: Path, dest: Path) -> None:
    atomic_write_bytes(dest, lambda tmp: shutil.copyfile(src, tmp))


def snapshot_shipped(plan: Campaign, shipped: Path, init_dir: Path) -> None:
    """Copy each run's shipped weights and card into `init_dir` (refused before any copy if one is missing)."""
    missing = [str(shipped / f"{r.name}.safetensors") for r in plan.runs if not (shipped / f"{r.name}.safetensors").is_file()]
    if missing:
        raise FileNotFoundError(f"{missing[0]}: no shipped weights to warm-start from ({len(missing)} missing)")
    for r in plan.runs:
        for suffix in (".safetensors", ".json"):
            if (shipped / f"{r.name}{suffix}").is_file():
                _copy(shipped / f"{r.name}{suffix}", init_dir / f"{r.name}{suffix}")


def train_stage(plan: Campaign, root: Path, *, shipped: Path, data_root: str | None, deadline_s: float,
                start: float | None = None, say: Callable[[str], None] = print) -> list[Path]:
    """Size (once), train and collect the candidates of `plan` in `root`; returns the candidates.

    Training stops `deadline_s` seconds after `start` (time.monotonic(); default now); runs cut off
    there keep checkpoints, so the same command continues them.
    """
    import torch

    from .loop import Shared, resolve_device, train_together

    start = time.monotonic() if start is None else start
    root.mkdir(parents=True, exist_ok=True)
    init_dir = root / "init"
    shared = Shared()
    state_file = _state_path(root)
    if state_file.is_file():
        state = json.loads(state_file.read_text())
        if state.get("format") != FORMAT or [r["name"] for r in state["runs"]] != [r.name for r in plan.runs]:
            raise ValueError(f"{state_file}: sized for other runs than this plan's; use another --root")
        say(f"campaign in {root}: continuing ({state['mode']}, sized earlier)")
    else:
        snapshot_shipped(plan, shipped, init_dir)
        state = _size(plan, root, init_dir, data_root, shared, start, deadline_s, say)
        _write_json(state_file, state)
    iterations = {r["name"]: r["iterations"] for r in state["runs"]}
    configs = []
    for r in plan.runs:
        folder = root / "runs" / r.name
        if (folder / "final.safetensors").exists():
            say(f"{r.model} x{r.scale}: trained already ({folder})")
            continue
        resume = (folder / "last.json").is_file()
        configs.append(run_config(plan, r, root, iterations[r.name], init_dir / f"{r.name}.safetensors",
                                  data_root, resume))
    if configs:
        device = resolve_device(configs[0].device)
        say(f"training {len(configs)} run(s) {state['mode']} on {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'the CPU'}, "
            f"until {deadline_s:.0f} s after the start")
        def keep_going(cfg: TrainConfig, error: Exception) -> None:
            text = " ".join(str(error).split())
            say(f"{cfg.model} x{cfg.scale}: stopped by {type(error).__name__}: {text}; the other runs go on")

        train_together(configs, stop_at=start + deadline_s, one_by_one=state["mode"] != "together", shared=shared,
                       keep_going=keep_going)
    return collect_candidates(plan, root, iterations, say)


def _size(plan, root, init_dir, data_root, shared, start, deadline_s, say) -> dict:
    """Probe each run (and all together, where allowed), size the iterations; the campaign.json state."""
    import torch

    from ..data import resolve_data_root
    from .loop import resolve_device
    from .probe import probe

    probe_cfgs = {r.name: run_config(plan, r, root, 10**6, init_dir / f"{r.name}.safetensors", data_root)
                  for r in plan.runs}
    rows, rates, mode = [], {}, "one after another"
    to_probe = [r for r in plan.runs if r.iterations is None]
    if to_probe:
        device = resolve_device(probe_cfgs[to_probe[0].name].device)
        data = []
        for r in to_probe:
            cfg = probe_cfgs[r.name]
            folder = Path(cfg.data) if cfg.data else resolve_data_root(cfg.data_root) / "train"
            images = shared.images(folder, cfg.scale, cfg.patch_size, progress=True, report=say)
            data.append((cfg, images, shared.on_device(images, device) if cfg.engine != "eager" else None))
        for cfg, images, dev in data:
            [res] = probe([cfg], [images], device, steps=30, warmup=6, data=[dev])
            rows.append(dataclasses.asdict(res))
            rates[f"{cfg.model}_x{cfg.scale}"] = res.steps_per_s
            say(f"probe {cfg.model} x{cfg.scale}: {res.steps_per_s:.1f} steps/s of {cfg.batch_size}x{cfg.patch_size} "
                f"({res.mode}, peak {res.peak_gib:.1f} GiB)")
        if plan.together != "false" and len(data) > 1:
            total = torch.cuda.get_device_properties(device).total_memory / 2**30 if device.type == "cuda" else math.inf
            need = sum(row["peak_gib"] for row in rows)
            if need < 0.85 * total:
                res = probe([c for c, _, _ in data], [im for _, im, _ in data], device, steps=10, warmup=6,
                            data=[d for _, _, d in data])
                rows += [dataclasses.asdict(x) for x in res]
                seq = sum(c.batch_size for c, _, _ in data) / sum(1 / rates[f"{c.model}_x{c.scale}"] for c, _, _ in data)
                tog = res[0].steps_per_s * sum(c.batch_size for c, _, _ in data)
                say(f"probe all {len(data)} together: {tog:.0f} samples/s; one after another {seq:.0f} samples/s")
                if plan.together == "true" or tog > seq:
                    mode, rates = "together", {k: res[0].steps_per_s for k in rates}
            else:
                say(f"not probed together: about {need:.0f} GiB needed, {total:.0f} GiB on the device")
    left = deadline_s - (time.monotonic() - start) - plan.overhead_s * len(plan.runs)
    budget = min(plan.budget_s, left)
    if budget <= 0 and to_probe:
        raise ValueError(f"no time left to train: {deadline_s:.0f} s deadline, {time.monotonic() - start:.0f} s "
                         f"spent before training, {plan.overhead_s:.0f} s overhead per run")
    if mode == "together":  # one step of each per round: every run gets the same number of steps
        n = max(100, int(next(iter(rates.values())) * budget * plan.fill) // 100 * 100)
        iterations = {r.name: (r.iterations or n) for r in plan.runs}
    else:
        iterations = size_iterations(plan.runs, rates, budget, plan.fill)
    for r in plan.runs:
        say(f"{r.model} x{r.scale}: {iterations[r.name]} iterations")
    return {"format": FORMAT, "mode": mode, "budget_s": round(budget, 1), "fill": plan.fill, "probe": rows,
            "runs": [{"name": r.name, "model": r.model, "scale": r.scale, "iterations": iterations[r.name],
                      "rate": rates.get(r.name)} for r in plan.runs],
            "sized_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def collect_candidates(plan: Campaign, root: Path, iterations: dict[str, int], say=print) -> list[Path]:
    """Copy each run's best (else final) weights and card to root/cand; unfinished runs only if they
    validated (their best so far)."""
    out = []
    for r in plan.runs:
        folder = root / "runs" / r.name
        src = folder / "best.safetensors"
        if not src.exists():
            src = folder / "final.safetensors"
        if not src.exists():
            say(f"{r.model} x{r.scale}: no candidate (not trained yet)")
            continue
        dest = root / "cand" / f"{r.name}.safetensors"
        _copy(src, dest)
        _copy(card_path(src), card_path(dest))
        done = (folder / "final.safetensors").exists()
        card = ModelCard.from_json(card_path(src).read_text())
        val = ", ".join(f"{k} {m['psnr_y']:.3f}" for k, m in card.metrics.items())
        say(f"{r.model} x{r.scale}: candidate {dest} ({'cycle done' if done else f'cycle unfinished, of {iterations[r.name]} steps'}; "
            f"{card.iterations} steps in {card.extra.get('cycle_count', 1)} cycles{'; ' + val if val else ''})")
        out.append(dest)
    return out


def accept_stage(cand_dir: Path, root: Path, *, shipped: Path, bench_root: str | None, device: str | None,
                 note: str = "", datasets=("Set5", "Set14", "B100"), say=print) -> list[dict]:
    """Measure every candidate in `cand_dir`; install those that beat the shipped card on all `datasets`."""
    from ..publish import installed_path, is_published, publish

    candidates = sorted(cand_dir.glob("hpun_*_x?.safetensors"))
    if not candidates:
        raise FileNotFoundError(f"{cand_dir}: no candidate weights (hpun_*_x?.safetensors) there")
    measured, decisions = root / "measured", []
    for cand in candidates:
        if is_published(cand, measured, datasets):
            card = ModelCard.from_json(card_path(installed_path(cand, measured)).read_text())
        else:
            _, card = publish(cand, measured, datasets, data_root=bench_root, note=note, device=device)
        name = f"{card.model}_x{card.scale}"
        shipped_card = shipped / f"{name}.json"
        old = ModelCard.from_json(shipped_card.read_text()).metrics if shipped_card.is_file() else {}
        gains = {ds: round(card.metrics[ds]["psnr_y"] - old[ds]["psnr_y"], 4) if ds in old else None for ds in datasets}
        accepted = all(g is None or g > 0 for g in gains.values())
        if accepted:
            _copy(measured / f"{name}.safetensors", shipped / f"{name}.safetensors")
            _copy(measured / f"{name}.json", shipped / f"{name}.json")
        decisions.append({"name": name, "accepted": accepted, "gains_db": gains, "metrics": card.metrics,
                          "shipped_before": old, "iterations": card.iterations,
                          "cycles": card.extra.get("cycle_count")})
        worse = [ds for ds, g in gains.items() if g is not None and g <= 0]
        say(f"{card.model} x{card.scale}: " + ", ".join(
            f"{ds} {card.metrics[ds]['psnr_y']:.4f} ({'+' if (g or 0) > 0 else ''}{g if g is not None else 'new'})"
            for ds, g in gains.items()) + (" -> shipped" if accepted else f" -> kept the shipped weights (not better on {', '.join(worse)})"))
    _write_json(root / "accept.json", decisions)
    return decisions
