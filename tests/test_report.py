"""The report's pieces on synthetic records: what to ship, the paper's figures beside PyTorch fp32, the
plot (legend, markers, log axis), paths relative to the output folder, and the pictures (chosen, made
as the whole-image run makes them, cached, linked)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from hpun_edge.app import report as R
from hpun_edge.app.report_plot import log_ticks, place_numbers, plot_points, plot_svg, use_log_axis
from hpun_edge.variants import PAPER_BICUBIC, PAPER_DATASETS, VARIANTS, paper_bicubic

from report_helpers import (ARTIFACTS, CROP, DATASETS, artifact_name, fake_artifacts, picture_config,  # noqa: F401
                            report_with_pictures, single_thread, synthetic_records, synthetic_summary, tiny_model, write_datasets)

DESIGN_PAGE = Path(__file__).resolve().parents[2] / "shared" / "design" / "paper-results.md"


# ------------------------------------------------------------------------------ paper figures
def test_paper_figures_spot_values():
    s, l_plus = VARIANTS["hpun_s"].paper, VARIANTS["hpun_l"].paper
    assert (s.score(2, "Set5").psnr, s.score(2, "Set5").ssim) == (37.93, 0.9604)
    manga = l_plus.score(4, "Manga109", ensemble=True)
    assert (manga.psnr, manga.ssim) == (31.00, 0.9133)
    assert VARIANTS["hpun_m"].paper.score(3, "Urban100").psnr == 28.06
    assert paper_bicubic(2, "Set14").ssim == 0.8688  # the literature's figure, not the paper's typo 0.8488
    assert paper_bicubic(4, "B100").psnr == 25.96 and s.score(2, "DIV2K") is None and paper_bicubic(5, "Set5") is None


def test_paper_figures_match_the_design_page():
    if not DESIGN_PAGE.is_file():
        pytest.skip(f"{DESIGN_PAGE}: the design page is not here")
    rows = 0
    for line in DESIGN_PAGE.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 9 or not re.fullmatch(r"x[234]", cells[1]):
            continue
        name, scale = cells[0], int(cells[1][1:])
        figures = [tuple(float(v) for v in c.split(" / ")) for c in cells[4:]]
        if name == "Bicubic":
            ours = PAPER_BICUBIC[scale]
        else:
            variant = next(v for v in VARIANTS.values() if v.title == name.rstrip("+"))
            ours = (variant.paper.scores_plus if name.endswith("+") else variant.paper.scores)[scale]
        assert [(ours[d].psnr, ours[d].ssim) for d in PAPER_DATASETS] == figures, (name, scale)
        rows += 1
    assert rows == 21  # 3 scales x (bicubic + 3 variants + 3 "+")


def test_reference_table_puts_bicubic_and_the_paper_beside_pytorch_fp32():
    md = R.markdown(synthetic_summary())
    assert ("| dataset | PyTorch fp32 (ours) | bicubic (ours) | HPUN-S x2 (paper) | HPUN-S+ x2 (paper) "
            "| bicubic (paper) |") in md
    assert "| Set5 | 36.630 / 0.9543 | 33.674 / 0.9303 | 37.93 / 0.9604 | 38.01 / 0.9605 | 33.66 / 0.9299 |" in md
    assert "| Set14 | 32.330 / 0.9058 | 30.232 / 0.8691 | 33.46 / 0.9170 | 33.54 / 0.9177 | 30.24 / 0.8688 |" in md
    assert "## pytorch" not in md and "## bicubic" not in md  # they are the reference table, not target tables
    records = [dict(r, dataset="HR") for r in synthetic_records() if r["dataset"] == "Set5"]
    md = R.markdown(synthetic_summary(records))
    assert "| HR | 36.630 / 0.9543 | 33.674 / 0.9303 | - | - | - |" in md and "Not in Table 3: HR" in md


# ------------------------------------------------------------------------------- what to ship
def test_what_to_ship_per_runtime():
    choices = {c.runtime: c for c in R.what_to_ship(synthetic_records())}
    assert list(choices) == ["executorch", "litert", "onnxruntime", "coreml"]
    et = choices["executorch"]  # executorch-fused int8 is faster but 0.07 dB under on Set14
    assert et.targets == ("executorch", "executorch-fused") and et.record["target"] == "executorch"
    assert et.record["method"] == "qat" and et.worst_delta == pytest.approx(-0.04)
    assert choices["litert"].record["precision"] == "fp32"  # its int8 is 0.2 dB under
    assert choices["onnxruntime"].record is None
    assert choices["onnxruntime"].why_none == ("none within 0.05 dB of PyTorch fp32 "
                                               "(closest: onnx int8 (qat), worst -0.120 dB)")
    assert choices["coreml"].record is None and "nothing ran here" in choices["coreml"].why_none
    assert "converted, not run (needs macOS)" in choices["coreml"].why_none
    md = R.markdown(synthetic_summary())
    line = next(l for l in md.splitlines() if l.startswith("- **executorch**"))
    assert "`artifacts/hpun_s_x2_executorch_int8-qat.pte`" in line and "0.25 MB" in line and "150.0 ms" in line


def test_what_to_ship_needs_every_dataset_and_takes_the_fastest():
    rows = synthetic_records([("onnx", "fp32", "fp32", 300.0, (0.0, 0.0), "ok", None),
                              ("onnx", "int8", "qat", 100.0, (-0.05, -0.01), "ok", None),  # exactly 0.05: in
                              ("onnx", "int8", "ptq", 80.0, (0.0, None), "ok", None)])  # no Set14 figure: out
    (c,) = R.what_to_ship(rows)
    assert (c.record["precision"], c.record["method"]) == ("int8", "qat")
    latency_only = [dict(r, dataset="latency", psnr_y=None, psnr_delta_vs_torch_fp32=None) for r in rows[4:5]]
    assert R.what_to_ship(latency_only)[0].why_none == "no PSNR against PyTorch fp32 in this run"


# ----------------------------------------------------------------------------------- the plot
def test_log_axis_only_when_the_spread_exceeds_10x():
    assert not use_log_axis([60.0, 500.0]) and not use_log_axis([10.0, 100.0]) and use_log_axis([10.0, 100.1])
    assert not use_log_axis([5.0])
    assert log_ticks(7.0, 1500.0) == [10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0]
    linear = plot_svg(synthetic_records(), "Set5", 36.63)
    assert "log scale" not in linear
    rows = synthetic_records([("onnx", "fp32", "fp32", 2000.0, (0.0, 0.0), "ok", None),
                              ("onnx", "int8", "qat", 20.0, (-0.3, -0.3), "ok", None)])
    svg = plot_svg(rows, "Set5", 36.63)
    assert "log scale" in svg and ">10</text>" in svg and ">100</text>" in svg and ">5000</text>" in svg


def test_legend_one_entry_per_artifact_marker_per_runtime():
    records = synthetic_records()
    points = plot_points(records, "Set5")
    ran = [a for a in ARTIFACTS if a[5] == "ok"]
    assert [(p.target, p.label) for p in points] == [(a[0], a[1] if a[1] != "int8" else f"int8 ({a[2]})") for a in ran]
    svg = plot_svg(records, "Set5", 36.63)
    entries = re.findall(r">(\d+)  ([\w-]+) ([^:<]+): ([\d.]+) ms, ([\d.]+) dB</text>", svg)
    assert [(int(n), t, lab) for n, t, lab, _, _ in entries] == [(p.number, p.target, p.label) for p in points]
    # executorch: circles (executorch-fused hollow), litert: squares, onnxruntime: triangles; each on plot and legend
    markers = re.findall(r'<(circle|rect|polygon) ([^>]*)stroke-width="1.6"/>', svg)
    kinds = [k + (str(len(re.search(r'points="([^"]+)"', a).group(1).split())) if k == "polygon" else "")
             for k, a in markers]
    assert sorted(kinds) == sorted(["circle"] * 8 + ["rect"] * 4 + ["polygon3"] * 2)
    assert sum('fill="white"' in a for _, a in markers) == 4  # executorch-fused's two artifacts
    assert "PyTorch fp32 (36.630 dB)" in svg


def test_point_numbers_do_not_overlap():
    placed = place_numbers([(100.0, 100.0, "1"), (101.0, 100.0, "2"), (100.0, 101.0, "3"), (102.0, 99.0, "4")])
    boxes = [(x if a == "start" else x - 9 if a == "end" else x - 4.5, y - 9, 9, 11) for x, y, a in placed]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3])


# ---------------------------------------------------------------------------------- the paths
def test_paths_are_relative_to_the_output_folder(tmp_path):
    import hpun_edge

    out = tmp_path / "out"
    package_weights = Path(hpun_edge.__file__).parent / "weights" / "hpun_s_x2.safetensors"
    records = synthetic_records(folder=str(out / "artifacts"))  # absolute, as adb's phone rows had them
    records[-1]["reason"] = f"{out.resolve()}/artifacts/x.mlpackage: converted, not run"
    summary = synthetic_summary(records)
    summary["weights"] = str(package_weights)
    summary["config"].update(out=str(out), data_root=str(tmp_path / "elsewhere" / "datasets"),
                             datasets=["Set5", str(tmp_path / "mine" / "Set14")], weights=str(package_weights))
    paths = R.write_reports(summary, out)
    data = json.loads(paths["results"].read_text())
    arts = {r["artifact"] for r in data["records"] if r["artifact"]}
    assert arts and all(a.startswith("artifacts/hpun_s_x2_") for a in arts)
    assert data["weights"] == data["config"]["weights"] == "hpun_edge/weights/hpun_s_x2.safetensors"
    assert data["config"]["out"] == "." and data["config"]["data_root"] == "datasets"
    assert data["config"]["datasets"] == ["Set5", "Set14"]
    machine = [str(tmp_path), str(Path(hpun_edge.__file__).resolve().parent.parent)]
    for p in paths.values():
        text = p.read_text()
        assert not any(m in text for m in machine), p.name
    assert "Weights `hpun_edge/weights/hpun_s_x2.safetensors`" in paths["markdown"].read_text()
    assert R.portable_path("/somewhere/else/w.safetensors", out) == "w.safetensors"
    assert R.portable_path("Set5", out) == "Set5" and R.portable_path(None, out) is None
    assert R.portable_path(str(out), out) == "."


def test_a_relative_path_into_the_output_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert R.portable_path("out/artifacts/a.pte", Path("out")) == "artifacts/a.pte"
    assert R.portable_path("artifacts/a.pte", tmp_path / "elsewhere") == "artifacts/a.pte"
    assert R.portable_path("../x/w.safetensors", Path("out")) == "w.safetensors"


def test_plots_written_and_linked(tmp_path):
    paths = R.write_reports(synthetic_summary(), tmp_path)
    md, page = paths["markdown"].read_text(), paths["html"].read_text()
    for d in DATASETS:
        link = R.plot_file(d)
        assert f"]({link})" in md and (tmp_path / link).read_text().startswith("<svg")
    assert page.count("<svg") == 2 and "<table>" in page and "<th>precision</th>" in page


def test_md_to_html_subset():
    page = R.md_to_html("## A `b`\n\n| x | y |\n|---|---|\n| ![p](pictures/a.png) | **bold** |\n\n- item [l](u.html)\n")
    assert "<h2>A <code>b</code></h2>" in page and "<th>x</th>" in page
    assert '<td><img alt="p" src="pictures/a.png"></td>' in page and "<strong>bold</strong>" in page
    assert '<ul>\n<li>item <a href="u.html">l</a></li>\n</ul>' in page


# ------------------------------------------------------------------------------- the pictures
def test_crop_pixels_are_the_whole_image_runs(single_thread):  # noqa: F811
    """Only the tiles a crop needs run, and its pixels are the whole-image run's bit for bit."""
    from hpun_edge.app.pictures import Crop, crop_upscale
    from hpun_edge.inference import InferenceOptions, upscale

    model = tiny_model()
    rng = np.random.default_rng(1)
    lr = rng.integers(0, 256, (51, 61, 3), dtype=np.uint8)  # odd sizes: the even padding
    opts = InferenceOptions(tile=24, overlap=4, fixed_size=True)
    whole = upscale(model, lr, 2, opts)
    calls = []

    def counted(t):
        calls.append(t.shape)
        return model(t)

    for crop in (Crop("d", "i.png", 2, 4, 12, 0.0), Crop("d", "i.png", 36, 46, 14, 0.0)):
        calls.clear()
        got = crop_upscale(counted, lr, 2, opts, crop)
        np.testing.assert_array_equal(got, crop.hr(whole, 2))
        assert got.shape == (2 * crop.size, 2 * crop.size, 3) and 0 < len(calls) <= 4  # the image is 3 x 4 tiles
    gray = lr[..., 0]
    np.testing.assert_array_equal(crop_upscale(model, gray, 2, opts, crop), crop.hr(upscale(model, gray, 2, opts), 2))


