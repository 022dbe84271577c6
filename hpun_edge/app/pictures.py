"""The report's pictures: a few fixed crops, every artifact's output beside the HR image, bicubic and
PyTorch fp32, and |artifact - PyTorch fp32| as an amplified heat map. PNGs under ``<out>/pictures/``.

* Crop choice (`choose_crops`): on the run's Set5 and Set14 (else its first dataset), every image is
  upscaled by PyTorch fp32 through the run's tiles and by bicubic; an image's window is the
  `CROP_LR` x `CROP_LR` LR window (even corner) where the two differ most (mean |Y difference| over its
  HR pixels); the `N_CROPS` images whose windows differ most give one crop each. Deterministic: ties
  go to the first image and the first window.
* Pixels (`crop_upscale`): what the pipeline's whole-image run gives, bit for bit: the same fixed-size
  tiling, running only the tiles whose kept core meets the crop, then cut out.
* Heat map (`heat_map`): |artifact - PyTorch fp32| on Y (BT.601, as PSNR is scored; gray values for a
  gray image), times `HEAT_GAIN`, clipped at 255, coloured black -> red -> yellow -> white.
* Cache: ``pictures/index.json`` holds the choice's key and, per source, the sha256 its PNGs were made
  from (the artifact's file, the weights'); a source's PNGs are remade only when that or the choice
  changes. Artifacts that did not run here (Core ML off macOS) are listed as absent with the reason.
"""
from __future__ import annotations

import itertools
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from hpun_edge.converters import TARGETS, load_artifact, read_sidecar
from hpun_edge.converters.base import one_line
from hpun_edge.data import Dataset, ImageError, load_pair, read_image, write_image
from hpun_edge.evaluate import write_json
from hpun_edge.imresize import bicubic_upscale
from hpun_edge.inference import InferenceOptions, tile_spans, upscale
from hpun_edge.metrics import scoring_channel

from .latency import tiled_options
from .report_plot import precision_label

CROP_LR = 48
N_CROPS = 3
HEAT_GAIN = 8
PICTURE_SETS = ("Set5", "Set14")
FOLDER = "pictures"
INDEX_FORMAT = "hpun-edge-pictures/1"


@dataclass(frozen=True)
class Crop:
    """A window of one benchmark image: LR corner (y, x) and side, and how much fp32 and bicubic differ there."""

    dataset: str
    image: str  # the HR file's name
    y: int
    x: int
    size: int
    score: float  # mean |Y(fp32) - Y(bicubic)| over the window's HR pixels

    @property
    def id(self) -> str:
        return safe_name(f"{self.dataset}_{Path(self.image).stem}")

    def hr(self, img: np.ndarray, scale: int) -> np.ndarray:
        s = scale
        return img[self.y * s:(self.y + self.size) * s, self.x * s:(self.x + self.size) * s]


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


# ---------------------------------------------------------------------------------- the pixels
def needed_tiles(h: int, w: int, opts: InferenceOptions, box: tuple[int, int, int, int]) -> set[int]:
    """Indices (in `tiled_forward`'s call order) of the tiles whose kept core meets the LR box
    (y0, x0, y1, x1), for an h x w image tiled as `tiled_forward` tiles it."""
    he, we = h + h % 2, w + w % 2
    if opts.fixed_size:
        he, we = max(he, opts.tile), max(we, opts.tile)
    ys, xs = tile_spans(he, opts.tile, opts.overlap), tile_spans(we, opts.tile, opts.overlap)
    y0, x0, y1, x1 = box
    return {i * len(xs) + j for i, sy in enumerate(ys) for j, sx in enumerate(xs)
            if sy.keep_start < y1 and y0 < sy.keep_stop and sx.keep_start < x1 and x0 < sx.keep_stop}


def crop_upscale(forward: Callable, lr: np.ndarray, scale: int, opts: InferenceOptions, crop: Crop) -> np.ndarray:
    """The HR crop of `upscale(forward, lr, scale, opts)`, running only the tiles the crop needs."""
    if opts.tile is None or opts.self_ensemble:
        return crop.hr(upscale(forward, lr, scale, opts), scale)
    needed = needed_tiles(lr.shape[0], lr.shape[1], opts, (crop.y, crop.x, crop.y + crop.size, crop.x + crop.size))
    calls = itertools.count()

    def some_tiles(t: torch.Tensor) -> torch.Tensor:
        if next(calls) in needed:
            return forward(t)
        return t.new_zeros(t.shape[0], t.shape[1], t.shape[2] * scale, t.shape[3] * scale)

    return crop.hr(upscale(some_tiles, lr, scale, opts), scale)


