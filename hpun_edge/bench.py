"""`hpun-edge bench`: latency of each model x target x precision beside a dense-conv reference.

One run exports (or reuses) every artifact it needs, then measures, with the same threads and the
same warm-up/run counts:

* each model's artifact on an LR image of ``lr_size`` (default 640x360) through the fixed-size
  crop-and-stitch tiling the report uses (`benchmark.measure_latency`);
* per target and precision, a reference artifact: ONE dense 3x3 convolution 64->64 on a
  64-channel map of the whole ``lr_size`` (one call, no tiling). Its rate, Multi-Adds / latency, is
  what dense convolution achieves in that runtime on this machine right now, as the issue measured
  it: a program of one conv, so its time includes the runtime's boundary work on a 64-channel map
  (in ExecuTorch: XNNPACK's NCHW -> NHWC conversions in and out, which a network pays once);
* and a second, stricter reference: EIGHT such convs chained (each followed by relu, HPUN-M's
  body convs), the same map, one call: the rate dense convolution reaches inside a network
  (``chain`` rows; their Multi-Adds are the eight convs'). ``x ideal`` against it is reported beside
  the first (``x_dense_chain_ideal``).

Rows are measured one after another, so a ratio of two of them also measures how the machine drifted
between them (5-10% on this 2-vCPU VM, enough to turn 0.59 into 0.54). So the S/M ratio is measured
again with the two models' artifacts timed in alternation (``interleaved``: one whole image each,
``runs`` rounds after a warm-up call each, the ratio of the medians); the goal's verdict uses it.

From these: effective GMAC/s = Multi-Adds (at ``lr_size``, the paper's convention: convolutions
only) / latency; the dense-rate ideal = Multi-Adds / reference rate; ``x ideal`` = latency / ideal
(the goal for HPUN-S fp32: <= 2); and the latency ratio of each model to the last model listed
(``--model hpun_s hpun_m``: S/M, goal <= 0.55 on the best target, Multi-Adds ratio 0.43).

Model artifacts are the pipeline's (``<out>/artifacts/<model>_x<s>_<target>_<precision>``, the
same freshness check): a pipeline run's artifacts are reused and vice versa. int8 artifacts are
made by `pipeline.get_quantized` (default PTQ: the same int8 graph as QAT, so the same latency).
``executorch-fused`` (not in the default targets) is the project's own kernel path: the .pte
exported from ``fused_module(model)`` (converters/custom_ops.py and the exact rewrites of
``FUSED_REWRITES``: each HPUN block is two or three of the project's kernels (``FUSED_VARIANT``),
the dense convs, head and tail XNNPACK,
channels-last inside); in int8, from ``fused_int8(cfg, model).module`` (quantization/fused_int8.py:
the same blocks with the SRDSC 1x1 convs in int8, PTQ on the bench's calibration patches,
``FUSED_VARIANT_INT8``; its eager forward is the fake-quant reference),
written to ``<out>/artifacts/<model>_x<s>_executorch-fused_<precision>.pte`` with an ExecuTorch sidecar and
run by ``executorch.runtime`` after ``load_runtime_kernels()`` (the kernel library is built with
CMake into ``out/build/hpun_kernels`` when missing, incrementally otherwise). Its dense-conv
reference is ExecuTorch's: the same runtime.

``--native`` (``BenchConfig.native``) adds, for every .pte row, the same artifact timed by the C++
runner ``hpun_runner`` (`hpun_edge.native`, built incrementally into ``build/native-host``; it links
the kernel library) on the same image size and tiling: targets ``executorch-native`` and
``executorch-fused-native``, compared with the (Python-runtime) ExecuTorch reference.

The reference artifacts live in ``<out>/bench/`` with a sidecar like any artifact, and are loaded
with `converters.load_artifact`. Records follow the results.json schema (`report.validate_record`),
with dataset ``"latency"`` and extra keys.
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

REF_MODEL = "conv3x3_64to64"
REF_CHAIN = 8  # the in-network reference: this many dense convs (each + relu) in one program
REF_CHAIN_MODEL = f"conv3x3_64to64_chain{REF_CHAIN}"
REF_MODELS = (REF_MODEL, REF_CHAIN_MODEL)
REF_CHANNELS = 64
REF_KERNEL = 3
DEFAULT_TARGETS = ("executorch", "litert", "onnx") + (("coreml",) if sys.platform == "darwin" else ())
BENCH_DATASET = "latency"
FUSED_TARGET = "executorch-fused"
# Bench-only targets: target -> (the artifact's converter target, whose dense-conv reference applies; precisions)
BENCH_TARGETS = {FUSED_TARGET: ("executorch", ("fp32", "int8"))}
# --native: the .pte rows again, timed by the C++ runner (hpun_runner, links native/kernels) instead of Python
NATIVE_TARGETS = {"executorch": "executorch-native", FUSED_TARGET: f"{FUSED_TARGET}-native"}
# exact rewrites the fused export also takes (quantization/rewrites.py): the SRDSC self-residual adds
# folded into the weights, measured 8% faster for HPUN-S, 2% for HPUN-M (README, Speed)
FUSED_REWRITES = ("srdsc_fold",)
FUSED_VARIANT = (f'ChannelsLastHPUN(apply_fused_pud(apply_rewrites(model, {FUSED_REWRITES!r}), pointwise=True)): '
                 'the project\'s kernels (native/kernels) per block: hpun::fused_pub.out '
                 "(a whole PUB: PUD with its 1x1 conv and relu, folded SRDSC(5) and the residual add, in one pass), "
                 "hpun::fused_pud_pw_add.out (HPUB front block: PUD with its 1x1 conv and the residual add "
                 "after XNNPACK's dense conv), hpun::pw_relu_pud_pw_add.out (HPUN-S front block: folded SRDSC(1), "
                 "relu, PUD with its 1x1 conv and the residual add in one pass); dense convs, head and tail "
                 "XNNPACK; channels-last inside, add_mean folded into the tail conv, the pixel shuffle and the "
                 "NCHW output one permute")
# int8: quantization/fused_int8.py (PTQ on the bench's calibration patches), the same blocks with the
# SRDSC 1x1 convs in int8 (hpun::pw_relu_pud_pw_add_q8.out, hpun::fused_pub_q8.out) and the body's dense
# convs in XNNPACK int8
FUSED_VARIANT_INT8 = (f"ChannelsLastHPUN(apply_int8_blocks(apply_rewrites(model, {FUSED_REWRITES!r}), ranges, "
                      "out_ranges)): the fp32 variant's blocks with the SRDSC 1x1 convs in int8 (W8A8: static "
                      "per-tensor input, per-channel weights, int32 sums, float output): "
                      "hpun::pw_relu_pud_pw_add_q8.out (HPUN-S front block), hpun::fused_pub_q8.out (every PUB), "
                      "hpun::fused_pud_pw_add.out (HPUB front block, fp32, after its dense conv); the body's dense "
                      "3x3 convs (body tail, HPUB's) XNNPACK int8 (QC8, int8 in and out); head, tail and the rest "
                      "fp32 as in the fp32 variant")
S_OVER_M_GOAL = 0.55
DENSE_IDEAL_GOAL = 2.0


@dataclass
class BenchConfig:
    models: tuple[str, ...] = ("hpun_s", "hpun_m")
    scale: int = 2
    lr_size: tuple[int, int] = (360, 640)  # LR height, width
    targets: tuple[str, ...] = DEFAULT_TARGETS
    precisions: tuple[str, ...] = ("fp32", "int8")
    method: str = "ptq"  # int8 artifacts: ptq (fast) or qat; same int8 graph either way
    tile: int = 256
    overlap: int = 16
    threads: int = 2
    runs: int = 10
    warmup: int = 3
    budget_s: float = 30.0  # per measurement; a slow one gets fewer runs (at least 3), recorded
    reference: bool = True  # the dense 3x3 conv 64->64 references (one conv, 8 chained) per target x precision
    native: bool = False  # also time each .pte with the C++ runner (targets executorch-native, executorch-fused-native)
    profile: bool = False  # per-op profile of each artifact (hpun_edge.profiling)
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


def mark_failed(rec: dict, e: BaseException) -> None:
    """A measurement that raised becomes a `failed` row with a one-line reason; the bench goes on."""
    from .pipeline import one_line

    say(f"   failed: {one_line(e)}")
    if os.environ.get("HPUN_EDGE_DEBUG"):
        traceback.print_exc()
    rec.update(status="failed", reason=one_line(e))


def parse_hw(text: str) -> tuple[int, int]:
    """'360x640' -> (360, 640): LR height x width."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--lr-size {text!r}: expected HEIGHTxWIDTH in LR pixels, e.g. 360x640") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"--lr-size {text!r}: sizes must be positive")
    return h, w