def test_best_window_finds_the_largest_difference():
    from hpun_edge.app.pictures import best_window

    diff = np.zeros((120, 160))
    diff[60:90, 100:130] = 5.0
    score, y, x, k = best_window(diff, 2, 16)  # 32x32 HR windows at even LR corners: (30, 50) covers it all
    assert (y, x, k) == (30, 50, 16) and score == pytest.approx(30 * 30 * 5.0 / (32 * 32))
    assert best_window(np.zeros((10, 14)), 2, 48)[3] == 4  # a small image: its even extent


def test_write_pictures_chooses_writes_caches_and_links(tmp_path, monkeypatch, single_thread):  # noqa: F811
    from hpun_edge.app.pictures import write_pictures

    out = tmp_path / "out"
    datasets = write_datasets(tmp_path / "data")
    model = tiny_model()
    loads: list = []
    shas = fake_artifacts(monkeypatch, model, loads)
    records = synthetic_records()
    cfg = picture_config(out)
    m = write_pictures(out, cfg, model, datasets, records, "w" * 64, size=CROP)
    assert len(m["crops"]) == 3 and len({(c["dataset"], c["image"]) for c in m["crops"]}) == 3
    assert [c["score"] for c in m["crops"]] == sorted((c["score"] for c in m["crops"]), reverse=True)
    ran = [a for a in ARTIFACTS if a[5] == "ok"]
    assert sorted(loads) == sorted(artifact_name(*a[:3]) for a in ran)  # every artifact that ran, loaded once
    assert m["absent"] == [{"label": "coreml fp32", "reason": "converted, not run (needs macOS)"}]
    crop = m["crops"][0]
    labels = [p["label"] for p in crop["panels"]]
    assert labels[:3] == ["HR", "bicubic", "PyTorch fp32"] and len(labels) == 3 + len(ran)
    panels = {p["label"]: p for p in crop["panels"]}
    assert panels["executorch fp32"]["max_diff"] == 0.0  # the same network: no difference
    assert panels["executorch int8 (qat)"]["max_diff"] > 0 and panels["HR"]["heat"] is None
    for p in crop["panels"]:
        for f in (p["image"], p["heat"]):
            assert f is None or (f.startswith("pictures/") and (out / f).is_file())
    # a second run: nothing loaded, nothing rewritten; a changed artifact alone is remade
    stamp = {p: p.stat().st_mtime_ns for p in (out / "pictures").glob("*.png")}
    loads.clear()
    assert write_pictures(out, cfg, model, datasets, records, "w" * 64, size=CROP) == m and loads == []
    assert {p: p.stat().st_mtime_ns for p in (out / "pictures").glob("*.png")} == stamp
    shas["hpun_s_x2_litert_fp32.tflite"] = "changed"
    write_pictures(out, cfg, model, datasets, records, "w" * 64, size=CROP)
    assert loads == ["hpun_s_x2_litert_fp32.tflite"]
    # other weights: other crops may be chosen, and every picture is remade; stale PNGs go
    loads.clear()
    write_pictures(out, cfg, model, datasets, records[:4], "v" * 64, size=CROP)  # only pytorch and bicubic
    assert loads == [] and all("hpun_s_x2" not in p.name for p in (out / "pictures").glob("*.png"))