def best_window(diff: np.ndarray, scale: int, size: int) -> tuple[float, int, int, int]:
    """(mean difference, y, x, side) of the LR window (even corner, side `size` or the image's even
    extent if smaller) where the HR difference map `diff` is largest."""
    h, w = diff.shape[0] // scale, diff.shape[1] // scale
    k = min(size, h - h % 2, w - w % 2)
    lr_sum = diff[:h * scale, :w * scale].reshape(h, scale, w, scale).sum(axis=(1, 3))
    ii = np.pad(lr_sum.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = (ii[k:, k:] - ii[:-k, k:] - ii[k:, :-k] + ii[:-k, :-k])[::2, ::2]
    i = int(np.argmax(sums))
    y, x = divmod(i, sums.shape[1])
    return float(sums.flat[i]) / (k * k * scale * scale), 2 * y, 2 * x, k


def picture_datasets(datasets: list[Dataset]) -> list[Dataset]:
    return [d for d in datasets if d.name in PICTURE_SETS] or datasets[:1]


def choose_crops(forward: Callable, datasets: list[Dataset], scale: int, opts: InferenceOptions,
                 size: int = CROP_LR, count: int = N_CROPS) -> list[Crop]:
    """The `count` crops (one per image) where PyTorch fp32 and bicubic differ most (module docstring)."""
    found = []
    for ds in picture_datasets(datasets):
        for hr_path in ds.hr_paths():
            try:
                lr, _ = load_pair(ds, hr_path, scale)
            except (ImageError, ValueError):
                continue  # the measurements list it as skipped
            if min(lr.shape[:2]) < 2:
                continue
            diff = np.abs(scoring_channel(upscale(forward, lr, scale, opts))
                          - scoring_channel(bicubic_upscale(lr, scale)))
            score, y, x, k = best_window(diff, scale, size)
            found.append(Crop(ds.name, hr_path.name, y, x, k, round(score, 4)))
    return sorted(found, key=lambda c: -c.score)[:count]  # stable: ties keep the datasets' order


def heat_map(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(RGB heat map of |Y(a) - Y(b)| x HEAT_GAIN, max and mean |difference| in Y levels)."""
    d = np.abs(scoring_channel(a) - scoring_channel(b))
    t = np.clip(d * HEAT_GAIN, 0, 255) / 255.0
    rgb = np.stack([np.clip(3 * t, 0, 1), np.clip(3 * t - 1, 0, 1), np.clip(3 * t - 2, 0, 1)], axis=-1)
    return (rgb * 255 + 0.5).astype(np.uint8), float(d.max()), float(d.mean())


# -------------------------------------------------------------------------------- the sources
@dataclass(frozen=True)
class Source:
    """What one column of pictures shows: a name for its files, a label, the sha256 it is made from."""

    name: str
    label: str
    sha256: str
    make: Callable[[Crop, np.ndarray, np.ndarray], np.ndarray]  # (crop, lr, hr) -> HR crop
    heat: bool = True  # compared with PyTorch fp32


def artifact_sources(out: Path, records: list[dict], cfg, opts) -> tuple[list[Source], list[dict]]:
    """(a source per artifact that ran here, {label, reason} per artifact that did not)."""
    sources, absent, seen = [], [], set()
    for r in records:
        if not r.get("artifact") or r["target"] not in TARGETS or r["artifact"] in seen:
            continue
        seen.add(r["artifact"])
        label = f"{r['target']} {precision_label(r)}"
        if r["status"] != "ok":
            absent.append({"label": label, "reason": r.get("reason") or r["status"]})
            continue
        path = out / r["artifact"]
        try:
            sha = read_sidecar(path).artifact_sha256
        except Exception as e:  # noqa: BLE001 - a broken sidecar: the pictures say so, the report goes on
            absent.append({"label": label, "reason": one_line(e)})
            continue
        runner = []  # loaded on first use: an artifact whose pictures are up to date is not loaded

        def make(crop, lr, hr, path=path, runner=runner):
            if not runner:
                runner.append(load_artifact(path, threads=cfg.threads)[0])
            return crop_upscale(runner[0], lr, cfg.scale, opts, crop)

        sources.append(Source(safe_name(Path(r["artifact"]).name), label, sha, make))
    return sources, absent


def write_pictures(out: Path, cfg, torch_forward: Callable, datasets: list[Dataset], records: list[dict],
                   weights_sha: str, say: Callable[[str], None] = lambda line: None, *, size: int = CROP_LR,
                   count: int = N_CROPS) -> dict:
    """Choose the crops (`count` windows of `size` LR pixels) or reuse them, write every source's PNGs
    that are not up to date, and return the manifest the report shows (paths relative to `out`)."""
    out, folder = Path(out), Path(out) / FOLDER
    opts = tiled_options(cfg.tile, cfg.overlap)
    index_path = folder / "index.json"
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}
    key = {"format": INDEX_FORMAT, "weights_sha256": weights_sha, "scale": cfg.scale, "tile": cfg.tile,
           "overlap": cfg.overlap, "datasets": [d.name for d in picture_datasets(datasets)], "size": size,
           "count": count, "heat_gain": HEAT_GAIN}
    try:
        if index.get("choice") == key:
            crops = [Crop(**c) for c in index["crops"]]
        else:
            say("   pictures: choose the crops (PyTorch fp32 against bicubic)")
            crops = choose_crops(torch_forward, datasets, cfg.scale, opts, size, count)
            index = {}
        by_name = {d.name: d for d in datasets}
        images = {c.id: load_pair(by_name[c.dataset], by_name[c.dataset].hr_dir / c.image, cfg.scale) for c in crops}
    except Exception as e:  # noqa: BLE001 - the report goes on without pictures, and says why
        say(f"   pictures: none ({one_line(e)})")
        return {"crop_lr": size, "heat_gain": HEAT_GAIN, "scale": cfg.scale, "absent": [], "crops": [],
                "error": one_line(e)}
    s = cfg.scale
    sources = [Source("hr", "HR", "-", lambda c, lr, hr: c.hr(hr, s), heat=False),
               Source("bicubic", "bicubic", "-", lambda c, lr, hr: c.hr(bicubic_upscale(lr, s), s), heat=False),
               Source("pytorch_fp32", "PyTorch fp32", weights_sha,
                      lambda c, lr, hr: crop_upscale(torch_forward, lr, s, opts, c), heat=False)]
    more, absent = artifact_sources(out, records, cfg, opts)
    entries, old = {}, index.get("entries", {})
    fp32: dict[str, np.ndarray] = {}
    for src in sources + more:
        entry = old.get(src.name)
        if not (entry and entry.get("sha256") == src.sha256 and set(entry.get("crops", {})) == {c.id for c in crops}
                and all((out / f).is_file() for e in entry["crops"].values() for f in (e["image"], e["heat"]) if f)):
            try:
                entry = make_entry(out, src, crops, images, fp32, say)
            except Exception as e:  # noqa: BLE001 - one artifact failing here does not stop the report
                absent.append({"label": src.label, "reason": f"pictures failed: {one_line(e)}"})
                continue
        entries[src.name] = entry
        if src.name == "pytorch_fp32":
            fp32.update({c.id: read_image(out / entry["crops"][c.id]["image"]) for c in crops})
    write_json(index_path, {"choice": key, "crops": [asdict(c) for c in crops], "entries": entries})
    keep = {f for e in entries.values() for c in e["crops"].values() for f in (c["image"], c["heat"]) if f}
    for png in folder.glob("*.png"):  # the PNGs of sources or crops no longer shown
        if f"{FOLDER}/{png.name}" not in keep:
            png.unlink(missing_ok=True)
    labels = {src.name: src.label for src in sources + more}
    return {"crop_lr": size, "heat_gain": HEAT_GAIN, "scale": cfg.scale, "absent": absent,
            "crops": [{**asdict(c), "id": c.id, "panels": [{"label": labels[n], **e["crops"][c.id]}
                                                            for n, e in entries.items()]} for c in crops]}


def make_entry(out: Path, src: Source, crops: list[Crop], images: dict, fp32: dict, say) -> dict:
    """Write `src`'s PNGs for every crop (its output, and its heat map against PyTorch fp32)."""
    if src.heat:
        say(f"   pictures: {src.label}")
    files = {}
    for c in crops:
        lr, hr = images[c.id]
        img = src.make(c, lr, hr)
        rel = f"{FOLDER}/{c.id}__{src.name}.png"
        write_image(out / rel, img)  # a gray image stays gray (its heat map: gray values)
        e = {"image": rel, "heat": None, "max_diff": None, "mean_diff": None}
        if src.heat:
            heat, mx, mean = heat_map(img, fp32[c.id])
            e.update(heat=f"{FOLDER}/{c.id}__{src.name}__diff.png", max_diff=round(mx, 2), mean_diff=round(mean, 3))
            write_image(out / e["heat"], heat)
        files[c.id] = e
    return {"sha256": src.sha256, "crops": files}


# --------------------------------------------------------------------------------- in the report
def _explain(manifest: dict) -> str:
    gain, s, k = manifest["heat_gain"], manifest["scale"], manifest["crop_lr"]
    levels = [255 / gain / 3 * i for i in (1, 2, 3)]
    return (f"Crops of up to {k}x{k} LR pixels ({k * s}x{k * s} HR), one per image, where PyTorch fp32 and bicubic "
            f"differ most (mean absolute Y difference over the window). Each artifact's pixels are what its runtime "
            f"gives through the run's tiles. Heat maps: the absolute difference to PyTorch fp32 on Y, times {gain} "
            f"(black: equal; red, yellow, white: {levels[0]:.1f}, {levels[1]:.1f}, {levels[2]:.1f} or more Y levels); "
            f"under each, the max / mean difference in Y levels.")


def pictures_markdown(manifest: dict) -> str:
    """The pictures section of report.md: per crop a table of sources, outputs and heat maps."""
    lines = ["## Pictures", "", _explain(manifest), ""]
    if manifest.get("absent"):
        lines += ["Not shown: " + "; ".join(f"{a['label']} ({a['reason']})".replace("|", "/")
                                             for a in manifest["absent"]), ""]
    if not manifest.get("crops"):
        lines += [f"No pictures: {manifest.get('error') or 'no image of the run could be read'}.", ""]
    for c in manifest.get("crops", []):
        lines += [f"### {c['dataset']} {c['image']}: LR window at y {c['y']}, x {c['x']} (mean |fp32 - bicubic| "
                  f"{c['score']:.2f} Y levels)", "",
                  f"| source | output | difference to PyTorch fp32, x{manifest['heat_gain']} | max / mean (Y levels) |",
                  "|---|---|---|---|"]
        for p in c["panels"]:
            heat = f"![{p['label']} difference]({p['heat']})" if p.get("heat") else ""
            stats = f"{p['max_diff']:.1f} / {p['mean_diff']:.2f}" if p.get("max_diff") is not None else ""
            lines.append(f"| {p['label']} | ![{p['label']}]({p['image']}) | {heat} | {stats} |")
        lines.append("")
    return "\n".join(lines)


def pictures_html(manifest: dict) -> str:
    """The pictures section of report.html: per crop a row of figures (output over heat map)."""
    from html import escape

    out = ["<h2>Pictures</h2>", f"<p>{escape(_explain(manifest))}</p>"]
    if manifest.get("absent"):
        out.append("<p>Not shown: " + escape("; ".join(f"{a['label']} ({a['reason']})" for a in manifest["absent"]))
                   + "</p>")
    if not manifest.get("crops"):
        out.append(f"<p>No pictures: {escape(manifest.get('error') or 'no image of the run could be read')}.</p>")
    for c in manifest.get("crops", []):
        hr_side = c["size"] * manifest["scale"]
        side = 2 * hr_side if hr_side < 128 else hr_side  # small crops shown at 2x, pixels kept sharp
        out.append(f"<h3>{escape(c['dataset'])} {escape(c['image'])}: LR window at y {c['y']}, x {c['x']} "
                   f"(mean |fp32 - bicubic| {c['score']:.2f} Y levels)</h3>")
        out.append("<div class='crop'>")
        for p in c["panels"]:
            imgs = f"<img src='{escape(p['image'])}' width='{side}' height='{side}' alt='{escape(p['label'])}'>"
            caption = escape(p["label"])
            if p.get("heat"):
                imgs += (f"<img src='{escape(p['heat'])}' width='{side}' height='{side}' "
                         f"alt='{escape(p['label'])}: difference to PyTorch fp32'>")
                caption += f"<br>x{manifest['heat_gain']}: max {p['max_diff']:.1f}, mean {p['mean_diff']:.2f}"
            out.append(f"<figure>{imgs}<figcaption>{caption}</figcaption></figure>")
        out.append("</div>")
    return "\n".join(out)