def say(line: str) -> None:
    from .pipeline import say as pipeline_say

    pipeline_say(line)


# ------------------------------------------------------------------------------------ arithmetic
def macs_per_lr_pixel(model: str, scale: int) -> float:
    from .complexity import conv_macs_per_lr_pixel
    from .zoo import create_model

    return conv_macs_per_lr_pixel(create_model(model, scale))


def reference_macs(hw: tuple[int, int], model: str = REF_MODEL) -> float:
    convs = REF_CHAIN if model == REF_CHAIN_MODEL else 1
    return float(convs * REF_CHANNELS * REF_CHANNELS * REF_KERNEL * REF_KERNEL * hw[0] * hw[1])


def gmacs_per_s(macs: float | None, ms: float | None) -> float | None:
    if not macs or not ms:
        return None
    return macs / (ms * 1e-3) / 1e9


def ideal_ms(macs: float | None, gmacs_per_s: float | None) -> float | None:
    """The latency `macs` would take at a rate of `gmacs_per_s`."""
    return None if not macs or not gmacs_per_s else macs / (gmacs_per_s * 1e9) * 1e3


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def median_ms(r: dict) -> float | None:
    return (r.get("latency_ms") or {}).get("median") if r.get("status") == "ok" else None


def reference_target(target: str) -> str:
    """The target whose dense-conv reference a row is compared with (a bench-only target: its runtime's)."""
    for base, native in NATIVE_TARGETS.items():
        if target == native:
            target = base
    return BENCH_TARGETS[target][0] if target in BENCH_TARGETS else target


def target_precisions(target: str) -> tuple[str, ...]:
    from .pipeline import TARGET_PRECISIONS

    return BENCH_TARGETS[target][1] if target in BENCH_TARGETS else TARGET_PRECISIONS.get(target, ())


def add_derived(records: list[dict], models: tuple[str, ...]) -> None:
    """Fill in, on the model records, the dense-conv rate of the same target x precision, the ideal
    latency at that rate, ``x ideal`` (against the single-conv reference, the issue's, and against the
    chained, in-network one) and the latency ratio to the last model listed."""
    refs = {(r["target"], r["precision"]): r for r in records
            if r.get("bench_role") == "reference" and r["model"] == REF_MODEL}
    chains = {(r["target"], r["precision"]): r for r in records
              if r.get("bench_role") == "reference" and r["model"] == REF_CHAIN_MODEL}
    rows = [r for r in records if r.get("bench_role") == "model"]
    by_key = {(r["model"], r["target"], r["precision"]): r for r in rows}
    last = models[-1] if models else None
    for r in rows:
        ms = median_ms(r)
        r["gmacs_per_s"] = gmacs_per_s(r.get("multi_adds"), ms)
        ref = refs.get((reference_target(r["target"]), r["precision"]))
        rate = ref.get("gmacs_per_s") if ref else None
        r["dense_gmacs_per_s"] = rate
        r["dense_ideal_ms"] = ideal_ms(r.get("multi_adds"), rate)
        r["x_dense_ideal"] = ratio(ms, r["dense_ideal_ms"])
        chain = chains.get((reference_target(r["target"]), r["precision"]))
        r["dense_chain_gmacs_per_s"] = chain.get("gmacs_per_s") if chain else None
        r["x_dense_chain_ideal"] = ratio(ms, ideal_ms(r.get("multi_adds"), r["dense_chain_gmacs_per_s"]))
        if last is not None and r["model"] != last:
            other = by_key.get((last, r["target"], r["precision"]))
            r["latency_ratio"] = {
                "to": last, "value": ratio(ms, median_ms(other) if other else None),
                "multi_adds_ratio": ratio(r.get("multi_adds"), other.get("multi_adds") if other else None),
            }


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
            from .pipeline import one_line

            first["latency_ratio"]["interleaved"] = {"value": None, "reason": one_line(e)}


