"""The bench's figures: derived rates and ratios, the table, the markdown, the JSON (results.json schema).

From the measured rows: effective GMAC/s = Multi-Adds (at ``lr_size``, the paper's convention:
convolutions only) / latency; the dense-rate ideal = Multi-Adds / the reference's rate in the same
runtime and precision; ``x ideal`` = latency / ideal (it includes the tiling's overlap, printed
beside it); the same against the chained, in-network reference (``x ideal (chain)``); the
latency ratio of each model to the last model listed, from the rows and timed again in alternation;
and each model row's latency ratio to IMDN's row (``imdn_ratio``: the same target, or for
``executorch-fused`` IMDN's ExecuTorch XNNPACK row; same input size and tiling), with, for the first
model, the same ratio timed in alternation. The product prints figures, not verdicts on goals.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from hpun_edge.evaluate import write_json
from hpun_edge.files import atomic_write_bytes
from hpun_edge.peers import CHAIN_SPEC, CONV_SPEC

from .bench import IMDN, gmacs_per_s, imdn_target, median_ms, reference_target, resolve_tile
from .profiling import profile_markdown
from .report import SCHEMA_VERSION, validate_results


def ideal_ms(macs: float | None, rate: float | None) -> float | None:
    """The latency `macs` would take at `rate` GMAC/s."""
    return None if not macs or not rate else macs / (rate * 1e9) * 1e3


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def add_derived(records: list[dict], models: tuple[str, ...]) -> None:
    """Fill in, on the model and IMDN records, the dense-conv rate of the same runtime x precision,
    the ideal latency at that rate and ``x ideal`` (against the single-conv reference and the chained
    one); on the model records, the latency ratio to the last model listed (``latency_ratio``) and to
    IMDN's row (``imdn_ratio``: ``to``, the IMDN row's ``target`` and ``precision``, ``value``,
    ``multi_adds_ratio``)."""
    refs = {(r["target"], r["precision"]): r for r in records
            if r.get("bench_role") == "reference" and r["model"] == CONV_SPEC.name}
    chains = {(r["target"], r["precision"]): r for r in records
              if r.get("bench_role") == "reference" and r["model"] == CHAIN_SPEC.name}
    rows = [r for r in records if r.get("bench_role") in ("model", "peer")]
    by_key = {(r["model"], r["target"], r["precision"]): r for r in rows if r["bench_role"] == "model"}
    imdn = {(r["target"], r["precision"]): r for r in rows if r["bench_role"] == "peer" and r["model"] == IMDN}
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
        if r["bench_role"] != "model":
            continue
        peer = imdn.get((imdn_target(r["target"]), r["precision"]))
        if peer is not None:
            r["imdn_ratio"] = {"to": IMDN, "target": peer["target"], "precision": peer["precision"],
                               "value": ratio(ms, median_ms(peer)),
                               "multi_adds_ratio": ratio(r.get("multi_adds"), peer.get("multi_adds"))}
        if last is not None and r["model"] != last:
            other = by_key.get((last, r["target"], r["precision"]))
            r["latency_ratio"] = {
                "to": last, "value": ratio(ms, median_ms(other) if other else None),
                "multi_adds_ratio": ratio(r.get("multi_adds"), other.get("multi_adds") if other else None),
            }


def best_target(records: list[dict], model: str, precision: str) -> str | None:
    """The target where `model` at `precision` ran fastest."""
    ok = [r for r in records if r.get("bench_role") == "model" and r["model"] == model
          and r["precision"] == precision and median_ms(r) is not None]
    return min(ok, key=median_ms)["target"] if ok else None


def summary_lines(records: list[dict], models: tuple[str, ...]) -> list[str]:
    """The run in a few sentences: the latency ratio on the fastest target of each precision, the
    tiling's overhead, and each target's distance from the dense-conv rate."""
    lines = []
    if not models:
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
        if len(models) > 1 and lr.get("value") is not None:
            how = (f"{inter:.2f} timed in alternation ({lr['interleaved']['rounds']} rounds), {lr['value']:.2f} "
                   "from the rows above" if inter is not None else f"{lr['value']:.2f}")
            lines.append(f"{first}/{last} latency on the fastest {precision} target ({t}): {how} "
                         f"(Multi-Adds ratio {lr['multi_adds_ratio']:.2f})")
        if r.get("macs_executed") and r.get("multi_adds") and not any(l.startswith("the tiling") for l in lines):
            lat = r["latency_ms"]
            size = f"{lat['input_hw'][1]}x{lat['input_hw'][0]}"
            how = (f"{lat['tiles']} tiles of {r['tile']}x{r['tile']} for {size}, overlap {r['overlap']}"
                   if r.get("tile") else f"whole-frame: one call on the {size} map")
            lines.append(f"the tiling runs {r['macs_executed'] / r['multi_adds']:.2f}x the Multi-Adds of the image "
                         f"({how}); x ideal includes that")
        for tt in dict.fromkeys(k[1] for k in rows if k[0] == first and k[2] == precision):
            row = rows[(first, tt, precision)]
            x, xc = row.get("x_dense_ideal"), row.get("x_dense_chain_ideal")
            if x is not None:
                line = f"{first} {precision} on {tt}: {x:.2f}x its Multi-Adds at the dense-conv rate"
                if xc is not None:
                    line += (f"; {xc:.2f}x at the in-network rate of {CHAIN_SPEC.title} "
                             f"({row['dense_chain_gmacs_per_s']:.1f} GMAC/s)")
                lines.append(line)
    return lines + imdn_lines(records, models)


def imdn_lines(records: list[dict], models: tuple[str, ...]) -> list[str]:
    """Per model and precision: its latency over IMDN's on every target (against which IMDN row, and
    timed in alternation where it was), same input size and tiling."""
    lines = []
    for model in models:
        rows = [r for r in records if r.get("bench_role") == "model" and r["model"] == model
                and (r.get("imdn_ratio") or {}).get("value") is not None]
        for precision in dict.fromkeys(r["precision"] for r in rows):
            parts = []
            for r in (r for r in rows if r["precision"] == precision):
                ir = r["imdn_ratio"]
                inter = (ir.get("interleaved") or {}).get("value")
                against = "" if ir["target"] == r["target"] else f" against IMDN on {ir['target']}"
                parts.append(f"{r['target']} {ir['value']:.2f}" + (f" ({inter:.2f} alt.)" if inter is not None else "")
                             + against)
            macs = rows[0]["imdn_ratio"].get("multi_adds_ratio")
            lines.append(f"{model}/{IMDN} x{rows[0]['scale']} latency, {precision}: {'; '.join(parts)}"
                         + (f" (Multi-Adds ratio {macs:.2f})" if macs else ""))
    return lines


def _f(v, spec: str, empty: str = "-") -> str:
    return empty if v is None else format(v, spec)


def label(r: dict) -> str:
    return r["precision"] if r["precision"] != "int8" else f"int8 ({r.get('method')})"


def versus(lr: dict | None, target: str | None = None) -> str:
    """A ratio cell: the rows' ratio, the one timed in alternation in brackets, and the other row's
    target when it is not `target` (IMDN's ExecuTorch XNNPACK row for an executorch-fused row)."""
    lr = lr or {}
    inter = (lr.get("interleaved") or {}).get("value")
    cell = _f(lr.get("value"), ".2f") + (f" ({inter:.2f} alt.)" if inter is not None else "")
    other = lr.get("target")
    return cell + (f" vs {other}" if other and target and other != target and lr.get("value") is not None else "")


def table(records: list[dict], models: tuple[str, ...], hw: tuple[int, int] | list[int] | None = None) -> str:
    """The bench table: one row per model artifact and per IMDN artifact, then the dense-conv reference rows."""
    last = models[-1] if models else "-"
    hw = hw or next((r["latency_ms"]["input_hw"] for r in records if r.get("latency_ms")), None)
    size = f"{hw[1]}x{hw[0]}" if hw else "image"
    lines = [f"| model | target | precision | {size} ms (median / p90) | runs | Multi-Adds | GMAC/s | "
             f"dense GMAC/s | ideal ms | x ideal | x ideal (chain) | vs {last} | vs {IMDN} | status |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in (r for r in records if r.get("bench_role") in ("model", "phone", "peer")):
        lat = r.get("latency_ms") or {}
        vs, vs_imdn = versus(r.get("latency_ratio")), versus(r.get("imdn_ratio"), r["target"])
        status = r["status"] + (f": {r['reason']}" if r.get("reason") else "")
        lines.append(
            f"| {r['model']} | {r['target']} | {label(r)} | {_f(lat.get('median'), '.1f')} / {_f(lat.get('p90'), '.1f')} | "
            f"{_f(lat.get('runs'), 'd')} | {_f(r.get('multi_adds') and r['multi_adds'] / 1e9, '.2f')}G | "
            f"{_f(r.get('gmacs_per_s'), '.1f')} | {_f(r.get('dense_gmacs_per_s'), '.1f')} | "
            f"{_f(r.get('dense_ideal_ms'), '.1f')} | {_f(r.get('x_dense_ideal'), '.2f')} | "
            f"{_f(r.get('x_dense_chain_ideal'), '.2f')} | {vs} | {vs_imdn} | {status} |"
        )
    refs = [r for r in records if r.get("bench_role") == "reference"]
    if refs:
        lines += ["", f"| reference | target | precision | {size} ms (median / p90) | runs | MACs | GMAC/s | status |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in refs:
            lat = r.get("latency_ms") or {}
            status = r["status"] + (f": {r['reason']}" if r.get("reason") else "")
            what = CONV_SPEC.title if r["model"] == CONV_SPEC.name else CHAIN_SPEC.title
            lines.append(
                f"| {what} | {r['target']} | {r['precision']} | {_f(lat.get('median'), '.1f')} / "
                f"{_f(lat.get('p90'), '.1f')} | {_f(lat.get('runs'), 'd')} | {r['multi_adds'] / 1e9:.2f}G | "
                f"{_f(r.get('gmacs_per_s'), '.1f')} | {status} |"
            )
    return "\n".join(lines)


def markdown(data: dict) -> str:
    """The bench as markdown: settings, the table, the summary, and the per-op profiles if any."""
    cfg, records = data["config"], data["records"]
    models = tuple(cfg["models"])
    h, w = cfg["lr_size"]
    tile = resolve_tile(cfg["tile"], (h, w), cfg["overlap"])
    tiling = (f"through {tile}-pixel tiles (overlap {cfg['overlap']})" if tile is not None
              else f"whole-frame (one export at exactly {w}x{h}, one call)")
    lines = [f"# hpun-edge bench: {', '.join(models)} x{cfg['scale']} at {w}x{h}", "",
             f"{cfg['threads']} threads; median / p90 of {cfg['runs']} runs after {cfg['warmup']} warm-up runs "
             f"(fewer, at least 3, past {cfg['budget_s']:g} s). Models and {IMDN} {tiling}; the reference is one {CONV_SPEC.title} over the whole {w}x{h} "
             f"map in one call (x ideal), and {CHAIN_SPEC.title}, the rate inside a network "
             f"(x ideal (chain)). 'vs' is the latency ratio of these rows, measured one after the other, and in "
             f"brackets the same ratio with the two models timed in alternation (alt.); 'vs {IMDN}' the same "
             f"against IMDN's row (for executorch-fused: IMDN on executorch, XNNPACK). "
             f"Machine: {data.get('machine', {}).get('summary', '?')}.", "",
             table(records, models, cfg["lr_size"]), ""]
    summary = summary_lines(records, models)
    if summary:
        lines += [f"- {g}" for g in summary] + [""]
    for r in records:
        if r.get("profile"):
            lines += [f"## Profile: {r['model']} {r['target']} {label(r)}", "", profile_markdown(r["profile"]), ""]
    return "\n".join(lines)


def write_bench_json(data: dict, path: str | os.PathLike) -> Path:
    """results.json schema (validated), written atomically; the markdown beside it (.md)."""
    path = Path(path)
    payload = {"schema": SCHEMA_VERSION, **data}
    validate_results(payload)
    write_json(path, json.loads(json.dumps(payload, default=str)))
    md = markdown(data)
    atomic_write_bytes(path.with_suffix(".md"), lambda tmp: Path(tmp).write_text(md))
    return path
