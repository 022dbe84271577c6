"""The report's PSNR-versus-latency plot: an SVG written by hand (no plotting dependency).

One point per artifact that ran on the dataset: x is its median latency per 640x360 LR image, y its
PSNR-Y. The marker's shape is the runtime's (`MARKERS`), its colour the precision's (`COLOURS`, int8
by method); within a runtime the first target's markers are filled and the others' hollow (ExecuTorch
with XNNPACK against ExecuTorch with the project's kernels). Each point carries a number and the legend
beside the plot names it, so no label sits on another. The latency axis is logarithmic when the
slowest artifact takes more than `LOG_AXIS_SPREAD` times the fastest's time. A dashed line marks
PyTorch fp32 through the same tiles and a band the 0.05 dB below it (`SHIP_TOLERANCE_DB`).
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass

from hpun_edge.converters import TARGETS

LOG_AXIS_SPREAD = 10.0
SHIP_TOLERANCE_DB = 0.05
MARKERS = {"executorch": "circle", "litert": "square", "onnxruntime": "triangle", "coreml": "diamond"}
EXTRA_MARKERS = ("star", "cross")  # runtimes the table above does not know (a phone's runner, ...)
COLOURS = {"fp32": "#1f77b4", "fp16": "#2ca02c", "int8 (ptq)": "#ff7f0e", "int8 (qat)": "#d62728"}
OTHER_COLOUR = "#7f7f7f"


@dataclass(frozen=True)
class Point:
    """One artifact on the plot."""

    number: int
    target: str
    label: str  # precision, with the int8 method
    runtime: str
    latency_ms: float
    psnr: float
    filled: bool


def runtime_of(target: str) -> str:
    """The runtime a target's artifacts run in (a target not in the registry: its own name)."""
    spec = TARGETS.get(target)
    return spec.runtime if spec else target


def precision_label(r: dict) -> str:
    return r["precision"] if r["precision"] != "int8" else f"int8 ({r.get('method')})"


def plot_points(records: list[dict], dataset: str) -> list[Point]:
    """The artifacts that ran on `dataset` with a latency, numbered in record order."""
    rows = [r for r in records if r["dataset"] == dataset and r["status"] == "ok" and r.get("latency_ms")
            and r["latency_ms"].get("median") and r.get("psnr_y") is not None]
    first_target: dict[str, str] = {}
    points = []
    for i, r in enumerate(rows, 1):
        runtime = runtime_of(r["target"])
        first_target.setdefault(runtime, r["target"])
        points.append(Point(i, r["target"], precision_label(r), runtime, float(r["latency_ms"]["median"]),
                            float(r["psnr_y"]), first_target[runtime] == r["target"]))
    return points


def use_log_axis(latencies: list[float]) -> bool:
    """A logarithmic latency axis when the spread exceeds `LOG_AXIS_SPREAD` (max / min)."""
    positive = [v for v in latencies if v > 0]
    return len(positive) >= 2 and max(positive) / min(positive) > LOG_AXIS_SPREAD


def nice_step(span: float, ticks: int = 5) -> float:
    """A step of 1, 2 or 5 times a power of ten giving about `ticks` ticks over `span`."""
    raw = max(span, 1e-9) / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def linear_ticks(lo: float, hi: float, ticks: int = 5) -> list[float]:
    step = nice_step(hi - lo, ticks)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step + 1e-9) + 1)]


def log_ticks(lo: float, hi: float) -> list[float]:
    """1, 2, 5 times the powers of ten within [lo, hi]."""
    ticks = []
    for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        ticks += [m * 10.0 ** e for m in (1, 2, 5) if lo <= m * 10.0 ** e <= hi]
    return ticks


def _fmt_tick(v: float) -> str:
    return f"{v:g}" if abs(v) >= 1 or v == 0 else f"{v:.2g}"