def interleaved_ratio(cfg: BenchConfig, first: dict, last: dict) -> dict:
    """Latency of `first` over `last` with the two timed in alternation, ``cfg.runs`` rounds of one
    whole image each (after one untimed call each): the ratio of the two medians, and the median
    of the per-round ratios. Python-runtime rows run through `measure_latency`'s tiling; the C++
    runner's rows alternate runner calls of one timed run after one warm-up run."""
    import statistics

    if first["target"] in NATIVE_TARGETS.values():
        from .native import run_runner

        def timer(r):
            def once() -> float:
                got = run_runner(native_runner(), r["artifact"], scale=cfg.scale, tile=cfg.tile, overlap=cfg.overlap,
                                 threads=cfg.threads, warmup=1, runs=1, input_hw=tuple(cfg.lr_size),
                                 model_name=r["model"], precision=r["precision"], method=r["method"],
                                 target=r["target"], timeout=max(600.0, 20 * cfg.budget_s))
                return got["latency_ms"]["median"]
            return once
    else:
        from converters import load_artifact

        from .benchmark import measure_latency

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


def best_target(records: list[dict], model: str, precision: str) -> str | None:
    """The target where `model` at `precision` ran fastest (the 'best CPU target')."""
    ok = [r for r in records if r.get("bench_role") == "model" and r["model"] == model
          and r["precision"] == precision and median_ms(r) is not None]
    return min(ok, key=median_ms)["target"] if ok else None


def goal_lines(records: list[dict], models: tuple[str, ...]) -> list[str]:
    """The issue's two goals, as measured in this run."""
    lines = []
    if len(models) < 2:
        return lines
    first, last = models[0], models[-1]
    rows = {(r["model"], r["target"], r["precision"]): r for r in records if r.get("bench_role") == "model"}
    for precision in dict.fromkeys(r["precision"] for r in rows.values()):
        t = best_target(records, first, precision)
        if t is None:
            continue
        r = rows[(first, t, precision)]
        lr = r.get("latency_ratio") or {}
        inter = (lr.get("interleaved") or {}).get("value")
        if lr.get("value") is not None:
            value = inter if inter is not None else lr["value"]
            verdict = "meets" if value <= S_OVER_M_GOAL else "misses"
            how = (f"{inter:.2f} timed in alternation ({lr['interleaved']['rounds']} rounds), {lr['value']:.2f} "
                   "from the rows above" if inter is not None else f"{lr['value']:.2f}")
            lines.append(f"{first}/{last} latency on the best {precision} target ({t}): {how} "
                         f"(goal <= {S_OVER_M_GOAL}: {verdict}; Multi-Adds ratio {lr['multi_adds_ratio']:.2f})")
        if r.get("macs_executed") and r.get("multi_adds") and not any(l.startswith("the tiling") for l in lines):
            lat = r["latency_ms"]
            lines.append(f"the tiling runs {r['macs_executed'] / r['multi_adds']:.2f}x the Multi-Adds of the image "
                         f"({lat['tiles']} tiles of {r['tile']}x{r['tile']} for {lat['input_hw'][1]}x{lat['input_hw'][0]}, "
                         f"overlap {r['overlap']}); x ideal includes that")
        for tt in dict.fromkeys(k[1] for k in rows if k[0] == first and k[2] == precision):
            row = rows[(first, tt, precision)]
            x, xc = row.get("x_dense_ideal"), row.get("x_dense_chain_ideal")
            if x is not None:
                verdict = "meets" if x <= DENSE_IDEAL_GOAL else "misses"
                line = (f"{first} {precision} on {tt}: {x:.2f}x its Multi-Adds at the dense-conv rate "
                        f"(goal <= {DENSE_IDEAL_GOAL:g}x: {verdict})")
                if xc is not None:
                    line += (f"; {xc:.2f}x at the in-network rate of {REF_CHAIN} chained convs "
                             f"({row['dense_chain_gmacs_per_s']:.1f} GMAC/s: "
                             f"{'meets' if xc <= DENSE_IDEAL_GOAL else 'misses'})")
                lines.append(line)
    return lines


# ---------------------------------------------------------------------------------------- table
def _f(v, spec: str, empty: str = "-") -> str:
    return empty if v is None else format(v, spec)


