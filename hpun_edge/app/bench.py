"""`hpun-edge bench`: latency of each model x target x precision, beside dense-conv references.

A view of the pipeline: every artifact it times is the pipeline's (`artifacts.ArtifactMaker`, the
same code path and cache keys as `hpun-edge pipeline`: a `make run`'s artifacts are reused and vice
versa), and so are the references, which are peer networks (`hpun_edge.peers`) exported whole-frame
by the same maker into ``<out>/bench``. One run measures, with the same threads and warm-up/run
counts:

* each model's artifact on an LR image of ``lr_size`` (default 640x360) under the tiling policy
  (`policy_tile`: one whole-frame export at exactly ``lr_size`` for the sizes users run most, else
  the fixed-size crop-and-stitch tiling the report uses; ``tile`` overrides it; `latency.measure_latency`);
* IMDN (`hpun_edge.peers.IMDN`, seeded random weights) at the run's scale, per target and precision
  where it converts, under the same tiling: the network a user would pick instead. Each model row
  gets its latency ratio to IMDN's row (``imdn_ratio``; for a target that converts HPUN only,
  ``executorch-fused``, IMDN's row on the first target of its runtime, ExecuTorch XNNPACK), and for
  the first model that ratio again with the two artifacts timed in alternation;
* per runtime and precision, ONE dense 3x3 conv 64->64 over the whole ``lr_size`` map (the issue's
  yardstick: its rate, Multi-Adds / latency, is what dense convolution achieves in that runtime now)
  and EIGHT such convs chained with relu (the rate inside a network, the stricter yardstick);
* the latency ratio of each model to the last one listed, again with the two models' artifacts timed
  in alternation (``interleaved``), since this VM's speed drifts by 5-10% between rows.

``--native`` adds, for every ExecuTorch row, the same .pte timed by the C++ runner (``hpun_runner``,
`native`), as target ``<target>-native``. ``--profile`` adds each artifact's per-op profile. The
figures (`bench_report`) are printed; goals are the reader's to judge.
"""
from __future__ import annotations

import os
import platform
import statistics
import time
import traceback
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from hpun_edge.complexity import conv_macs_per_lr_pixel
from hpun_edge.converters import TARGETS, get_target, load_artifact, read_sidecar
from hpun_edge.peers import CHAIN, CHAIN_SPEC, CONV_SPEC, IMDN_SPEC, DenseConvReference, conv_multi_adds, create_peer
from hpun_edge.variants import check_scale, get_variant
from hpun_edge.zoo import create_model

from .artifacts import ArtifactMaker
from .config import Job, PipelineConfig, int8_methods, plan_jobs
from .latency import Latency, count_tiles, measure_latency, percentile, time_calls
from .native import build_runner, run_runner
from .pipeline import artifact_maker, load_network, one_line, ops_summary, say

BENCH_DATASET = "latency"
REF_MODELS = (CONV_SPEC.name, CHAIN_SPEC.name)
IMDN = IMDN_SPEC.name
NATIVE_SUFFIX = "-native"  # --native rows: the target's .pte timed by the C++ runner

# The tiling policy (benchmarks/measured/tiling_policy.md): one whole-frame export at exactly the LR
# size for the sizes users run most (640x360 and 1280x720 LR: 720p and 1440p output at x2); any other
# size through fixed tiles (overlap 16) of the POLICY_TILES size that runs the fewest Multi-Adds over
# it (tiles x tile^2; on a tie the larger tile: fewer calls).
WHOLE, AUTO = "whole", "auto"
WHOLE_FRAME_SIZES = ((360, 640), (720, 1280))
POLICY_TILES = (256, 368, 512)
POLICY_OVERLAP = 16


def fewest_macs_tile(hw: tuple[int, int], overlap: int = POLICY_OVERLAP) -> int:
    """The POLICY_TILES size whose tiles run the fewest Multi-Adds over an LR image of `hw`
    (tiles x tile^2, an image smaller than a tile padded up to it); the larger one on a tie."""
    return min(reversed(POLICY_TILES), key=lambda t: count_tiles(*hw, t, overlap) * t * t)


