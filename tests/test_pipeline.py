"""hpun-edge pipeline: records in the schema, reports, reuse on a second run, failures as rows.

A tiny synthetic benchmark (two 128x128 images) and a 64-pixel tile (112 tiles per 640x360 latency run, against
920 at 32 with overlap 8) keep it to a few minutes.
"""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from hpun_edge.data import write_image
from hpun_edge.app.config import PipelineConfig
from hpun_edge.app.pipeline import run_pipeline
from hpun_edge.app.report import validate_record, validate_results


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:128, 0:128]
    for i in range(2):
        base = 127 + 100 * np.sin(xx / (7 + 3 * i))[..., None] * np.cos(yy / 11)[..., None]
        img = np.clip(base + rng.normal(0, 8, (128, 128, 3)), 0, 255).astype(np.uint8)
        write_image(root / "HR" / f"img{i}.png", img)
    return root


def config(images, out, **kw) -> PipelineConfig:
    base = dict(model="hpun_s", scale=2, targets=("executorch", "onnx", "coreml"), precisions=("fp32", "int8"),
                methods=("ptq",), tile=64, overlap=8, datasets=(str(images / "HR"),), calib_data=str(images / "HR"),
                calib_count=8, threads=1, latency_runs=1, latency_warmup=0, out=str(out))
    base.update(kw)
    return PipelineConfig(**base)