def table(records: list[dict], models: tuple[str, ...], hw: tuple[int, int] | list[int] | None = None) -> str:
    """The bench table: one row per model artifact, then the dense-conv reference rows."""
    last = models[-1] if models else "-"
    hw = hw or next((r["latency_ms"]["input_hw"] for r in records if r.get("latency_ms")), None)
    size = f"{hw[1]}x{hw[0]}" if hw else "image"
    lines = [f"| model | target | precision | {size} ms (median / p90) | runs | Multi-Adds | GMAC/s | "
             f"dense GMAC/s | ideal ms | x ideal | x ideal (chain) | vs {last} | status |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in (r for r in records if r.get("bench_role") in ("model", "phone")):
        lat = r.get("latency_ms") or {}
        lr = (r.get("latency_ratio") or {}).get("value")
        inter = ((r.get("latency_ratio") or {}).get("interleaved") or {}).get("value")
        vs = _f(lr, ".2f") + (f" ({inter:.2f} alt.)" if inter is not None else "")
        status = r["status"] + (f": {r['reason']}" if r.get("reason") else "")
        lines.append(
            f"| {r['model']} | {r['target']} | {label(r)} | {_f(lat.get('median'), '.1f')} / {_f(lat.get('p90'), '.1f')} | "
            f"{_f(lat.get('runs'), 'd')} | {_f(r.get('multi_adds') and r['multi_adds'] / 1e9, '.2f')}G | "
            f"{_f(r.get('gmacs_per_s'), '.1f')} | {_f(r.get('dense_gmacs_per_s'), '.1f')} | "
            f"{_f(r.get('dense_ideal_ms'), '.1f')} | {_f(r.get('x_dense_ideal'), '.2f')} | "
            f"{_f(r.get('x_dense_chain_ideal'), '.2f')} | {vs} | {status} |"
        )
    refs = [r for r in records if r.get("bench_role") == "reference"]
    if refs:
        lines += ["", f"| reference | target | precision | {size} ms (median / p90) | runs | MACs | GMAC/s | status |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in refs:
            lat = r.get("latency_ms") or {}
            status = r["status"] + (f": {r['reason']}" if r.get("reason") else "")
            what = "dense 3x3 conv 64->64" if r["model"] == REF_MODEL else f"{REF_CHAIN} chained dense 3x3 convs + relu"
            lines.append(
                f"| {what} | {r['target']} | {r['precision']} | {_f(lat.get('median'), '.1f')} / "
                f"{_f(lat.get('p90'), '.1f')} | {_f(lat.get('runs'), 'd')} | {r['multi_adds'] / 1e9:.2f}G | "
                f"{_f(r.get('gmacs_per_s'), '.1f')} | {status} |"
            )
    return "\n".join(lines)


def label(r: dict) -> str:
    return r["precision"] if r["precision"] != "int8" else f"int8 ({r.get('method')})"


def markdown(data: dict) -> str:
    """The bench as markdown: settings, the table, the goals, and the per-op profiles if any."""
    from .profiling import profile_markdown

    cfg, records = data["config"], data["records"]
    models = tuple(cfg["models"])
    h, w = cfg["lr_size"]
    lines = [f"# hpun-edge bench: {', '.join(models)} x{cfg['scale']} at {w}x{h}", "",
             f"{cfg['threads']} threads; median / p90 of {cfg['runs']} runs after {cfg['warmup']} warm-up runs "
             f"(fewer, at least 3, past {cfg['budget_s']:g} s). Models through {cfg['tile']}-pixel tiles "
             f"(overlap {cfg['overlap']}); the reference is one dense 3x3 conv 64->64 over the whole {w}x{h} "
             f"map in one call (x ideal), and {REF_CHAIN} such convs chained, the rate inside a network "
             f"(x ideal (chain)). 'vs' is the latency ratio of these rows, measured one after the other, and in "
             f"brackets the same ratio with the two models timed in alternation (alt.). "
             f"Machine: {data.get('machine', {}).get('summary', '?')}.", "",
             table(records, models, cfg["lr_size"]), ""]
    goals = goal_lines(records, models)
    if goals:
        lines += [f"- {g}" for g in goals] + [""]
    for r in records:
        if r.get("profile"):
            lines += [f"## Profile: {r['model']} {r['target']} {label(r)}", "", profile_markdown(r["profile"]), ""]
    return "\n".join(lines)


# -------------------------------------------------------------------------------------- records
def base_record(cfg: BenchConfig, model: str, target: str, precision: str, method: str, *, role: str) -> dict:
    return {
        "model": model, "scale": cfg.scale if role == "model" else 1, "target": target, "precision": precision,
        "method": method, "artifact": None, "size_bytes": None, "dataset": BENCH_DATASET, "psnr_y": None,
        "ssim_y": None, "psnr_delta_vs_torch_fp32": None, "latency_ms": None, "ops": None, "status": "ok",
        "reason": None, "bench_role": role, "tile": cfg.tile if role == "model" else None,
        "overlap": cfg.overlap if role == "model" else None,
    }


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


# ------------------------------------------------------------------------------- model artifacts
def pipeline_config(cfg: BenchConfig, model: str):
    from .pipeline import PipelineConfig

    targets = tuple(t for t in cfg.targets if t not in BENCH_TARGETS)  # the pipeline's own targets only
    return PipelineConfig(model=model, scale=cfg.scale, weights=cfg.weights.get(model), targets=targets,
                          precisions=tuple(cfg.precisions), methods=(cfg.method,), tile=cfg.tile, overlap=cfg.overlap,
                          data_root=cfg.data_root, calib_data=cfg.calib_data, calib_count=cfg.calib_count,
                          threads=cfg.threads, latency_runs=cfg.runs, latency_warmup=cfg.warmup,
                          latency_budget_s=cfg.budget_s, out=cfg.out)


def model_artifact(job, pcfg, model, weights: Path, cache: dict) -> Path:
    """The pipeline's artifact for `job`, exported unless an up-to-date one is there."""
    from converters import ExportSpec, export
    from converters.base import SUFFIXES, file_sha256

    from .pipeline import get_quantized, qat_config, quant_settings, up_to_date

    suffix = {v: k for k, v in SUFFIXES.items()}[job.target]
    path = Path(pcfg.out) / "artifacts" / f"{pcfg.model}_x{pcfg.scale}_{job.target}_{job.name}{suffix}"
    spec = ExportSpec(job.target, pcfg.model, pcfg.scale, pcfg.tile, job.precision, str(weights))
    qat = qat_config(pcfg)  # the pipeline's QAT settings, so `make run`'s QAT artifacts are reused
    wanted_q = quant_settings(job, pcfg, qat) if job.precision == "int8" else None
    if up_to_date(path, spec, file_sha256(weights), wanted_q):
        say(f"   up to date: {path}")
        return path
    quantized = get_quantized(job, pcfg, model, qat, cache, Path(pcfg.out)) if job.precision == "int8" else None
    say(f"   export {path}")
    export(model, spec, path, quantized=quantized)
    return path


def measure_model(cfg: BenchConfig, runner) -> dict:
    from .benchmark import measure_latency

    return measure_latency(runner, cfg.scale, cfg.tile, cfg.overlap, cfg.threads, hw=tuple(cfg.lr_size),
                           runs=cfg.runs, warmup=cfg.warmup, budget_s=cfg.budget_s).to_dict()


def load_model(cfg: BenchConfig, name: str):
    """(pipeline config, the fp32 model, its weights file) for one model of the bench."""
    from .weights import model_from_weights
    from .zoo import pretrained_path

    pcfg = pipeline_config(cfg, name)
    weights = Path(pcfg.weights) if pcfg.weights else pretrained_path(name, cfg.scale)
    model = model_from_weights(weights)
    if (model.spec.name, model.scale) != (name, cfg.scale):
        raise ValueError(f"{weights}: holds {model.spec.name} x{model.scale}, not {name} x{cfg.scale}")
    return pcfg, model, weights


def bench_model_artifacts(cfg: BenchConfig):
    """(model name, job, artifact path, sidecar) for every model x target x precision, exported as
    needed (the phone bench pushes these)."""
    from converters.base import read_sidecar

    from .pipeline import plan_jobs

    for name in cfg.models:
        pcfg, model, weights = load_model(cfg, name)
        cache: dict = {}
        for job in plan_jobs(pcfg):
            path = model_artifact(job, pcfg, model, weights, cache)
            yield name, job, path, read_sidecar(path)


def bench_model(cfg: BenchConfig, name: str) -> list[dict]:
    from converters import load_artifact

    from .pipeline import ops_summary, plan_jobs

    pcfg, model, weights = load_model(cfg, name)
    h, w = cfg.lr_size
    nominal = macs_per_lr_pixel(name, cfg.scale)
    cache: dict = {}
    records = []
    for job in plan_jobs(pcfg):
        rec = base_record(cfg, name, job.target, job.precision, job.method, role="model")
        rec["multi_adds"] = nominal * h * w
        say(f"== bench {name} x{cfg.scale} {job.target} {job.name}")
        try:
            path = model_artifact(job, pcfg, model, weights, cache)
            from converters.base import read_sidecar

            sidecar = read_sidecar(path)
            rec.update(artifact=str(path), size_bytes=sidecar.artifact_bytes, ops=ops_summary(sidecar))
            if job.target == "coreml" and sys.platform != "darwin":
                rec.update(status="skipped", reason="converted, not run (needs macOS)")
                records.append(rec)
                continue
            runner, sidecar = load_artifact(path, threads=cfg.threads)
            say("   measure")
            rec["latency_ms"] = measure_model(cfg, runner)
            rec["macs_executed"] = nominal * cfg.tile * cfg.tile * rec["latency_ms"]["tiles"]  # tiles with overlap
            if sidecar.problems:
                rec.update(status="failed", reason="; ".join(sidecar.problems))
            if cfg.profile:
                rec["profile"] = profile_one(cfg, path, runner, model)
        except Exception as e:  # one artifact failing does not stop the others
            mark_failed(rec, e)
        records.append(rec)
    if FUSED_TARGET in cfg.targets:
        records += [bench_fused(cfg, name, model, weights, nominal, p) for p in BENCH_TARGETS[FUSED_TARGET][1]
                    if p in cfg.precisions]
    if cfg.native:
        records += [bench_native(cfg, r) for r in records if r["target"] in NATIVE_TARGETS and r.get("artifact")]
    order = {t: i for i, t in enumerate(cfg.targets)}
    order.update({n: order[b] + 0.5 for b, n in NATIVE_TARGETS.items() if b in order})
    return sorted(records, key=lambda r: order.get(r["target"], len(order)))  # stable: the targets' order


_RUNNER: list = []  # the host hpun_runner, built (incrementally) once per process


def native_runner() -> Path:
    from .native import build_runner

    if not _RUNNER:
        say("   build the native runner (incremental)")
        _RUNNER.append(build_runner("host"))
    return _RUNNER[0]


def bench_native(cfg: BenchConfig, py: dict) -> dict:
    """The same .pte as the Python row `py`, timed by the C++ runner on the same image and tiling.
    The runner synthesises its input (seeded); the tiling, and so the work, is the Python path's."""
    from converters.base import read_sidecar

    from .native import run_runner

    rec = base_record(cfg, py["model"], NATIVE_TARGETS[py["target"]], py["precision"], py["method"], role="model")
    for k in ("artifact", "size_bytes", "ops", "multi_adds"):
        rec[k] = py.get(k)
    say(f"== bench {py['model']} x{cfg.scale} {rec['target']} {py['precision']}")
    try:
        runner = native_runner()
        say("   measure (hpun_runner)")
        got = run_runner(runner, py["artifact"], scale=cfg.scale, tile=cfg.tile, overlap=cfg.overlap,
                         threads=cfg.threads, warmup=cfg.warmup, runs=cfg.runs, input_hw=tuple(cfg.lr_size),
                         model_name=py["model"], precision=py["precision"], method=py["method"], target=rec["target"],
                         timeout=max(600.0, 20 * cfg.budget_s))
        rec["latency_ms"] = got["latency_ms"]
        rec["runtime"] = got.get("runtime")
        nominal = py["multi_adds"] / (cfg.lr_size[0] * cfg.lr_size[1]) if py.get("multi_adds") else None
        if nominal:
            rec["macs_executed"] = nominal * cfg.tile * cfg.tile * rec["latency_ms"]["tiles"]
        problems = read_sidecar(py["artifact"]).problems
        if problems:
            rec.update(status="failed", reason="; ".join(problems))
    except Exception as e:
        mark_failed(rec, e)
    return rec


# ------------------------------------------------------------------- the project's own kernels
def fused_path(cfg: BenchConfig, name: str, precision: str = "fp32") -> Path:
    return Path(cfg.out) / "artifacts" / f"{name}_x{cfg.scale}_{FUSED_TARGET}_{precision}.pte"


def fused_module(model):
    """What the executorch-fused .pte is exported from (FUSED_VARIANT): the same function as `model`."""
    from converters.custom_ops import ChannelsLastHPUN, apply_fused_pud
    from quantization.rewrites import apply_rewrites

    return ChannelsLastHPUN(apply_fused_pud(apply_rewrites(model, FUSED_REWRITES), pointwise=True).eval()).eval()


def fused_int8(cfg: BenchConfig, model):
    """The int8 executorch-fused module of `model` (FUSED_VARIANT_INT8): PTQ on the bench's calibration
    patches (those the pipeline's int8 uses); a `quantization.fused_int8.FusedInt8`."""
    from quantization.calibration import load_calibration
    from quantization.fused_int8 import quantize_fused

    cal = load_calibration(cfg.calib_data, cfg.scale, count=cfg.calib_count, data_root=cfg.data_root)
    return quantize_fused(model, cal)


def fused_artifact(cfg: BenchConfig, name: str, model, weights: Path, precision: str = "fp32"):
    """(the executorch-fused .pte of `model` at `precision`, the module it is exported from): reused
    when its sidecar still matches (an int8 one's module then made from the ranges it records), else
    exported through `converters.export`."""
    from converters import ExportSpec, export
    from converters.base import file_sha256, read_sidecar
    from quantization.fused_int8 import int8_module, ranges_from_settings, scheme_settings

    from .pipeline import up_to_date

    path = fused_path(cfg, name, precision)
    spec = ExportSpec(BENCH_TARGETS[FUSED_TARGET][0], name, cfg.scale, cfg.tile, precision, str(weights))
    int8 = precision == "int8"
    variant = FUSED_VARIANT_INT8 if int8 else FUSED_VARIANT
    if up_to_date(path, spec, file_sha256(weights), scheme_settings(cfg.calib_count) if int8 else None):
        sidecar = read_sidecar(path)
        if sidecar.details.get("variant") == variant:
            say(f"   up to date: {path}")
            module = int8_module(model, *ranges_from_settings(sidecar.quantization)) if int8 else fused_module(model)
            return path, module
    q = fused_int8(cfg, model) if int8 else None
    module = q.module if int8 else fused_module(model)
    say(f"   export {path}")
    export(model, spec, path, forward_module=module, quantization=q.settings() if int8 else None,
           details={"variant": variant, "bench_target": FUSED_TARGET})
    return path, module


def runtime_kernels(build_dir: Path | None = None, timeout: float = 1200) -> Path:
    """Load the project's kernel library (libhpun_kernels_py.so) into this process's ExecuTorch
    runtime, building it first: configured with CMake the first time, then built incrementally (so
    a changed kernel source is rebuilt). $HPUN_KERNELS_LIB: that file, not built. Without cmake or
    a C++ compiler an existing build is used as it is. Raises NativeError, one line naming the fix."""
    from converters.custom_ops import DEFAULT_BUILD_DIR, KERNELS_SOURCE, PY_MODULE, load_runtime_kernels

    from .native import NativeError, _run_build_step, missing_build_tools

    if os.environ.get("HPUN_KERNELS_LIB"):
        lib = Path(os.environ["HPUN_KERNELS_LIB"])
        if not lib.is_file():
            raise NativeError(f"HPUN_KERNELS_LIB={lib}: no such file; unset it to build the kernels in {DEFAULT_BUILD_DIR}")
    else:
        build = Path(build_dir or DEFAULT_BUILD_DIR)
        lib = build / PY_MODULE
        problems = missing_build_tools("host")
        if problems and not lib.is_file():
            raise NativeError(f"the executorch-fused target needs {PY_MODULE} built from native/kernels: {problems[0]}")
        if not problems:
            if not (build / "CMakeCache.txt").is_file():
                _run_build_step(["cmake", "-S", str(KERNELS_SOURCE), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                                 f"-DHPUN_PYTHON={sys.executable}", "-DHPUN_KERNELS_BUILD_PY_MODULE=ON"],
                                "configuring", build, timeout)
            _run_build_step(["cmake", "--build", str(build), "--target", "hpun_kernels_py", "--parallel", "2"],
                            "building", build, timeout)
        if not lib.is_file():
            raise NativeError(f"{build}: the build finished without {PY_MODULE}; see cmake's output above")
    try:
        load_runtime_kernels(lib)
    except OSError as e:
        raise NativeError(f"{lib}: cannot be loaded ({e}); rebuild it: rm -rf {lib.parent} and run the bench again") from None
    return lib


def bench_fused(cfg: BenchConfig, name: str, model, weights: Path, nominal: float, precision: str = "fp32") -> dict:
    """The executorch-fused row of one model at `precision`: export (or reuse), load the kernels, measure."""
    from converters import load_artifact
    from converters.base import read_sidecar

    from .pipeline import ops_summary

    h, w = cfg.lr_size
    rec = base_record(cfg, name, FUSED_TARGET, precision, "ptq" if precision == "int8" else "fp32", role="model")
    rec["multi_adds"] = nominal * h * w
    say(f"== bench {name} x{cfg.scale} {FUSED_TARGET} {precision}")
    try:
        path, module = fused_artifact(cfg, name, model, weights, precision)
        sidecar = read_sidecar(path)
        rec.update(artifact=str(path), size_bytes=sidecar.artifact_bytes, ops=ops_summary(sidecar))
        runtime_kernels()
        runner, sidecar = load_artifact(path, threads=cfg.threads)
        say("   measure")
        rec["latency_ms"] = measure_model(cfg, runner)
        rec["macs_executed"] = nominal * cfg.tile * cfg.tile * rec["latency_ms"]["tiles"]
        if sidecar.problems:
            rec.update(status="failed", reason="; ".join(sidecar.problems))
        if cfg.profile:  # the convs in the order the program runs them: the fused module's
            rec["profile"] = profile_one(cfg, path, runner, module)
    except Exception as e:
        mark_failed(rec, e)
    return rec


def profile_one(cfg: BenchConfig, path: Path, runner, model) -> dict:
    from .profiling import profile_artifact

    say("   profile")
    return profile_artifact(path, threads=cfg.threads, runs=cfg.profile_runs, model=model,
                            benchmark_model=cfg.benchmark_model)


# --------------------------------------------------------------------------- reference artifacts
@dataclass(frozen=True)
class RefSpec:
    """What a target's ``convert`` reads from an ExportSpec, for the reference conv."""

    target: str
    precision: str
    hw: tuple[int, int]
    model: str = REF_MODEL
    scale: int = 1
    weights: str | None = None

    @property
    def tile(self) -> int:
        return self.hw[0]

    @property
    def input_shape(self) -> list[int]:
        return [1, REF_CHANNELS, *self.hw]

    @property
    def output_shape(self) -> list[int]:
        return [1, REF_CHANNELS, *self.hw]


def reference_module(model: str = REF_MODEL) -> torch.nn.Module:
    """One seeded dense 3x3 conv 64->64 (REF_MODEL), or REF_CHAIN of them, each followed by relu
    (REF_CHAIN_MODEL)."""
    g = torch.Generator().manual_seed(0)

    def conv() -> torch.nn.Conv2d:
        c = torch.nn.Conv2d(REF_CHANNELS, REF_CHANNELS, REF_KERNEL, padding=REF_KERNEL // 2)
        with torch.no_grad():
            c.weight.copy_(torch.randn(c.weight.shape, generator=g) * 0.05)
            c.bias.copy_(torch.randn(c.bias.shape, generator=g) * 0.01)
        return c

    if model == REF_MODEL:
        return conv().eval()
    if model != REF_CHAIN_MODEL:
        raise ValueError(f"unknown reference {model!r}; valid: {', '.join(REF_MODELS)}")
    layers: list[torch.nn.Module] = []
    for _ in range(REF_CHAIN):
        layers += [conv(), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers).eval()


def reference_int8(conv: torch.nn.Module, target: str, sample: torch.Tensor) -> torch.nn.Module:
    """The conv through the target's own PT2E quantizer (static int8, per-channel weights),
    calibrated on random inputs in [0, 1]: the int8 graph the target's int8 models use."""
    from quantization.pt2e import weight_only_reference
    from quantization.targets import WEIGHT_ONLY, pt2e_quantizer
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    if target in WEIGHT_ONLY:
        return weight_only_reference(conv)
    graph = torch.export.export(conv, (sample,), strict=False).module()
    prepared = prepare_pt2e(graph, pt2e_quantizer(target, qat=False))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _ in range(2):
            prepared(torch.rand(sample.shape, generator=g))
    return convert_pt2e(prepared, fold_quantize=target != "litert")


def reference_path(cfg: BenchConfig, target: str, precision: str, model: str = REF_MODEL) -> Path:
    from converters.base import SUFFIXES

    suffix = {v: k for k, v in SUFFIXES.items()}[target]
    h, w = cfg.lr_size
    return Path(cfg.out) / "bench" / f"{model}_{w}x{h}_{target}_{precision}{suffix}"


def reference_artifact(cfg: BenchConfig, target: str, precision: str, model: str = REF_MODEL) -> Path:
    """Export the reference conv for target x precision (reused when its sidecar still matches),
    with a sidecar as `converters.export` writes one, so that `load_artifact` checks and loads it."""
    from datetime import datetime, timezone

    from converters.base import (
        ArtifactError, Sidecar, artifact_digest, atomic_write_bytes, read_sidecar, remove_path, sidecar_path,
        target_module, tool_versions,
    )

    path = reference_path(cfg, target, precision, model)
    mod = target_module(target)
    spec = RefSpec(target, precision, tuple(cfg.lr_size), model=model)
    if precision not in mod.PRECISIONS:
        raise ValueError(f"{target} has no {precision} (it has {', '.join(mod.PRECISIONS)})")
    if path.exists():
        try:
            sc = read_sidecar(path)
            if (sc.tool_versions == tool_versions(mod.PACKAGES) and sc.input_shape == spec.input_shape
                    and sc.precision == precision and artifact_digest(path)[0] == sc.artifact_sha256):
                say(f"   up to date: {path}")
                return path
        except ArtifactError:
            pass
    say(f"   export {path}")
    t0 = time.monotonic()
    conv = reference_module(model)
    sample = torch.rand(spec.input_shape, generator=torch.Generator().manual_seed(0))
    module = reference_int8(conv, target, sample) if precision == "int8" else conv
    handle = mod.convert(module, sample, spec)
    digest: dict = {}

    def write(tmp) -> None:
        mod.write(handle, Path(tmp))
        digest["d"] = artifact_digest(Path(tmp))

    atomic_write_bytes(path, write)
    try:
        sha, size = digest["d"]
        sc = Sidecar(target=target, artifact=path.name, artifact_sha256=sha, artifact_bytes=size,
                     source=("dense 3x3 conv 64->64" if model == REF_MODEL else
                             f"{REF_CHAIN} chained dense 3x3 convs 64->64, each + relu")
                     + ", seeded random weights (bench reference)", source_sha256=None,
                     model=model, scale=1, precision=precision, tile=spec.tile, input_shape=spec.input_shape,
                     output_shape=spec.output_shape, tool_versions=tool_versions(mod.PACKAGES), exporter=mod.EXPORTER,
                     exported_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     export_seconds=round(time.monotonic() - t0, 2),
                     quantization={"method": "ptq", "calibration": "2 random inputs in [0, 1]"} if precision == "int8" else None,
                     details={"reference": f"Conv2d({REF_CHANNELS}, {REF_CHANNELS}, {REF_KERNEL}, padding=1)"
                                           + ("" if model == REF_MODEL else f" + ReLU, x{REF_CHAIN}"),
                              "hw": list(cfg.lr_size)})
        text = sc.to_json()
        atomic_write_bytes(sidecar_path(path), lambda tmp: Path(tmp).write_text(text))
    except BaseException:
        remove_path(path)
        raise
    return path


def measure_reference(cfg: BenchConfig, runner) -> dict:
    import statistics

    from .benchmark import Latency, percentile, time_calls

    x = torch.rand(1, REF_CHANNELS, *cfg.lr_size, generator=torch.Generator().manual_seed(0))
    times, warm = time_calls(lambda: runner(x), cfg.runs, cfg.warmup, cfg.budget_s)
    return Latency(round(statistics.median(times), 3), round(percentile(times, 90), 3), list(cfg.lr_size),
                   cfg.threads, len(times), warm, 1).to_dict()


def bench_reference(cfg: BenchConfig, target: str, precision: str, model: str = REF_MODEL) -> dict:
    from converters import load_artifact

    rec = base_record(cfg, model, target, precision, precision if precision != "int8" else "ptq",
                      role="reference")
    rec["multi_adds"] = reference_macs(tuple(cfg.lr_size), model)
    say(f"== bench reference {model} {target} {precision}")
    try:
        if target == "coreml":  # its converter takes 3-channel square tiles (enumerated shapes)
            rec.update(status="skipped", reason="no dense-conv reference for Core ML")
            return rec
        path = reference_artifact(cfg, target, precision, model)
        runner, sidecar = load_artifact(path, threads=cfg.threads)
        rec.update(artifact=str(path), size_bytes=sidecar.artifact_bytes)
        say("   measure")
        rec["latency_ms"] = measure_reference(cfg, runner)
        rec["gmacs_per_s"] = gmacs_per_s(rec["multi_adds"], rec["latency_ms"]["median"])
    except Exception as e:
        mark_failed(rec, e)
    return rec


# ------------------------------------------------------------------------------------------- run
def check_config(cfg: BenchConfig) -> BenchConfig:
    from converters.base import TARGETS
    from quantization.targets import canonical_target

    from .variants import check_scale, get_variant

    if not cfg.models:
        raise ValueError("no model given (--model hpun_s hpun_m)")
    for m in cfg.models:
        check_scale(get_variant(m), cfg.scale)
    targets = []
    for t in cfg.targets:
        t = canonical_target(t) if t in ("tflite", "pte", "mlpackage") else t
        if t not in TARGETS and t not in BENCH_TARGETS:
            raise ValueError(f"unknown target {t!r}; valid: {', '.join((*TARGETS, *BENCH_TARGETS))}")
        if t not in targets:
            targets.append(t)
    for p in cfg.precisions:
        if p not in ("fp32", "fp16", "int8"):
            raise ValueError(f"unknown precision {p!r}; valid: fp32, fp16, int8")
    if not any(p in target_precisions(t) for t in targets for p in cfg.precisions):
        raise ValueError(f"none of the targets {', '.join(targets)} has precision(s) {', '.join(cfg.precisions)}")
    if cfg.method not in ("ptq", "qat"):
        raise ValueError(f"unknown int8 method {cfg.method!r}; valid: ptq, qat")
    if cfg.tile % 2 or cfg.tile <= 2 * cfg.overlap:
        raise ValueError(f"tile {cfg.tile} must be even and exceed twice the overlap {cfg.overlap}")
    if cfg.runs < 1 or cfg.warmup < 1 or cfg.threads < 1:
        raise ValueError("--runs, --warmup and --threads must be at least 1")
    if cfg.benchmark_model and not Path(cfg.benchmark_model).is_file():
        raise FileNotFoundError(f"{cfg.benchmark_model}: no such benchmark_model binary")
    return replace(cfg, targets=tuple(targets), lr_size=tuple(cfg.lr_size))


def run_bench(cfg: BenchConfig) -> dict:
    """Every model x target x precision and the reference conv per target x precision, in one run."""
    cfg = check_config(cfg)
    torch.set_num_threads(cfg.threads)
    t0 = time.monotonic()
    records: list[dict] = []
    if cfg.reference:  # per runtime: a bench-only target is measured against its runtime's reference
        wanted = {(reference_target(t), p) for t in cfg.targets for p in cfg.precisions if p in target_precisions(t)}
        for target in dict.fromkeys(reference_target(t) for t in cfg.targets):
            for precision in cfg.precisions:
                if (target, precision) in wanted:
                    records += [bench_reference(cfg, target, precision, m) for m in REF_MODELS]
    model_records = []
    for name in cfg.models:
        model_records += bench_model(cfg, name)
    records = model_records + records
    add_derived(records, cfg.models)
    add_interleaved(cfg, records, cfg.models)
    return {"kind": "bench", "config": cfg.to_dict(), "machine": machine(),
            "seconds": round(time.monotonic() - t0, 1), "records": records}


def write_bench_json(data: dict, path: str | os.PathLike) -> Path:
    """results.json schema (validated), written atomically; the markdown beside it (.md)."""
    from .evaluate import write_json
    from .files import atomic_write_bytes
    from .report import SCHEMA_VERSION, validate_results

    path = Path(path)
    payload = {"schema": SCHEMA_VERSION, **data}
    validate_results(payload)
    write_json(path, json.loads(json.dumps(payload, default=str)))
    md = markdown(data)
    atomic_write_bytes(path.with_suffix(".md"), lambda tmp: Path(tmp).write_text(md))
    return path