def policy_tile(hw: tuple[int, int], overlap: int = POLICY_OVERLAP) -> int | None:
    """The policy's tile for an LR image of `hw` (height, width): None for one whole-frame export."""
    return None if tuple(hw) in WHOLE_FRAME_SIZES else fewest_macs_tile(hw, overlap)


RUNNER_TILE = 256  # the C++ runner's (phones') tile under "auto": it runs square programs only


def runner_tile(tile: int | str | None) -> int | str:
    """The tile setting for the C++ runner on a phone (square tiles only): ``auto`` is RUNNER_TILE;
    a whole-frame request is refused in one line."""
    if tile is None or tile == WHOLE:
        raise ValueError(f"--adb: the C++ runner takes square tiles; --tile {WHOLE} does not apply (give --tile N)")
    return RUNNER_TILE if tile == AUTO else tile


def resolve_tile(tile: int | str | None, hw: tuple[int, int], overlap: int = POLICY_OVERLAP) -> int | None:
    """A tile setting as the bench runs it: an int (fixed tiles), None (whole frame) for ``whole``,
    `policy_tile` for ``auto``."""
    if tile == AUTO:
        return policy_tile(hw, overlap)
    if tile is None or tile == WHOLE:
        return None
    if isinstance(tile, str):
        try:
            return int(tile)
        except ValueError:
            raise ValueError(f"--tile {tile!r}: expected an even number of LR pixels, {WHOLE} or {AUTO}") from None
    return tile


def default_targets() -> tuple[str, ...]:
    """Every registered target whose runtime runs here."""
    return tuple(name for name, t in TARGETS.items() if t.runs_here())


@dataclass
class BenchConfig:
    models: tuple[str, ...] = ("hpun_s", "hpun_m")
    scale: int = 2
    lr_size: tuple[int, int] = (360, 640)  # LR height, width
    targets: tuple[str, ...] = field(default_factory=default_targets)
    precisions: tuple[str, ...] = ("fp32", "int8")
    method: str = "ptq"  # int8 artifacts: ptq (fast) or qat (the pipeline's QAT settings); same int8 graph
    tile: int | str | None = AUTO  # LR tile; "whole" / None: one whole-frame export at lr_size; "auto": policy_tile
    overlap: int = 16
    threads: int = 2
    runs: int = 10
    warmup: int = 3
    budget_s: float = 30.0  # per measurement; a slow one gets fewer runs (at least 3), recorded
    reference: bool = True  # the dense 3x3 conv 64->64 references (one conv, 8 chained) per runtime x precision
    imdn: bool = True  # IMDN at the run's scale per target x precision, and each model's latency ratio to it
    native: bool = False  # also time each ExecuTorch program with the C++ runner
    profile: bool = False  # per-op profile of each artifact (hpun_edge.app.profiling)
    profile_runs: int = 3
    benchmark_model: str | None = None  # a host LiteRT benchmark_model binary: LiteRT op profiling
    out: str = "out"
    weights: dict[str, str] = field(default_factory=dict)  # model -> .safetensors (default: shipped)
    calib_data: str | None = None
    data_root: str | None = None
    calib_count: int = 64

    def to_dict(self) -> dict:
        d = asdict(self)
        d["models"], d["targets"], d["precisions"] = list(self.models), list(self.targets), list(self.precisions)
        d["lr_size"] = list(self.lr_size)
        return d


