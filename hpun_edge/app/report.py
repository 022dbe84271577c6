"""results.json (checked against its schema), report.md and report.html (tables + PSNR-vs-latency plot).

One record per (model, scale, target, precision[, method], dataset). PSNR/SSIM are on Y, with
``crop_border = scale``, through the artifact's fixed-tile tiling; ``psnr_delta_vs_torch_fp32`` is
against the PyTorch fp32 model through the same tiling (an fp32 artifact more than 0.01 dB off is a
bug, and the report marks it); int8 rows also give the fake-quant reference's PSNR and the delta to
it. Latency is milliseconds per 640x360 LR image (``latency_ms``) and per tile (``latency_tile_ms``).
"""
from __future__ import annotations

import html
from pathlib import Path

from hpun_edge.evaluate import write_json
from hpun_edge.files import atomic_write_bytes

from .profiling import profile_markdown

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
    return r["precision"] if r["precision"] != "int8" else f"int8 ({r.get('method')})"


def markdown(summary: dict) -> str:
    cfg, records = summary["config"], summary["records"]
    lines = [
        f"# hpun-edge report: {cfg['model']} x{cfg['scale']}",
        "",
        f"Weights `{summary['weights']}` (sha256 {summary['weights_sha256'][:12]}...). PSNR/SSIM on Y, "
        f"crop_border = scale, through crop-and-stitch tiles of {cfg['tile']} LR pixels (overlap {cfg['overlap']}); "
        f"deltas against PyTorch fp32 through the same tiles. Latency: ms per 640x360 LR image (720p output at x2) and "
        f"per tile, median / p90 over {cfg['latency_runs']} runs after {cfg['latency_warmup']} warm-up runs (fewer, at least "
        f"{cfg.get('latency_min_runs', 3)}, where they would exceed {cfg['latency_budget_s']:.0f} s; each record has its count), "
        f"{cfg['threads']} threads. int8 = {', '.join(cfg['methods']).upper()} "
        f"(QAT: {cfg['qat_steps']} steps, lr {cfg['qat_lr']}, loss {cfg.get('qat_loss', 'l1')}); Core ML int8 = int8 weights, fp16 compute.",
        "",
    ]
    for target in dict.fromkeys(r["target"] for r in records):
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
                f"{size} | {opstxt} | {status} |"
            )
        lines.append("")
    profiled = {(r["model"], r["target"], label(r)): r["profile"] for r in records if r.get("profile")}
    if profiled:  # per-op profiles (hpun_edge.app.profiling), one per artifact
        for (model, target, lab), profile in profiled.items():
            lines += [f"## Where the time goes: {model} {target} {lab}", "", profile_markdown(profile), ""]
    lines.append(f"Pipeline wall time: {summary['seconds']:.0f} s. Machine-readable: results.json.")
    return "\n".join(lines) + "\n"


def plot_svg(records: list[dict], dataset: str, width: int = 640, height: int = 360) -> str:
    """PSNR (on `dataset`) against 640x360 latency, one labelled point per artifact that ran."""
    pts = [(r["latency_ms"]["median"], r["psnr_y"], f"{r['target']} {label(r)}") for r in records
           if r["dataset"] == dataset and r["status"] == "ok" and r.get("latency_ms") and r.get("psnr_y") is not None]
    if not pts:
        return f"<p>No artifact ran on {html.escape(dataset)}: nothing to plot.</p>"
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, x1 = 0.0, max(xs) * 1.15
    y0, y1 = min(ys) - 0.05, max(ys) + 0.05
    m = 60

    def sx(v):
        return m + (v - x0) / (x1 - x0) * (width - 2 * m)

    def sy(v):
        return height - m - (v - y0) / (y1 - y0) * (height - 2 * m)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="11">',
           f'<line x1="{m}" y1="{height - m}" x2="{width - m}" y2="{height - m}" stroke="black"/>',
           f'<line x1="{m}" y1="{m}" x2="{m}" y2="{height - m}" stroke="black"/>',
           f'<text x="{width / 2}" y="{height - 20}" text-anchor="middle">latency, ms per 640x360 LR image (median)</text>',
           f'<text x="15" y="{height / 2}" transform="rotate(-90 15 {height / 2})" text-anchor="middle">'
           f'PSNR-Y on {html.escape(dataset)} (dB)</text>',
           f'<text x="{m}" y="{height - m + 15}" text-anchor="middle">0</text>',
           f'<text x="{width - m}" y="{height - m + 15}" text-anchor="middle">{x1:.0f}</text>',
           f'<text x="{m - 5}" y="{sy(y0) + 4}" text-anchor="end">{y0:.2f}</text>',
           f'<text x="{m - 5}" y="{sy(y1) + 4}" text-anchor="end">{y1:.2f}</text>']
    for x, y, name in pts:
        out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="4" fill="steelblue"/>')
        out.append(f'<text x="{sx(x) + 6:.1f}" y="{sy(y) - 6:.1f}">{html.escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def html_report(summary: dict, md: str) -> str:
    records = summary["records"]
    first = records[0]["dataset"] if records else ""
    body = []
    for line in md.splitlines():  # the markdown tables, rendered as HTML tables
        if line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("|---"):
            continue
        elif line.startswith("|"):
            cells = [html.escape(c.strip()).replace("**", "") for c in line.strip("|").split("|")]
            tag = "th" if "PSNR-Y" in line else "td"
            body.append("<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>")
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    text, open_table = [], False
    for b in body:  # wrap runs of rows in <table>
        if b.startswith("<tr>") and not open_table:
            text.append("<table>")
            open_table = True
        if not b.startswith("<tr>") and open_table:
            text.append("</table>")
            open_table = False
        text.append(b)
    if open_table:
        text.append("</table>")
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1em}"
             "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>hpun-edge report</title><style>{style}</style>"
            f"</head><body>\n" + "\n".join(text[:2]) + f"\n<h2>PSNR versus latency</h2>\n{plot_svg(records, first)}\n"
            + "\n".join(text[2:]) + "\n</body></html>\n")


def write_reports(summary: dict, out: Path) -> dict[str, Path]:
    data = {"schema": SCHEMA_VERSION, **summary}
    validate_results(data)
    md = markdown(summary)
    paths = {"results": out / "results.json", "markdown": out / "report.md", "html": out / "report.html"}
    write_json(paths["results"], data)
    atomic_write_bytes(paths["markdown"], lambda tmp: Path(tmp).write_text(md))
    page = html_report(summary, md)
    atomic_write_bytes(paths["html"], lambda tmp: Path(tmp).write_text(page))
    return paths
