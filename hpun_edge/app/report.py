"""results.json (checked against its schema), report.md and report.html beside it.

The report, top to bottom: what to ship per runtime (`what_to_ship`), PyTorch fp32 beside bicubic and
the paper (`references`), the PSNR-versus-latency plot per dataset (`report_plot`; an SVG file linked
from report.md, inline in report.html), the pictures (`pictures`: PNGs under ``pictures/``), one
table per target, and per-op profiles. Every path in results.json and the reports is relative to the
output folder (`portable_summary`); the weights are named relative to the package, or by file name.

One record per (model, scale, target, precision[, method], dataset). PSNR/SSIM are on Y, with
``crop_border = scale``, through the artifact's fixed-tile tiling; ``psnr_delta_vs_torch_fp32`` is
against the PyTorch fp32 model through the same tiling (an fp32 artifact more than 0.01 dB off is a
bug, and the report marks it); int8 rows also give the fake-quant reference's PSNR and the delta to
it. Latency is milliseconds per 640x360 LR image (``latency_ms``) and per tile (``latency_tile_ms``).
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

import hpun_edge
from hpun_edge.converters import TARGETS
from hpun_edge.evaluate import write_json
from hpun_edge.files import atomic_write_bytes

from .profiling import profile_markdown
from .references import BICUBIC_TARGET, TORCH_TARGET, reference_table
from .report_plot import SHIP_TOLERANCE_DB, plot_svg, precision_label, runtime_of

SCHEMA_VERSION = "hpun-edge-results/1"
STATUSES = ("ok", "skipped", "failed")
FP32_TOLERANCE_DB = 0.01
REQUIRED = {
    "model": str, "scale": int, "target": str, "precision": str, "artifact": (str, type(None)),
    "size_bytes": (int, type(None)), "dataset": str, "psnr_y": (float, type(None)), "ssim_y": (float, type(None)),
    "psnr_delta_vs_torch_fp32": (float, type(None)), "latency_ms": (dict, type(None)), "ops": (dict, type(None)),
    "status": str, "reason": (str, type(None)),
}
LATENCY_KEYS = ("median", "p90", "input_hw", "threads")
OPS_KEYS = ("delegated", "total", "fallback")


def validate_record(r: dict) -> list[str]:
    """What is wrong with one results.json record (empty: nothing)."""
    errors = []
    for key, types in REQUIRED.items():
        if key not in r:
            errors.append(f"missing {key}")
        elif not isinstance(r[key], types) or isinstance(r[key], bool):
            errors.append(f"{key} has type {type(r[key]).__name__}")
    if r.get("status") not in STATUSES:
        errors.append(f"status {r.get('status')!r} not in {STATUSES}")
    if r.get("status") != "ok" and not r.get("reason"):
        errors.append("a record that is not ok needs a reason")
    if isinstance(r.get("latency_ms"), dict):
        errors += [f"latency_ms lacks {k}" for k in LATENCY_KEYS if k not in r["latency_ms"]]
    if isinstance(r.get("ops"), dict):
        errors += [f"ops lacks {k}" for k in OPS_KEYS if k not in r["ops"]]
    return errors


def validate_results(data: dict) -> None:
    if data.get("schema") != SCHEMA_VERSION:
        raise ValueError(f"results schema {data.get('schema')!r}, expected {SCHEMA_VERSION!r}")
    for i, r in enumerate(data.get("records", [])):
        errors = validate_record(r)
        if errors:
            raise ValueError(f"record {i} ({r.get('target')} {r.get('precision')} {r.get('dataset')}): {'; '.join(errors)}")


def _fmt(v, spec: str, empty: str = "-") -> str:
    return empty if v is None else format(v, spec)


def label(r: dict) -> str:
    return precision_label(r)


# ---------------------------------------------------------------------------------------- paths
def portable_path(value, out: Path):
    """A path as results.json and the reports show it: relative to the output folder when inside it
    (a relative path is taken from the working directory), else a relative path without ``..`` as it
    is (a dataset's name, ``artifacts/...``), else relative to the package's parent when inside the
    package (``hpun_edge/weights/...``), else its name alone."""
    if not isinstance(value, str) or not value:
        return value
    p, outdir = Path(value), Path(out).resolve()
    full = p.resolve()
    if full == outdir or full.is_relative_to(outdir):
        return full.relative_to(outdir).as_posix()
    if not p.is_absolute() and ".." not in p.parts:
        return value
    package_parent = Path(hpun_edge.__file__).resolve().parent.parent
    if full.is_relative_to(package_parent):
        return full.relative_to(package_parent).as_posix()
    return full.name


def _scrub(text, out: Path):
    """A message with the output folder's and the package's absolute paths taken out."""
    if not isinstance(text, str):
        return text
    for base in (Path(out).resolve(), Path(hpun_edge.__file__).resolve().parent.parent):
        text = text.replace(f"{base}/", "")
    return text


PATH_KEYS = ("weights", "data_root", "calib_data")


def portable_summary(summary: dict, out: Path) -> dict:
    """The summary with no machine path left: config paths, the weights, record artifacts and reasons."""
    cfg = dict(summary.get("config", {}))
    for k in PATH_KEYS:
        if k in cfg:
            cfg[k] = portable_path(cfg[k], out)
    if "datasets" in cfg:
        cfg["datasets"] = [portable_path(d, out) for d in cfg["datasets"]]
    if "out" in cfg:
        cfg["out"] = "."
    records = [{**r, "artifact": portable_path(r.get("artifact"), out), "reason": _scrub(r.get("reason"), out)}
               for r in summary.get("records", [])]
    return {**summary, "config": cfg, "weights": portable_path(summary.get("weights"), out), "records": records}


# --------------------------------------------------------------------------------- what to ship
@dataclass(frozen=True)
class ShipChoice:
    """Per runtime: the fastest artifact within `SHIP_TOLERANCE_DB` of PyTorch fp32 on every dataset."""

    runtime: str
    targets: tuple[str, ...]
    record: dict | None  # the chosen artifact's first row; None: no artifact qualifies
    worst_delta: float | None  # its lowest psnr_delta_vs_torch_fp32 over the datasets
    why_none: str | None = None


def what_to_ship(records: list[dict]) -> list[ShipChoice]:
    """For each runtime of the run (registered targets only), among its artifacts whose rows are all
    ok: the fastest (median ms per 640x360 LR image) whose PSNR is within `SHIP_TOLERANCE_DB` of
    PyTorch fp32 through the same tiles on every dataset of the run (``psnr_delta_vs_torch_fp32 >=
    -0.05``); none when no artifact qualifies, with the closest, or why nothing ran."""
    datasets = [r["dataset"] for r in records if r["target"] == TORCH_TARGET] or \
        list(dict.fromkeys(r["dataset"] for r in records))
    artifacts: dict[tuple, list[dict]] = {}
    for r in records:
        if r["target"] in TARGETS:
            artifacts.setdefault((r["target"], r["precision"], r.get("method"), r.get("artifact")), []).append(r)
    runtimes: dict[str, list[list[dict]]] = {}
    for rows in artifacts.values():
        runtimes.setdefault(runtime_of(rows[0]["target"]), []).append(rows)
    choices = []
    for runtime, groups in runtimes.items():
        targets = tuple(dict.fromkeys(g[0]["target"] for g in groups))
        ran, good = [], []
        for rows in groups:
            if not all(r["status"] == "ok" for r in rows):
                continue
            deltas = {r["dataset"]: r.get("psnr_delta_vs_torch_fp32") for r in rows}
            if any(deltas.get(d) is None for d in datasets):
                continue
            worst = min(deltas[d] for d in datasets)
            ran.append((worst, rows[0]))
            median = (rows[0].get("latency_ms") or {}).get("median")
            if worst >= -SHIP_TOLERANCE_DB and median is not None:
                good.append((median, worst, rows[0]))
        if good:
            median, worst, r = min(good, key=lambda g: g[0])
            choices.append(ShipChoice(runtime, targets, r, worst))
        elif ran:
            worst, r = max(ran, key=lambda g: g[0])
            choices.append(ShipChoice(runtime, targets, None, None,
                                      f"none within {SHIP_TOLERANCE_DB} dB of PyTorch fp32 (closest: {r['target']} "
                                      f"{label(r)}, worst {worst:+.3f} dB)"))
        elif any(all(r["status"] == "ok" for r in rows) for rows in groups):
            choices.append(ShipChoice(runtime, targets, None, None, "no PSNR against PyTorch fp32 in this run"))
        else:
            first = groups[0][0]
            choices.append(ShipChoice(runtime, targets, None, None,
                                      f"nothing ran here ({first['target']} {label(first)}: "
                                      f"{first.get('reason') or first['status']})"))
    return choices


def ship_lines(records: list[dict]) -> list[str]:
    choices = what_to_ship(records)
    if not choices:
        return []
    lines = ["## What to ship", "",
             f"Per runtime, the fastest artifact (640x360 median) whose PSNR-Y is within {SHIP_TOLERANCE_DB} dB of "
             "PyTorch fp32 through the same tiles on every dataset of this run.", ""]
    for c in choices:
        who = f"**{c.runtime}** ({', '.join(c.targets)})"
        if c.record is None:
            lines.append(f"- {who}: {c.why_none}")
            continue
        r = c.record
        size = f"{r['size_bytes'] / 1e6:.2f} MB" if r.get("size_bytes") else "size unknown"
        lines.append(f"- {who}: `{r.get('artifact')}`: {r['target']} {label(r)}, {size}, "
                     f"{r['latency_ms']['median']:.1f} ms per 640x360 LR image, worst {c.worst_delta:+.3f} dB")
    return lines + [""]


# ------------------------------------------------------------------------------------- sections
@dataclass(frozen=True)
class Section:
    """A part of the report: its markdown, and its HTML where that is not the markdown's rendering."""

    md: str
    html: str | None = None


def plot_file(dataset: str) -> str:
    return f"plots/psnr_latency_{re.sub(r'[^A-Za-z0-9._-]+', '_', dataset)}.svg"


def plot_datasets(records: list[dict]) -> list[str]:
    return list(dict.fromkeys(r["dataset"] for r in records if r["status"] == "ok" and r.get("latency_ms")
                              and r.get("psnr_y") is not None))


def torch_psnr(records: list[dict], dataset: str) -> float | None:
    return next((r["psnr_y"] for r in records if r["target"] == TORCH_TARGET and r["dataset"] == dataset), None)


def header(summary: dict) -> str:
    cfg = summary["config"]
    return "\n".join([
        f"# hpun-edge report: {cfg['model']} x{cfg['scale']}",
        "",
        f"Weights `{summary['weights']}` (sha256 {summary['weights_sha256'][:12]}...). PSNR/SSIM on Y, "
        f"crop_border = scale, through crop-and-stitch tiles of {cfg['tile']} LR pixels (overlap {cfg['overlap']}); "
        f"deltas against PyTorch fp32 through the same tiles. Latency: ms per 640x360 LR image (720p output at x2) and "
        f"per tile, median / p90 over {cfg['latency_runs']} runs after {cfg['latency_warmup']} warm-up runs (fewer, at least "
        f"{cfg.get('latency_min_runs', 3)}, where they would exceed {cfg['latency_budget_s']:.0f} s; each record has its count), "
        f"{cfg['threads']} threads. int8 = {', '.join(cfg['methods']).upper()} "
        f"(QAT: {cfg['qat_steps']} steps, lr {cfg['qat_lr']}, loss {cfg.get('qat_loss', 'l1')}); Core ML int8 = int8 weights, fp16 compute.",
        ""])


def target_tables(records: list[dict]) -> list[str]:
    lines = []
    for target in dict.fromkeys(r["target"] for r in records if r["target"] not in (TORCH_TARGET, BICUBIC_TARGET)):
        rows = [r for r in records if r["target"] == target]
        lines += [f"## {target}", "",
                  "| precision | dataset | PSNR-Y | SSIM-Y | vs torch fp32 (dB) | vs fake-quant (dB) | "
                  "640x360 ms (median / p90) | tile ms | size | ops delegated / total | status |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            lat, tl, ops = r.get("latency_ms") or {}, r.get("latency_tile_ms") or {}, r.get("ops") or {}
            delta = r.get("psnr_delta_vs_torch_fp32")
            flag = " **(bug: fp32 differs)**" if (r["precision"] == "fp32" and delta is not None
                                                 and abs(delta) > FP32_TOLERANCE_DB) else ""
            status = r["status"] + (f": {r['reason']}" if r.get("reason") else "")
            size = f"{r['size_bytes'] / 1e6:.2f} MB" if r.get("size_bytes") else "-"
            opstxt = f"{_fmt(ops.get('delegated'), 'd', '?')} / {_fmt(ops.get('total'), 'd', '?')}" if ops else "-"
            if ops and ops.get("fallback"):
                opstxt += f" (outside: {', '.join(ops['fallback'])})"
            psnr = _fmt(r['psnr_y'], '.3f')
            if r["psnr_y"] is None and r.get("psnr_y_fake_quant") is not None:  # not run here (Core ML off macOS)
                psnr = f"({r['psnr_y_fake_quant']:.3f}: its reference)"
            lines.append(
                f"| {label(r)} | {r['dataset']} | {psnr} | {_fmt(r['ssim_y'], '.4f')} | "
                f"{_fmt(delta, '+.3f')}{flag} | {_fmt(r.get('psnr_delta_vs_fake_quant'), '+.3f')} | "
                f"{_fmt(lat.get('median'), '.1f')} / {_fmt(lat.get('p90'), '.1f')} | {_fmt(tl.get('median'), '.1f')} | "
                f"{size} | {opstxt} | {status.replace('|', '/')} |"
            )
        lines.append("")
    return lines


def sections(summary: dict) -> list[Section]:
    records = summary["records"]
    parts = [Section(header(summary))]
    ship = ship_lines(records)
    if ship:
        parts.append(Section("\n".join(ship)))
    refs = reference_table(summary)
    if refs:
        parts.append(Section("\n".join(refs)))
    plots = plot_datasets(records)
    if plots:
        md = ["## PSNR versus latency", ""] + [f"![PSNR-Y on {d} against latency]({plot_file(d)})\n" for d in plots]
        svgs = [plot_svg(records, d, torch_psnr(records, d)) for d in plots]
        parts.append(Section("\n".join(md), "<h2>PSNR versus latency</h2>\n" + "\n".join(
            f"<figure class='plot'>{s}</figure>" for s in svgs)))
    if summary.get("pictures"):
        from .pictures import pictures_html, pictures_markdown

        parts.append(Section(pictures_markdown(summary["pictures"]), pictures_html(summary["pictures"])))
    parts.append(Section("\n".join(target_tables(records))))
    profiled = {(r["model"], r["target"], label(r)): r["profile"] for r in records if r.get("profile")}
    for (model, target, lab), profile in profiled.items():  # per-op profiles (hpun_edge.app.profiling)
        parts.append(Section("\n".join([f"## Where the time goes: {model} {target} {lab}", "",
                                        profile_markdown(profile), ""])))
    parts.append(Section(f"Pipeline wall time: {summary['seconds']:.0f} s. Machine-readable: results.json."))
    return parts


def markdown(summary: dict) -> str:
    return "\n".join(s.md.rstrip("\n") + "\n" for s in sections(summary))


# ------------------------------------------------------------------------------------------ HTML
def inline_html(text: str) -> str:
    """One line of the report's markdown as HTML: images, links, code and bold."""
    t = html.escape(text, quote=True)
    t = re.sub(r"!\[([^\]]*)\]\(([^)\s]+)\)", r'<img alt="\1" src="\2">', t)
    t = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', t)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", t)


def md_to_html(md: str) -> str:
    """The subset of markdown the report writes: headings, tables, list items, paragraphs."""
    out, lines, i = [], md.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{inline_html(line[level:].strip())}</h{level}>")
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(lines[i])
                i += 1
            out.append("<table>")
            for k, row in enumerate(rows):
                if row.startswith("|---"):
                    continue
                tag = "th" if k + 1 < len(rows) and rows[k + 1].startswith("|---") else "td"
                cells = [inline_html(c.strip()) for c in row.strip().strip("|").split("|")]
                out.append("<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>")
            out.append("</table>")
            continue
        elif line.startswith("- "):
            out.append("<ul>")
            while i < len(lines) and lines[i].startswith("- "):
                out.append(f"<li>{inline_html(lines[i][2:])}</li>")
                i += 1
            out.append("</ul>")
            continue
        elif line.strip():
            out.append(f"<p>{inline_html(line)}</p>")
        i += 1
    return "\n".join(out)


STYLE = ("body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;margin-bottom:1em}"
         "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}th{background:#f4f4f4}"
         "code{font-size:12px}figure{margin:0 0 1em 0}.crop{display:flex;flex-wrap:wrap;gap:10px}"
         ".crop figure{margin:0;width:min-content}.crop img{image-rendering:pixelated;display:block}"
         ".crop figcaption{font-size:12px;margin-top:2px}")


def html_report(summary: dict, md: str | None = None) -> str:
    """report.html: the markdown's sections rendered, with the plots inline and the pictures as a grid."""
    body = "\n".join(s.html if s.html is not None else md_to_html(s.md) for s in sections(summary))
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>hpun-edge report</title>"
            f"<link rel='icon' href='data:,'><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n")


def write_reports(summary: dict, out: Path) -> dict[str, Path]:
    """results.json, report.md, report.html and the plots' SVG files under `out`, each written atomically."""
    out = Path(out)
    data = {"schema": SCHEMA_VERSION, **portable_summary(summary, out)}
    validate_results(data)
    view = {k: v for k, v in data.items() if k != "schema"}
    md = markdown(view)
    paths = {"results": out / "results.json", "markdown": out / "report.md", "html": out / "report.html"}
    write_json(paths["results"], data)
    for d in plot_datasets(view["records"]):
        svg = plot_svg(view["records"], d, torch_psnr(view["records"], d))
        atomic_write_bytes(out / plot_file(d), lambda tmp, svg=svg: Path(tmp).write_text(svg + "\n"))
    atomic_write_bytes(paths["markdown"], lambda tmp: Path(tmp).write_text(md))
    page = html_report(view)
    atomic_write_bytes(paths["html"], lambda tmp: Path(tmp).write_text(page))
    return paths