def parse_hw(text: str) -> tuple[int, int]:
    """'360x640' -> (360, 640): LR height x width."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--lr-size {text!r}: expected HEIGHTxWIDTH in LR pixels, e.g. 360x640") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"--lr-size {text!r}: sizes must be positive")
    return h, w


def check_config(cfg: BenchConfig) -> BenchConfig:
    """Every setting checked before any work (one line naming a bad one); target aliases resolved."""
    if not cfg.models:
        raise ValueError("no model given (--model hpun_s hpun_m)")
    for m in cfg.models:
        check_scale(get_variant(m), cfg.scale)
    targets = tuple(dict.fromkeys(get_target(t).name for t in cfg.targets))
    for p in cfg.precisions:
        if p not in ("fp32", "fp16", "int8"):
            raise ValueError(f"unknown precision {p!r}; valid: fp32, fp16, int8")
    if not any(p in get_target(t).precisions for t in targets for p in cfg.precisions):
        raise ValueError(f"none of the targets {', '.join(targets)} has precision(s) {', '.join(cfg.precisions)}")
    if cfg.method not in ("ptq", "qat"):
        raise ValueError(f"unknown int8 method {cfg.method!r}; valid: ptq, qat")
    h, w = cfg.lr_size
    tile = resolve_tile(cfg.tile, (h, w), cfg.overlap)
    if tile is None and (h % 2 or w % 2):
        raise ValueError(f"--tile {WHOLE}: a whole-frame export needs an even LR size (pixel_unshuffle), not {w}x{h}; "
                         "give --tile N")
    if tile is not None and (tile % 2 or tile <= 2 * cfg.overlap):
        raise ValueError(f"tile {tile} must be even and exceed twice the overlap {cfg.overlap}")
    if cfg.runs < 1 or cfg.warmup < 1 or cfg.threads < 1:
        raise ValueError("--runs, --warmup and --threads must be at least 1")
    if cfg.benchmark_model and not Path(cfg.benchmark_model).is_file():
        raise FileNotFoundError(f"{cfg.benchmark_model}: no such benchmark_model binary")
    for name, path in cfg.weights.items():
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such weights file (--weights for {name})")
    return replace(cfg, targets=targets, lr_size=tuple(cfg.lr_size), tile=tile)


def pipeline_config(cfg: BenchConfig, model: str) -> PipelineConfig:
    """The pipeline settings the bench's artifacts of `model` are made with (so they are the pipeline's);
    whole-frame runs keep the pipeline's default tile, which their artifacts (made at ``lr_size``) do not use."""
    tile = resolve_tile(cfg.tile, tuple(cfg.lr_size), cfg.overlap)
    return PipelineConfig(model=model, scale=cfg.scale, weights=cfg.weights.get(model), targets=cfg.targets,
                          precisions=tuple(cfg.precisions), methods=(cfg.method,),
                          tile=PipelineConfig.tile if tile is None else tile, overlap=cfg.overlap,
                          data_root=cfg.data_root, calib_data=cfg.calib_data, calib_count=cfg.calib_count,
                          threads=cfg.threads, latency_runs=cfg.runs, latency_warmup=cfg.warmup,
                          latency_budget_s=cfg.budget_s, out=cfg.out)


def reference_target(target: str) -> str:
    """The target whose dense-conv references a row is compared with: the first of its runtime's."""
    runtime = get_target(target.removesuffix(NATIVE_SUFFIX)).runtime
    return next(t.name for t in TARGETS.values() if t.runtime == runtime)


def imdn_target(target: str) -> str:
    """The target of the IMDN row that a model row on `target` is compared with: the same target, or
    for one that converts HPUN only (``executorch-fused``) the first of its runtime's (``executorch``,
    XNNPACK); a ``-native`` row's is the same target's ``-native`` row."""
    base = target.removesuffix(NATIVE_SUFFIX)
    spec = get_target(base)
    name = reference_target(base) if spec.hpun_only else spec.name
    return name + (NATIVE_SUFFIX if target.endswith(NATIVE_SUFFIX) else "")


def imdn_jobs(cfg: BenchConfig) -> list[Job]:
    """IMDN's artifacts for the run: per target (`imdn_target` of each) and precision it has; int8 by PTQ
    (random weights: nothing to fine-tune; the same int8 graph as QAT's)."""
    jobs = []
    for target in dict.fromkeys(imdn_target(t) for t in cfg.targets):
        for precision in cfg.precisions:
            if precision in get_target(target).precisions:
                method = int8_methods(target, ("ptq",))[0] if precision == "int8" else precision
                jobs.append(Job(target, precision, method))
    return jobs


def macs_per_lr_pixel(model: str, scale: int) -> float:
    return conv_macs_per_lr_pixel(create_model(model, scale))


def reference_macs(hw: tuple[int, int], model: str = CONV_SPEC.name) -> float:
    return DenseConvReference.macs(hw, CHAIN if model == CHAIN_SPEC.name else 1)


def gmacs_per_s(macs: float | None, ms: float | None) -> float | None:
    if not macs or not ms:
        return None
    return macs / (ms * 1e-3) / 1e9


