"""What a run is read against: bicubic, measured by the pipeline, and the paper's Table 3.

`measure_bicubic` scores MATLAB bicubic upscaling of the run's LR images (`evaluate.bicubic_upscaler`,
the literature's "Bicubic" row) on the run's datasets, in `pipeline.measure_forward`'s format, so the
pipeline caches it as it caches PyTorch fp32 (`bicubic_sha256` names the code that computes it).
`reference_table` is the report's table of PyTorch fp32 beside our bicubic and the paper's figures
(`variants.PaperFigures`: HPUN without and with self-ensemble, and the paper's bicubic row).
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from hpun_edge import imresize
from hpun_edge.evaluate import bicubic_upscaler, evaluate_dataset
from hpun_edge.variants import PAPER_DATASETS, VARIANTS, paper_bicubic

BICUBIC_TARGET = "bicubic"
TORCH_TARGET = "pytorch"


@lru_cache(maxsize=1)
def bicubic_sha256() -> str:
    """sha256 of the bicubic code (imresize.py), the measurement cache's content hash for bicubic."""
    return hashlib.sha256(Path(imresize.__file__).read_bytes()).hexdigest()


def measure_bicubic(scale: int, datasets) -> dict:
    """PSNR/SSIM per dataset of bicubic upscaling, in `pipeline.measure_forward`'s format."""
    result: dict = {"datasets": {}}
    for ds in datasets:
        r = evaluate_dataset(bicubic_upscaler(scale), ds, scale, model="bicubic")
        result["datasets"][ds.name] = {"psnr_y": r.psnr_y, "ssim_y": r.ssim_y, "images": len(r.images),
                                       "skipped": r.skipped}
    return result


def _cell(psnr, ssim, places: int = 3) -> str:
    return "-" if psnr is None else f"{psnr:.{places}f} / {ssim:.4f}"


def reference_table(summary: dict) -> list[str]:
    """Markdown lines: per dataset of the run, PyTorch fp32 and our bicubic beside Table 3's figures."""
    cfg, records = summary["config"], summary["records"]
    model, scale = cfg["model"], cfg["scale"]
    ours = {(r["target"], r["dataset"]): r for r in records if r["target"] in (TORCH_TARGET, BICUBIC_TARGET)}
    datasets = [r["dataset"] for r in records if r["target"] == TORCH_TARGET]
    if not datasets:
        return []
    variant = VARIANTS.get(model)
    title = variant.title if variant else model
    lines = [f"## PyTorch fp32 beside bicubic and the paper", "",
             f"PSNR-Y / SSIM-Y. Ours: these weights through the run's tiles, and MATLAB bicubic of the same LR "
             f"images. Paper: Table 3 of Sun et al. (AAAI 2023; `../shared/design/paper-results.md`), trained on "
             f"DIV2K + Flickr2K for about 3.5 million iterations a cycle; \"+\" is self-ensemble.", "",
             f"| dataset | PyTorch fp32 (ours) | bicubic (ours) | {title} x{scale} (paper) | {title}+ x{scale} (paper) "
             f"| bicubic (paper) |", "|---|---|---|---|---|---|"]
    for name in datasets:
        t, b = ours.get((TORCH_TARGET, name), {}), ours.get((BICUBIC_TARGET, name), {})
        p = variant.paper.score(scale, name) if variant else None
        pp = variant.paper.score(scale, name, ensemble=True) if variant else None
        pb = paper_bicubic(scale, name)
        lines.append(f"| {name} | {_cell(t.get('psnr_y'), t.get('ssim_y'))} "
                     f"| {_cell(b.get('psnr_y'), b.get('ssim_y'))} "
                     f"| {_cell(p and p.psnr, p and p.ssim, 2)} | {_cell(pp and pp.psnr, pp and pp.ssim, 2)} "
                     f"| {_cell(pb and pb.psnr, pb and pb.ssim, 2)} |")
    missing = [n for n in datasets if n not in PAPER_DATASETS]
    if missing:
        lines += ["", f"Not in Table 3: {', '.join(missing)} (the paper has {', '.join(PAPER_DATASETS)})."]
    return lines + [""]
