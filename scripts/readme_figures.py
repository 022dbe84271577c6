"""The README's table of a pipeline run, printed from its results.json (the figures are that run's):

    python scripts/readme_figures.py out/results.json

One row per artifact (and the PyTorch fp32 and bicubic references): PSNR-Y per dataset with the
difference to PyTorch fp32, the paper's Table 3 figure beside the PyTorch row, the 640x360 latency
median, size and status.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from hpun_edge.app.report_plot import precision_label
from hpun_edge.variants import get_variant


def label(r: dict) -> str:
    return f"{r['target']} {precision_label(r)}"


def table(results: dict) -> str:
    records = results["records"]
    datasets = list(dict.fromkeys(r["dataset"] for r in records))
    cfg = results["config"]
    paper = get_variant(cfg["model"]).paper
    rows: dict[str, dict[str, dict]] = {}
    for r in records:
        rows.setdefault(label(r), {})[r["dataset"]] = r
    head = "| artifact | " + " | ".join(f"{d} PSNR-Y (vs fp32)" for d in datasets) + " | 640x360 ms | size | status |"
    lines = [head, "|---" * (len(datasets) + 4) + "|"]
    for name, by_ds in rows.items():
        cells = []
        for d in datasets:
            r = by_ds.get(d, {})
            if r.get("psnr_y") is None:
                cells.append("-")
                continue
            delta = r.get("psnr_delta_vs_torch_fp32")
            cell = f"{r['psnr_y']:.3f}" + (f" ({delta:+.3f})" if delta is not None and r["target"] != "pytorch" else "")
            if r["target"] == "pytorch":
                score = paper.score(cfg["scale"], d)
                cell += f" (paper {score.psnr:.2f})" if score else ""
            cells.append(cell)
        any_r = next(iter(by_ds.values()))
        lat = any_r.get("latency_ms") or {}
        size = any_r.get("size_bytes")
        status = any_r["status"] + (f": {any_r['reason']}" if any_r.get("reason") and any_r["status"] != "ok" else "")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {format(round(lat['median']), ',') if lat.get('median') else '-'} | "
                     + (f"{size / 1e6:.2f} MB" if size else "-") + f" | {status} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    print(table(json.loads(Path(args[0]).read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