# -------------------------------------------------------------------------------------- records
def base_record(cfg: BenchConfig, model: str, target: str, precision: str, method: str, *, role: str) -> dict:
    """A bench row before measurement; `role`: ``model`` (HPUN), ``peer`` (IMDN: tiled as the models),
    ``reference`` (a dense-conv reference, whole-frame). ``tile`` None: one whole-frame call."""
    tile = resolve_tile(cfg.tile, tuple(cfg.lr_size), cfg.overlap)
    return {
        "model": model, "scale": cfg.scale if role != "reference" else 1, "target": target, "precision": precision,
        "method": method, "artifact": None, "size_bytes": None, "dataset": BENCH_DATASET, "psnr_y": None,
        "ssim_y": None, "psnr_delta_vs_torch_fp32": None, "latency_ms": None, "ops": None, "status": "ok",
        "reason": None, "bench_role": role, "tile": tile if role != "reference" else None,
        "overlap": cfg.overlap if role != "reference" and tile is not None else None,
    }


def mark_failed(rec: dict, e: BaseException) -> None:
    """A measurement that raised becomes a `failed` row with a one-line reason; the bench goes on."""
    say(f"   failed: {one_line(e)}")
    if os.environ.get("HPUN_EDGE_DEBUG"):
        traceback.print_exc()
    rec.update(status="failed", reason=one_line(e))


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"summary": f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.machine()}",
            "cpu": cpu, "cpu_count": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__}


# ---------------------------------------------------------------------------------------- models
def measure_model(cfg: BenchConfig, runner) -> dict:
    """The latency of one LR image of ``lr_size``: through the fixed-size tiling, or one whole-frame call."""
    return measure_latency(runner, cfg.scale, cfg.tile, cfg.overlap, cfg.threads, hw=tuple(cfg.lr_size),
                           runs=cfg.runs, warmup=cfg.warmup, budget_s=cfg.budget_s).to_dict()


def whole_hw(cfg: BenchConfig) -> tuple[int, int] | None:
    """The input size of whole-frame artifacts (None when the run tiles)."""
    return tuple(cfg.lr_size) if cfg.tile is None else None


def model_makers(cfg: BenchConfig):
    """(model name, its pipeline config, its artifact maker) for every model of the bench."""
    for name in cfg.models:
        pcfg = pipeline_config(cfg, name)
        model, weights = load_network(pcfg)
        yield name, pcfg, artifact_maker(pcfg, model, weights, hw=whole_hw(cfg))


def peer_maker(cfg: BenchConfig, name: str) -> ArtifactMaker:
    """The maker of a peer timed as the models are (IMDN), at the run's scale and tiling:
    ``<out>/bench/<peer>_x<s>_<target>_<job>`` at the tile, ``<peer>_x<s>_<w>x<h>_...`` whole-frame."""
    hw = whole_hw(cfg)
    pcfg = replace(pipeline_config(cfg, cfg.models[0]), methods=("ptq",))
    stem = f"{name}_x{cfg.scale}" + (f"_{hw[1]}x{hw[0]}" if hw else "")
    return ArtifactMaker(create_peer(name, cfg.scale), pcfg, weights=None, folder=Path(cfg.out) / "bench", stem=stem,
                         hw=hw, say=say)


def tile_macs(cfg: BenchConfig, maker: ArtifactMaker) -> float:
    """Multi-Adds of one call of the network's artifact (a tile, or the whole frame)."""
    h, w = cfg.lr_size
    hw = (h, w) if cfg.tile is None else (cfg.tile, cfg.tile)
    if hasattr(maker.network, "forward_features"):  # HPUN: Multi-Adds per LR pixel
        return macs_per_lr_pixel(maker.name, cfg.scale) * hw[0] * hw[1]
    return conv_multi_adds(maker.network, hw)


def bench_model(cfg: BenchConfig, name: str, pcfg: PipelineConfig, maker: ArtifactMaker) -> list[dict]:
    """One row per pipeline job of `name`, then (--native) the ExecuTorch rows again in the C++ runner."""
    return bench_network(cfg, name, maker, plan_jobs(pcfg), "model", macs_per_lr_pixel(name, cfg.scale) *
                         cfg.lr_size[0] * cfg.lr_size[1])