@pytest.fixture(scope="module")
def first_run(images, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    return out, run_pipeline(config(images, out))


def test_records_follow_the_schema(first_run):
    out, summary = first_run
    data = json.loads((out / "results.json").read_text())
    validate_results(data)
    rows = {(r["target"], r["precision"]): r for r in data["records"]}
    assert set(rows) == {("pytorch", "fp32"), ("bicubic", "fp64"), ("executorch", "fp32"), ("executorch", "int8"),
                         ("onnx", "fp32"), ("onnx", "int8"), ("coreml", "fp32"), ("coreml", "int8")}
    assert rows[("bicubic", "fp64")]["psnr_delta_vs_torch_fp32"] < 0 < rows[("bicubic", "fp64")]["psnr_y"]
    for key in [("executorch", "fp32"), ("onnx", "fp32"), ("executorch", "int8"), ("onnx", "int8")]:
        r = rows[key]
        assert r["status"] == "ok", r["reason"]
        assert r["latency_ms"]["input_hw"] == [360, 640] and r["latency_ms"]["threads"] == 1
        assert r["latency_ms"]["median"] > 0 and r["latency_tile_ms"]["input_hw"] == [64, 64]
        assert r["size_bytes"] > 0 and r["artifact"].startswith("artifacts/") and (out / r["artifact"]).exists()
    for target in ("executorch", "onnx"):  # fp32 artifacts score what PyTorch scores
        assert abs(rows[(target, "fp32")]["psnr_delta_vs_torch_fp32"]) < 0.01
        assert rows[(target, "int8")]["psnr_y_fake_quant"] is not None
    assert rows[("executorch", "fp32")]["ops"]["fallback"] == []
    assert rows[("executorch", "fp32")]["ops"]["delegated"] == rows[("executorch", "fp32")]["ops"]["total"]


@pytest.mark.skipif(sys.platform == "darwin", reason="Core ML runs on macOS")
def test_coreml_is_converted_not_run_off_macos(first_run):
    out, summary = first_run
    rows = [r for r in summary["records"] if r["target"] == "coreml"]
    assert rows and all(r["status"] == "skipped" and r["reason"] == "converted, not run (needs macOS)" for r in rows)
    assert all(r["size_bytes"] > 0 and r["ops"]["total"] > 0 for r in rows)
    # what the int8 one would score: its reference (int8 weights, fp16 compute), on the first dataset
    first = rows[0]["dataset"]
    refs = {(r["precision"], r["dataset"]): r["psnr_y_fake_quant"] for r in rows}
    assert refs[("int8", first)] is not None and refs[("int8", first)] > 20
    assert refs[("fp32", first)] is None and all(r["psnr_y"] is None for r in rows)
    torch_fp32 = next(r for r in summary["records"] if r["target"] == "pytorch" and r["dataset"] == first)
    assert abs(refs[("int8", first)] - torch_fp32["psnr_y"]) < 0.5
    assert f"({refs[('int8', first)]:.3f}: its reference)" in (out / "report.md").read_text()


def test_reports_are_written(first_run):
    out, summary = first_run
    md = (out / "report.md").read_text()
    page = (out / "report.html").read_text()
    assert "## executorch" in md and "converted, not run (needs macOS)" in md
    assert "<svg" in page and "PSNR-Y on" in page and "<circle" in page
    assert "## What to ship" in md and "| HR | " in md  # the reference table's row of the synthetic set
    assert str(out) not in md + page + (out / "results.json").read_text()  # paths relative to the output folder
    # the pictures: both images' crops (a set of two), every artifact that ran, linked from both reports
    pictures = summary["pictures"]
    assert len(pictures["crops"]) == 2
    labels = [p["label"] for p in pictures["crops"][0]["panels"]]
    assert labels == ["HR", "bicubic", "PyTorch fp32", "executorch fp32", "executorch int8 (ptq)", "onnx fp32",
                      "onnx int8 (ptq)"]
    panels = {p["label"]: p for p in pictures["crops"][0]["panels"]}
    assert panels["onnx fp32"]["max_diff"] < 1.0 and panels["onnx int8 (ptq)"]["mean_diff"] > 0
    if sys.platform != "darwin":
        assert [a["label"] for a in pictures["absent"]] == ["coreml fp32", "coreml int8 (ptq)"]
    for c in pictures["crops"]:
        for p in c["panels"]:
            for f in (p["image"], p["heat"]):
                assert f is None or ((out / f).is_file() and f"]({f})" in md and f"src='{f}'" in page)


def test_second_run_reuses_what_is_up_to_date(images, first_run, capsys):
    out, summary = first_run
    before = {p.name: p.stat().st_mtime_ns for p in (out / "artifacts").iterdir()}
    pictures = {p.name: p.stat().st_mtime_ns for p in (out / "pictures").iterdir()}
    again = run_pipeline(config(images, out))
    err = capsys.readouterr().err
    assert "quantize" not in err and "export" not in err
    assert err.count("measured before") >= 5
    after = {p.name: p.stat().st_mtime_ns for p in (out / "artifacts").iterdir()}
    assert after == before
    assert "pictures" not in err  # crops and every artifact's pictures reused
    assert {p.name: p.stat().st_mtime_ns for p in (out / "pictures").iterdir() if p.suffix == ".png"} == {
        k: v for k, v in pictures.items() if k.endswith(".png")}
    psnr = lambda s: [(r["target"], r["precision"], r["psnr_y"]) for r in s["records"]]  # noqa: E731
    assert psnr(again) == psnr(summary)


def test_one_failing_target_does_not_stop_the_others(images, tmp_path, monkeypatch):
    import dataclasses

    from hpun_edge.converters import TARGETS

    def broken(*a, **k):
        raise RuntimeError("exporter exploded\nwith a long traceback")

    monkeypatch.setitem(TARGETS, "executorch", dataclasses.replace(TARGETS["executorch"], convert=broken))
    summary = run_pipeline(config(images, tmp_path, targets=("executorch", "onnx"), precisions=("fp32",)))
    rows = {r["target"]: r for r in summary["records"]}
    assert rows["executorch"]["status"] == "failed" and "exporter exploded" in rows["executorch"]["reason"]
    assert "\n" not in rows["executorch"]["reason"]
    assert rows["onnx"]["status"] == "ok"
    assert not list((tmp_path / "artifacts").glob("*.pte*"))  # nothing half-written
    validate_results(json.loads((tmp_path / "results.json").read_text()))


def test_unwritable_output_folder(images, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="output folder is not writable"):
        run_pipeline(config(images, blocker / "out"))


def test_schema_rejects_bad_records():
    good = {"model": "hpun_s", "scale": 2, "target": "onnx", "precision": "fp32", "artifact": "a.onnx",
            "size_bytes": 10, "dataset": "Set5", "psnr_y": 30.0, "ssim_y": 0.9, "psnr_delta_vs_torch_fp32": 0.0,
            "latency_ms": {"median": 1.0, "p90": 2.0, "input_hw": [360, 640], "threads": 2},
            "ops": {"delegated": 1, "total": 1, "fallback": []}, "status": "ok", "reason": None}
    assert validate_record(good) == []
    assert "missing psnr_y" in validate_record({k: v for k, v in good.items() if k != "psnr_y"})
    assert any("needs a reason" in e for e in validate_record({**good, "status": "failed"}))
    assert any("latency_ms lacks p90" in e for e in validate_record({**good, "latency_ms": {"median": 1.0}}))


def test_cli_bad_artifact_and_bad_target(tmp_path, capsys):
    from hpun_edge.app.cli import main

    from PIL import Image

    bad = tmp_path / "m.pte"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot a model")
    photos = tmp_path / "set"
    photos.mkdir()
    Image.new("RGB", (24, 24), (90, 120, 30)).save(photos / "a.png")  # a valid set: the model is the problem
    assert main(["eval", "--model", str(bad), "--scale", "2", "--dataset", str(photos)]) == 2
    assert "m.pte" in capsys.readouterr().err
    assert main(["quantize", "--model", "hpun_s", "--scale", "2", "--method", "ptq", "--target", "tpu",
                 "--out", str(tmp_path / "q")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown target 'tpu'; valid: executorch" in err