def test_report_links_every_picture(report_with_pictures):  # noqa: F811
    out, summary = report_with_pictures
    md, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    files = {f for c in summary["pictures"]["crops"] for p in c["panels"] for f in (p["image"], p["heat"]) if f}
    assert files and all((out / f).is_file() for f in files)
    assert set(re.findall(r"\]\((pictures/[^)]+\.png)\)", md)) == files
    assert set(re.findall(r"<img src='(pictures/[^']+\.png)'", page)) == files
    assert "Not shown: coreml fp32 (converted, not run (needs macOS))" in md
    assert "times 8" in md and "## Pictures" in md
    assert json.loads((out / "results.json").read_text())["pictures"] == summary["pictures"]


def test_pictures_that_cannot_be_made_leave_the_report_saying_why(tmp_path):
    from hpun_edge.app.pictures import pictures_markdown, write_pictures

    def broken(t):
        raise RuntimeError("no forward here\nand a traceback")

    datasets = write_datasets(tmp_path / "data")
    m = write_pictures(tmp_path / "out", picture_config(tmp_path / "out"), broken, datasets, [], "w" * 64, size=CROP)
    assert m["crops"] == [] and m["error"] == "no forward here"
    assert "No pictures: no forward here." in pictures_markdown(m)
    R.write_reports(synthetic_summary(pictures=m), tmp_path / "out")