def bench_imdn(cfg: BenchConfig, maker: ArtifactMaker) -> list[dict]:
    """IMDN's rows (`imdn_jobs`), made and measured as the models' are."""
    return bench_network(cfg, IMDN, maker, imdn_jobs(cfg), "peer", conv_multi_adds(maker.network, tuple(cfg.lr_size)))


def bench_network(cfg: BenchConfig, name: str, maker: ArtifactMaker, jobs: list[Job], role: str,
                  multi_adds: float) -> list[dict]:
    """One row per job: the artifact made (or reused) by `maker` and timed on ``lr_size`` under the
    run's tiling; ``macs_executed`` counts the tiles' overlap. Then (--native) the ExecuTorch rows
    again in the C++ runner."""
    per_call = tile_macs(cfg, maker)
    records = []
    for job in jobs:
        rec = base_record(cfg, name, job.target, job.precision, job.method, role=role)
        rec["multi_adds"] = multi_adds
        say(f"== bench {name} x{cfg.scale} {job.target} {job.name}")
        target = get_target(job.target)
        try:
            path = maker.artifact(job)
            sidecar = read_sidecar(path)
            rec.update(artifact=str(path), size_bytes=sidecar.artifact_bytes, ops=ops_summary(sidecar))
            if not target.runs_here():
                rec.update(status="skipped", reason=target.not_here)
                records.append(rec)
                continue
            runner, sidecar = load_artifact(path, threads=cfg.threads)
            say("   measure")
            rec["latency_ms"] = measure_model(cfg, runner)
            rec["macs_executed"] = per_call * rec["latency_ms"]["tiles"]  # tiles with their overlap
            if sidecar.problems:
                rec.update(status="failed", reason="; ".join(sidecar.problems))
            if cfg.profile:
                from .profiling import profile_artifact

                say("   profile")
                rec["profile"] = profile_artifact(path, threads=cfg.threads, runs=cfg.profile_runs,
                                                  model=target.fp32_module(maker.network),
                                                  benchmark_model=cfg.benchmark_model)
        except Exception as e:  # one artifact failing does not stop the others
            mark_failed(rec, e)
        records.append(rec)
    if cfg.native:
        records += [bench_native(cfg, r) for r in list(records)
                    if get_target(r["target"]).runtime == "executorch" and r.get("artifact")]
    order = {t: i for i, t in enumerate(dict.fromkeys([*cfg.targets, *(j.target for j in jobs)]))}
    order.update({t + NATIVE_SUFFIX: i + 0.5 for t, i in list(order.items())})
    return sorted(records, key=lambda r: order.get(r["target"], len(order)))  # stable: the targets' order


_RUNNER: list = []  # the host hpun_runner, built (incrementally) once per process


def native_runner() -> Path:
    if not _RUNNER:
        say("   build the native runner (incremental)")
        _RUNNER.append(build_runner("host"))
    return _RUNNER[0]


def bench_native(cfg: BenchConfig, py: dict) -> dict:
    """The same .pte as the Python row `py`, timed by the C++ runner on the same image and tiling.
    The runner synthesises its input (seeded); the tiling, and so the work, is the Python path's."""
    rec = base_record(cfg, py["model"], py["target"] + NATIVE_SUFFIX, py["precision"], py["method"],
                      role=py["bench_role"])
    for k in ("artifact", "size_bytes", "ops", "multi_adds"):
        rec[k] = py.get(k)
    say(f"== bench {py['model']} x{cfg.scale} {rec['target']} {py['precision']}")
    if cfg.tile is None:
        h, w = cfg.lr_size
        rec.update(status="skipped", reason=f"the C++ runner takes square tiles, not a whole-frame {w}x{h} program "
                                            "(timed in Python only; give --tile N)")
        return rec
    try:
        runner = native_runner()
        say("   measure (hpun_runner)")
        got = run_runner(runner, py["artifact"], scale=cfg.scale, tile=cfg.tile, overlap=cfg.overlap,
                         threads=cfg.threads, warmup=cfg.warmup, runs=cfg.runs, input_hw=tuple(cfg.lr_size),
                         model_name=py["model"], precision=py["precision"], method=py["method"], target=rec["target"],
                         timeout=max(600.0, 20 * cfg.budget_s))
        rec["latency_ms"] = got["latency_ms"]
        rec["runtime"] = got.get("runtime")
        if py.get("macs_executed") and py.get("latency_ms"):  # per call, from the Python row: the same tiles
            rec["macs_executed"] = py["macs_executed"] / py["latency_ms"]["tiles"] * rec["latency_ms"]["tiles"]
        problems = read_sidecar(py["artifact"]).problems
        if problems:
            rec.update(status="failed", reason="; ".join(problems))
    except Exception as e:
        mark_failed(rec, e)
    return rec