def marker_svg(shape: str, x: float, y: float, colour: str, filled: bool, r: float = 5.0) -> str:
    fill = colour if filled else "white"
    style = f'fill="{fill}" stroke="{colour}" stroke-width="1.6"'
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" {style}/>'
    if shape == "square":
        return f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r}" height="{2 * r}" {style}/>'
    corners = {"triangle": [(0, -1.2), (1.1, 0.9), (-1.1, 0.9)],
               "diamond": [(0, -1.3), (1.1, 0), (0, 1.3), (-1.1, 0)],
               "star": [(math.sin(a * math.pi / 5) * (1.3 if a % 2 == 0 else 0.55),
                         -math.cos(a * math.pi / 5) * (1.3 if a % 2 == 0 else 0.55)) for a in range(10)],
               "cross": [(-1, -0.4), (-0.4, -0.4), (-0.4, -1), (0.4, -1), (0.4, -0.4), (1, -0.4), (1, 0.4),
                         (0.4, 0.4), (0.4, 1), (-0.4, 1), (-0.4, 0.4), (-1, 0.4)]}[shape]
    pts = " ".join(f"{x + dx * r:.1f},{y + dy * r:.1f}" for dx, dy in corners)
    return f'<polygon points="{pts}" {style}/>'


def shapes_for(points: list[Point]) -> dict[str, str]:
    """The marker shape of each runtime on the plot (known runtimes first, then the extra shapes)."""
    shapes, extra = {}, iter(EXTRA_MARKERS * 4)
    for p in points:
        if p.runtime not in shapes:
            shapes[p.runtime] = MARKERS.get(p.runtime) or next(extra)
    return shapes


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_numbers(spots: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """(x, y, anchor) for each point's number: the first offset whose box clears every marker and
    every number placed before it (the first offset when none does)."""
    marks = [(x - 6, y - 6, x + 6, y + 6) for x, y, _ in spots]
    placed, boxes = [], []
    for x, y, text in spots:
        w, h = 7 * len(text) + 2, 11
        options = [(x + 8, y - 4, "start"), (x + 8, y + 12, "start"), (x - 8, y - 4, "end"), (x - 8, y + 12, "end"),
                   (x, y - 10, "middle"), (x, y + 19, "middle"), (x + 14, y - 14, "start"), (x - 14, y + 22, "end")]
        chosen = options[0]
        for tx, ty, anchor in options:
            left = tx if anchor == "start" else tx - w if anchor == "end" else tx - w / 2
            box = (left, ty - h + 2, left + w, ty + 2)
            if not any(_overlaps(box, m) for m in marks + boxes):
                chosen = (tx, ty, anchor)
                boxes.append(box)
                break
        placed.append(chosen)
    return placed


def plot_svg(records: list[dict], dataset: str, torch_fp32_psnr: float | None = None) -> str:
    """The plot for `dataset` as a standalone SVG document (a paragraph of HTML when nothing ran)."""
    points = plot_points(records, dataset)
    if not points:
        return f"<p>No artifact ran on {html.escape(dataset)} with a latency: nothing to plot.</p>"
    width, legend_w = 980, 370
    height = max(420, 64 + 17 * (len(points) + 2))
    left, right, top, bottom = 64, width - legend_w - 20, 24, height - 56
    xs, ys = [p.latency_ms for p in points], [p.psnr for p in points]
    log = use_log_axis(xs)
    if log:
        series = log_ticks(min(xs) / 20, max(xs) * 20)  # the axis starts and ends on a 1-2-5 tick
        x0 = max(t for t in series if t <= min(xs) / 1.15)
        x1 = min(t for t in series if t >= max(xs) * 1.15)
        xticks = log_ticks(x0, x1)
        lx0, lx1 = math.log10(x0), math.log10(x1)
        fx = lambda v: left + (math.log10(v) - lx0) / (lx1 - lx0) * (right - left)  # noqa: E731
    else:
        step = nice_step(max(xs) * 1.05)
        x0, x1 = 0.0, math.ceil(max(xs) * 1.05 / step) * step  # the axis ends on a tick
        xticks = linear_ticks(x0, x1)
        fx = lambda v: left + (v - x0) / (x1 - x0) * (right - left)  # noqa: E731
    band = [torch_fp32_psnr, torch_fp32_psnr - SHIP_TOLERANCE_DB] if torch_fp32_psnr is not None else []
    lo, hi = min(ys + band), max(ys + band)
    pad = max((hi - lo) * 0.08, 0.02)
    y0, y1 = lo - pad, hi + pad
    yticks = linear_ticks(y0, y1, 7)
    fy = lambda v: bottom - (v - y0) / (y1 - y0) * (bottom - top)  # noqa: E731
    decimals = max(0, -math.floor(math.log10(nice_step(y1 - y0, 7))))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           f'font-size="12" role="img" aria-label="PSNR-Y on {html.escape(dataset)} against latency">',
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>']
    if torch_fp32_psnr is not None:
        out.append(f'<rect x="{left}" y="{fy(torch_fp32_psnr):.1f}" width="{right - left}" '
                   f'height="{fy(torch_fp32_psnr - SHIP_TOLERANCE_DB) - fy(torch_fp32_psnr):.1f}" fill="#dff0d8"/>')
        out.append(f'<line x1="{left}" y1="{fy(torch_fp32_psnr):.1f}" x2="{right}" y2="{fy(torch_fp32_psnr):.1f}" '
                   'stroke="#555" stroke-dasharray="5,4"/>')
    for t in xticks:
        out.append(f'<line x1="{fx(t):.1f}" y1="{top}" x2="{fx(t):.1f}" y2="{bottom}" stroke="#eee"/>')
        out.append(f'<text x="{fx(t):.1f}" y="{bottom + 16}" text-anchor="middle">{_fmt_tick(t)}</text>')
    for t in yticks:
        out.append(f'<line x1="{left}" y1="{fy(t):.1f}" x2="{right}" y2="{fy(t):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 6}" y="{fy(t) + 4:.1f}" text-anchor="end">{t:.{decimals}f}</text>')
    out += [f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="black"/>',
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="black"/>',
            f'<text x="{(left + right) / 2}" y="{height - 18}" text-anchor="middle">latency, ms per 640x360 LR '
            f'image (median){", log scale" if log else ""}</text>',
            f'<text x="16" y="{(top + bottom) / 2}" transform="rotate(-90 16 {(top + bottom) / 2})" '
            f'text-anchor="middle">PSNR-Y on {html.escape(dataset)} (dB)</text>']
    shapes = shapes_for(points)
    spots = [(fx(p.latency_ms), fy(p.psnr), str(p.number)) for p in points]
    for p, (x, y, _), (tx, ty, anchor) in zip(points, spots, place_numbers(spots)):
        colour = COLOURS.get(p.label, OTHER_COLOUR)
        out.append(marker_svg(shapes[p.runtime], x, y, colour, p.filled))
        out.append(f'<text x="{tx:.1f}" y="{ty:.1f}" text-anchor="{anchor}" font-weight="bold">{p.number}</text>')
    lx, ly = right + 24, top + 6
    out.append(f'<text x="{lx}" y="{ly}" font-weight="bold">artifacts (marker: runtime; colour: precision)</text>')
    for i, p in enumerate(points):
        y = ly + 20 + 17 * i
        out.append(marker_svg(shapes[p.runtime], lx + 6, y - 4, COLOURS.get(p.label, OTHER_COLOUR), p.filled, r=4.5))
        out.append(f'<text x="{lx + 18}" y="{y}">{p.number}  {html.escape(p.target)} {html.escape(p.label)}: '
                   f'{p.latency_ms:.1f} ms, {p.psnr:.3f} dB</text>')
    if torch_fp32_psnr is not None:
        y = ly + 20 + 17 * len(points) + 6
        out.append(f'<line x1="{lx}" y1="{y - 4}" x2="{lx + 12}" y2="{y - 4}" stroke="#555" stroke-dasharray="4,3"/>')
        out.append(f'<text x="{lx + 18}" y="{y}">PyTorch fp32 ({torch_fp32_psnr:.3f} dB); band: within '
                   f'{SHIP_TOLERANCE_DB} dB</text>')
    out.append("</svg>")
    return "\n".join(out)