# ------------------------------------------------------------------------------------ references
def reference_maker(cfg: BenchConfig, name: str) -> ArtifactMaker:
    """The pipeline's maker for a whole-frame peer: ``<out>/bench/<peer>_<w>x<h>_<target>_<precision>``."""
    h, w = cfg.lr_size
    pcfg = replace(pipeline_config(cfg, cfg.models[0]), methods=("ptq",))
    return ArtifactMaker(create_peer(name), pcfg, weights=None, folder=Path(cfg.out) / "bench",
                         stem=f"{name}_{w}x{h}", hw=(h, w), say=say)


def measure_reference(cfg: BenchConfig, runner) -> dict:
    x = torch.rand(1, CONV_SPEC.in_channels, *cfg.lr_size, generator=torch.Generator().manual_seed(0))
    times, warm = time_calls(lambda: runner(x), cfg.runs, cfg.warmup, cfg.budget_s)
    return Latency(round(statistics.median(times), 3), round(percentile(times, 90), 3), list(cfg.lr_size),
                   cfg.threads, len(times), warm, 1).to_dict()


def bench_reference(cfg: BenchConfig, target: str, precision: str, name: str = CONV_SPEC.name) -> dict:
    method = int8_methods(target, ("ptq",))[0] if precision == "int8" else precision
    rec = base_record(cfg, name, target, precision, method, role="reference")
    rec["multi_adds"] = reference_macs(tuple(cfg.lr_size), name)
    say(f"== bench reference {name} {target} {precision}")
    spec = get_target(target)
    try:
        if not spec.runs_here():
            rec.update(status="skipped", reason=spec.not_here)
            return rec
        path = reference_maker(cfg, name).artifact(Job(target, precision, method))
        runner, sidecar = load_artifact(path, threads=cfg.threads)
        rec.update(artifact=str(path), size_bytes=sidecar.artifact_bytes)
        say("   measure")
        rec["latency_ms"] = measure_reference(cfg, runner)
        rec["gmacs_per_s"] = gmacs_per_s(rec["multi_adds"], rec["latency_ms"]["median"])
    except Exception as e:
        mark_failed(rec, e)
    return rec


# ----------------------------------------------------------------------------- S/M in alternation
def median_ms(r: dict) -> float | None:
    return (r.get("latency_ms") or {}).get("median") if r.get("status") == "ok" else None


def add_interleaved(cfg: BenchConfig, records: list[dict], models: tuple[str, ...]) -> None:
    """For every target x precision where the first and the last model both ran: their latency
    ratio again, the two artifacts timed in alternation (`interleaved_ratio`), on the first model's
    ``latency_ratio`` as ``interleaved``; a pair that cannot be rerun gets the reason instead."""
    if len(models) < 2:
        return
    rows = {(r["model"], r["target"], r["precision"]): r for r in records if r.get("bench_role") == "model"}
    for (model, target, precision), first in rows.items():
        last = rows.get((models[-1], target, precision))
        if model != models[0] or last is None or median_ms(first) is None or median_ms(last) is None:
            continue
        say(f"== bench {models[0]} / {models[-1]} interleaved: {target} {precision}")
        try:
            first["latency_ratio"]["interleaved"] = interleaved_ratio(cfg, first, last)
        except Exception as e:
            first["latency_ratio"]["interleaved"] = {"value": None, "reason": one_line(e)}


def add_imdn_interleaved(cfg: BenchConfig, records: list[dict], model: str) -> None:
    """For every row of `model` with an ``imdn_ratio`` whose two rows both ran: the ratio again with the
    two artifacts timed in alternation (``imdn_ratio.interleaved``), or the reason it could not be."""
    for r in records:
        ir = r.get("imdn_ratio")
        if r.get("bench_role") != "model" or r["model"] != model or not ir or ir.get("value") is None:
            continue
        other = next(o for o in records if o.get("bench_role") == "peer" and o["model"] == IMDN
                     and o["target"] == ir["target"] and o["precision"] == r["precision"])
        say(f"== bench {model} / {IMDN} interleaved: {r['target']} / {other['target']} {r['precision']}")
        try:
            ir["interleaved"] = interleaved_ratio(cfg, r, other)
        except Exception as e:
            ir["interleaved"] = {"value": None, "reason": one_line(e)}


def interleaved_ratio(cfg: BenchConfig, first: dict, last: dict) -> dict:
    """Latency of `first` over `last` with the two timed in alternation, ``cfg.runs`` rounds of one
    whole image each (after one untimed call each): the ratio of the two medians, and the median
    of the per-round ratios. Python-runtime rows run through `measure_latency`'s tiling; the C++
    runner's rows alternate runner calls of one timed run after one warm-up run."""
    if first["target"].endswith(NATIVE_SUFFIX):
        def timer(r):
            def once() -> float:
                got = run_runner(native_runner(), r["artifact"], scale=cfg.scale, tile=cfg.tile, overlap=cfg.overlap,
                                 threads=cfg.threads, warmup=1, runs=1, input_hw=tuple(cfg.lr_size),
                                 model_name=r["model"], precision=r["precision"], method=r["method"],
                                 target=r["target"], timeout=max(600.0, 20 * cfg.budget_s))
                return got["latency_ms"]["median"]
            return once
    else:
        def timer(r):
            runner, _ = load_artifact(r["artifact"], threads=cfg.threads)

            def once() -> float:
                return measure_latency(runner, cfg.scale, cfg.tile, cfg.overlap, cfg.threads, hw=tuple(cfg.lr_size),
                                       runs=1, warmup=1).median
            return once

    a, b = timer(first), timer(last)
    ta, tb = [], []
    for _ in range(cfg.runs):
        ta.append(a())
        tb.append(b())
    return {"value": statistics.median(ta) / statistics.median(tb), "rounds": cfg.runs,
            "paired_median": statistics.median(x / y for x, y in zip(ta, tb)),
            "medians_ms": [round(statistics.median(ta), 3), round(statistics.median(tb), 3)]}


# ------------------------------------------------------------------------------------------- run
def run_bench(cfg: BenchConfig) -> dict:
    """Every model x target x precision and the references per runtime x precision, in one run."""
    from .bench_report import add_derived

    cfg = check_config(cfg)
    torch.set_num_threads(cfg.threads)
    t0 = time.monotonic()
    makers = list(model_makers(cfg))  # every model's weights loaded and checked before any work
    for _, pcfg, maker in makers:
        maker.check_inputs(plan_jobs(pcfg))
    imdn = peer_maker(cfg, IMDN) if cfg.imdn else None
    if imdn is not None:
        imdn.check_inputs(imdn_jobs(cfg))
    records: list[dict] = []
    for name, pcfg, maker in makers:
        records += bench_model(cfg, name, pcfg, maker)
    if imdn is not None:
        records += bench_imdn(cfg, imdn)
    if cfg.reference:  # per runtime: a target is measured against its runtime's reference
        wanted = {(reference_target(t), p) for t in cfg.targets for p in cfg.precisions
                  if p in get_target(t).precisions}
        for target in dict.fromkeys(reference_target(t) for t in cfg.targets):
            for precision in cfg.precisions:
                if (target, precision) in wanted and precision in get_target(target).precisions:
                    records += [bench_reference(cfg, target, precision, m) for m in REF_MODELS]
    add_derived(records, cfg.models)
    add_interleaved(cfg, records, cfg.models)
    add_imdn_interleaved(cfg, records, cfg.models[0])
    return {"kind": "bench", "config": cfg.to_dict(), "machine": machine(),
            "seconds": round(time.monotonic() - t0, 1), "records": records}


def bench_model_artifacts(cfg: BenchConfig):
    """(model name, job, artifact path, sidecar) for every model x target x precision, made as needed
    (the phone bench pushes these)."""
    for name, pcfg, maker in model_makers(check_config(cfg)):
        for job in plan_jobs(pcfg):
            path = maker.artifact(job)
            yield name, job, path, read_sidecar(path)

