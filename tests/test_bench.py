"""hpun-edge bench: the derived figures (GMAC/s, dense-rate ideal, S/M, HPUN/IMDN), the tiling policy,
the table, the records in the results.json schema, and one tiny real run (onnx fp32, 64-pixel tiles,
one timed run, IMDN beside HPUN). No assertion is about how fast anything is."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from hpun_edge.app import bench, bench_report
from hpun_edge.app.bench import BenchConfig
from hpun_edge.app.report import validate_record, validate_results
from hpun_edge.app.config import Job
from hpun_edge.peers import CHAIN_SPEC, IMDN_SPEC, conv_multi_adds, create_peer

REF_CHAIN_MODEL = CHAIN_SPEC.name
IMDN = IMDN_SPEC.name


def rec(model, target, precision, ms, macs, role="model", status="ok"):
    cfg = BenchConfig()
    r = bench.base_record(cfg, model, target, precision, precision, role=role)
    r["multi_adds"] = macs
    r["latency_ms"] = {"median": ms, "p90": ms, "input_hw": [360, 640], "threads": 2, "runs": 3, "warmup": 1,
                       "tiles": 6 if role == "model" else 1}
    if status != "ok":
        r.update(status=status, reason="broke")
    return r


def synthetic():
    ref_macs = bench.reference_macs((360, 640))  # 8.49 GMAC
    records = [
        rec("hpun_s", "executorch", "fp32", 500.0, 45.9e9), rec("hpun_m", "executorch", "fp32", 1000.0, 106.2e9),
        rec("hpun_s", "onnx", "fp32", 1200.0, 45.9e9), rec("hpun_m", "onnx", "fp32", 1500.0, 106.2e9),
        rec("conv3x3_64to64", "executorch", "fp32", 80.0, ref_macs, role="reference"),
        rec("conv3x3_64to64", "onnx", "fp32", 100.0, ref_macs, role="reference"),
        rec(REF_CHAIN_MODEL, "executorch", "fp32", 320.0, 8 * ref_macs, role="reference"),
    ]
    for r in records:
        if r["bench_role"] == "reference":
            r["gmacs_per_s"] = bench.gmacs_per_s(r["multi_adds"], r["latency_ms"]["median"])
    bench_report.add_derived(records, ("hpun_s", "hpun_m"))
    return records


def test_reference_rate_matches_the_issue_figure():
    # one dense 3x3 conv 64->64 at 640x360 in 80 ms is ~106 GMAC/s (the issue rounds it to 110)
    assert bench.gmacs_per_s(bench.reference_macs((360, 640)), 80.0) == pytest.approx(106.2, abs=0.1)


def test_derived_figures():
    records = synthetic()
    s = records[0]
    assert s["gmacs_per_s"] == pytest.approx(45.9e9 / 0.5 / 1e9)
    rate = bench.reference_macs((360, 640)) / 0.08 / 1e9
    assert s["dense_gmacs_per_s"] == pytest.approx(rate)
    assert s["dense_ideal_ms"] == pytest.approx(45.9e9 / (rate * 1e9) * 1e3)
    assert s["x_dense_ideal"] == pytest.approx(500.0 / s["dense_ideal_ms"])
    assert s["latency_ratio"] == {"to": "hpun_m", "value": 0.5, "multi_adds_ratio": pytest.approx(45.9 / 106.2)}
    assert "latency_ratio" not in records[1]  # the last model is what the others are compared to
    # the chained (in-network) reference: 8 convs in 320 ms is twice the single conv's rate
    assert s["dense_chain_gmacs_per_s"] == pytest.approx(2 * rate)
    assert s["x_dense_chain_ideal"] == pytest.approx(2 * s["x_dense_ideal"])
    assert records[2]["dense_chain_gmacs_per_s"] is None and records[2]["x_dense_chain_ideal"] is None  # onnx: none
    for r in records:
        assert validate_record(r) == []


def test_best_target_and_summary():
    records = synthetic()
    assert bench_report.best_target(records, "hpun_s", "fp32") == "executorch"
    lines = bench_report.summary_lines(records, ("hpun_s", "hpun_m"))
    assert lines[0] == "hpun_s/hpun_m latency on the fastest fp32 target (executorch): 0.50 (Multi-Adds ratio 0.43)"
    onnx = next(l for l in lines if l.startswith("hpun_s fp32 on onnx:"))
    assert onnx.startswith(f"hpun_s fp32 on onnx: {records[2]['x_dense_ideal']:.2f}x its Multi-Adds")
    # the figures, not verdicts on goals: the product prints no 'meets' / 'misses'
    assert not any("meets" in l or "misses" in l or "goal" in l for l in lines)
    # the ratio timed in alternation is printed beside the rows' one when there is one
    records[0]["latency_ratio"]["interleaved"] = {"value": 0.6, "rounds": 5}
    line = bench_report.summary_lines(records, ("hpun_s", "hpun_m"))[0]
    assert ": 0.60 timed in alternation (5 rounds), 0.50 from the rows above (Multi-Adds ratio 0.43)" in line
    assert "| 0.50 (0.60 alt.) |" in bench_report.table(records, ("hpun_s", "hpun_m"))
    del records[0]["latency_ratio"]["interleaved"]
    # executorch has the chained reference too: x ideal against it is printed beside the issue's
    ex = next(l for l in lines if l.startswith("hpun_s fp32 on executorch:"))
    assert "at the in-network rate of 8 chained dense 3x3 convs + relu (212.3 GMAC/s)" in ex
    # a failed row is not a measurement
    records = [rec("hpun_s", "onnx", "fp32", 1.0, 1e9, status="failed")]
    assert bench_report.best_target(records, "hpun_s", "fp32") is None


def test_table_and_markdown():
    records = synthetic()
    text = bench_report.table(records, ("hpun_s", "hpun_m"))
    header, _, first = text.splitlines()[:3]
    assert "640x360 ms (median / p90)" in header and "vs hpun_m" in header and "x ideal" in header
    assert first.startswith("| hpun_s | executorch | fp32 | 500.0 / 500.0 | 3 | 45.90G | 91.8 | 106.2 | ")
    assert first.endswith("| 0.50 | - | ok |")  # no IMDN row in this run: no HPUN/IMDN ratio
    assert "| dense 3x3 conv 64->64 | executorch | fp32 | 80.0 / 80.0 | 3 | 8.49G | 106.2 | ok |" in text
    assert "| 8 chained dense 3x3 convs + relu | executorch | fp32 | 320.0 / 320.0 | 3 | 67.95G | 212.3 | ok |" in text
    data = {"config": BenchConfig().to_dict(), "machine": {"summary": "test"}, "records": records}
    md = bench_report.markdown(data)
    assert md.startswith("# hpun-edge bench: hpun_s, hpun_m x2 at 640x360") and "Multi-Adds ratio 0.43" in md


def test_parse_hw_and_config_errors():
    assert bench.parse_hw("360x640") == (360, 640)
    with pytest.raises(ValueError, match="HEIGHTxWIDTH"):
        bench.parse_hw("640")
    with pytest.raises(ValueError, match="unknown target"):
        bench.check_config(BenchConfig(targets=("tensorrt",)))
    with pytest.raises(ValueError, match="must be even"):
        bench.check_config(BenchConfig(tile=33))
    assert bench.check_config(BenchConfig(targets=("tflite",))).targets == ("litert",)


def test_write_bench_json_refuses_a_record_outside_the_schema(tmp_path):
    records = synthetic()
    del records[0]["status"]
    with pytest.raises(ValueError, match="missing status"):
        bench_report.write_bench_json({"config": BenchConfig().to_dict(), "records": records}, tmp_path / "b.json")
    assert not (tmp_path / "b.json").exists()


# --- IMDN, the network a user would pick instead (issue 21) -----------------------------------------

def with_imdn():
    """The synthetic rows plus IMDN on executorch and onnx (fp32), and HPUN-S on executorch-fused."""
    imdn_macs = conv_multi_adds(create_peer(IMDN, 2), (360, 640))
    records = synthetic() + [rec("hpun_s", "executorch-fused", "fp32", 360.0, 45.9e9),
                             rec(IMDN, "executorch", "fp32", 900.0, imdn_macs, role="peer"),
                             rec(IMDN, "onnx", "fp32", 1000.0, imdn_macs, role="peer")]
    bench_report.add_derived(records, ("hpun_s", "hpun_m"))
    return records, imdn_macs


def test_imdn_ratio_on_each_model_row():
    records, imdn_macs = with_imdn()
    rows = {(r["model"], r["target"], r["precision"]): r for r in records}
    s_ex, s_fused, m_onnx = (rows[("hpun_s", "executorch", "fp32")], rows[("hpun_s", "executorch-fused", "fp32")],
                             rows[("hpun_m", "onnx", "fp32")])
    assert s_ex["imdn_ratio"] == {"to": IMDN, "target": "executorch", "precision": "fp32", "value": 500.0 / 900.0,
                                  "multi_adds_ratio": pytest.approx(45.9e9 / imdn_macs)}
    # executorch-fused converts HPUN only: against IMDN's ExecuTorch XNNPACK row
    assert s_fused["imdn_ratio"]["target"] == "executorch" and s_fused["imdn_ratio"]["value"] == 360.0 / 900.0
    assert m_onnx["imdn_ratio"]["target"] == "onnx" and m_onnx["imdn_ratio"]["value"] == 1500.0 / 1000.0
    # IMDN's own rows get the dense-rate figures, not ratios to anything
    imdn = rows[(IMDN, "executorch", "fp32")]
    assert imdn["x_dense_ideal"] == pytest.approx(900.0 / bench_report.ideal_ms(imdn_macs, imdn["dense_gmacs_per_s"]))
    assert "imdn_ratio" not in imdn and "latency_ratio" not in imdn
    # a failed IMDN row is no measurement; a precision IMDN lacks gives no ratio
    records[-1].update(status="failed", reason="broke")
    records.append(rec("hpun_s", "onnx", "int8", 700.0, 45.9e9))
    bench_report.add_derived(records, ("hpun_s", "hpun_m"))
    assert m_onnx["imdn_ratio"]["value"] is None and "imdn_ratio" not in records[-1]
    for r in records:
        assert validate_record(r) == []


def test_imdn_ratio_in_the_table_and_summary():
    records, _ = with_imdn()
    s_fused = next(r for r in records if r["target"] == "executorch-fused")
    s_fused["imdn_ratio"]["interleaved"] = {"value": 0.42, "rounds": 5}
    text = bench_report.table(records, ("hpun_s", "hpun_m"))
    assert text.splitlines()[0].endswith("| vs hpun_m | vs imdn | status |")
    assert "| 0.56 | ok |" in next(l for l in text.splitlines() if l.startswith("| hpun_s | executorch | fp32"))
    assert "| 0.40 (0.42 alt.) vs executorch | ok |" in text  # the fused row names the IMDN row it is against
    assert "| imdn | executorch | fp32 | 900.0 / 900.0 |" in text
    lines = bench_report.summary_lines(records, ("hpun_s", "hpun_m"))
    assert "hpun_s/imdn x2 latency, fp32: executorch 0.56; onnx 1.20; executorch-fused 0.40 (0.42 alt.) against IMDN " \
           "on executorch (Multi-Adds ratio 0.29)" in lines
    assert any(l.startswith("hpun_m/imdn x2 latency, fp32: executorch 1.11; onnx 1.50") for l in lines)


def test_imdn_targets_and_jobs():
    assert bench.imdn_target("executorch-fused") == "executorch"
    assert bench.imdn_target("executorch-fused-native") == "executorch-native"
    assert bench.imdn_target("litert") == "litert" and bench.imdn_target("onnx") == "onnx"
    cfg = bench.check_config(BenchConfig(targets=("executorch-fused", "onnx"), precisions=("fp32", "int8")))
    jobs = [(j.target, j.precision, j.method) for j in bench.imdn_jobs(cfg)]
    assert jobs == [("executorch", "fp32", "fp32"), ("executorch", "int8", "ptq"), ("onnx", "fp32", "fp32"),
                    ("onnx", "int8", "ptq")]
    maker = bench.peer_maker(cfg, IMDN)
    assert maker.network.scale == 2 and maker.hw == (360, 640)  # 640x360: whole-frame by the policy
    assert maker.path(bench.imdn_jobs(cfg)[0]).name == "imdn_x2_640x360_executorch_fp32.pte"
    tiled = bench.peer_maker(bench.check_config(replace(cfg, tile=256)), IMDN)
    assert tiled.hw is None and tiled.spec(bench.imdn_jobs(cfg)[0]).input_shape == [1, 3, 256, 256]


def test_tiling_policy_and_tile_setting():
    assert bench.policy_tile((360, 640)) is None and bench.policy_tile((720, 1280)) is None
    # other sizes: the tile running the fewest Multi-Adds, tiles x tile^2 (640x480: 6 x 256^2, 1.28x the
    # image's, against 4 x 368^2, 1.76x, and 2 x 512^2, 1.71x); on a tie the larger tile (fewer calls):
    # 400x300 is 4 x 256^2 or one 512 tile (2.18x), against 2 x 368^2 (2.26x)
    assert bench.policy_tile((480, 640)) == bench.fewest_macs_tile((480, 640)) == 256
    assert bench.policy_tile((540, 960)) == 368 and bench.policy_tile((1080, 1920)) == 256
    assert bench.check_config(BenchConfig()).tile is None  # the default: auto, whole-frame at 640x360
    assert bench.check_config(BenchConfig(lr_size=(300, 400))).tile == 512
    assert bench.check_config(BenchConfig(tile="whole", lr_size=(300, 400))).tile is None
    assert bench.check_config(BenchConfig(tile="256")).tile == 256
    with pytest.raises(ValueError, match="--tile 'big'"):
        bench.check_config(BenchConfig(tile="big"))
    with pytest.raises(ValueError, match="even LR size"):
        bench.check_config(BenchConfig(tile="whole", lr_size=(361, 640)))
    whole = bench.check_config(BenchConfig())
    r = bench.base_record(whole, "hpun_s", "onnx", "fp32", "fp32", role="model")
    assert r["tile"] is None and r["overlap"] is None
    assert bench.pipeline_config(whole, "hpun_s").tile == 256  # the pipeline's default; its artifacts take hw
    _, _, maker = next(bench.model_makers(replace(whole, models=("hpun_s",))))
    with pytest.raises(ValueError, match="--adb: the C.. runner takes square tiles"):
        bench.runner_tile("whole")
    assert bench.runner_tile("auto") == bench.RUNNER_TILE and bench.runner_tile("368") == "368"
    job = Job("executorch", "fp32", "fp32")
    assert maker.path(job).name == "hpun_s_x2_640x360_executorch_fp32.pte"
    assert maker.spec(job).input_shape == [1, 3, 360, 640]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from hpun_edge.app.cli import main

    out = tmp_path_factory.mktemp("bench")
    argv = ["bench", "--model", "hpun_s", "hpun_m", "--scale", "2", "--lr-size", "64x96", "--tile", "64",
            "--overlap", "8", "--targets", "onnx", "--precisions", "fp32", "--runs", "1", "--warmup", "1",
            "--threads", "1", "--out", str(out), "--json", str(out / "bench.json")]
    return out, argv, main(argv)


def test_tiny_real_run_writes_schema_records(tiny_run, capsys):
    out, argv, rc = tiny_run
    assert rc == 0
    data = json.loads((out / "bench.json").read_text())
    validate_results(data)
    rows = {(r["model"], r["target"], r["precision"]): r for r in data["records"]}
    assert set(rows) == {("hpun_s", "onnx", "fp32"), ("hpun_m", "onnx", "fp32"), ("conv3x3_64to64", "onnx", "fp32"),
                         (REF_CHAIN_MODEL, "onnx", "fp32"), (IMDN, "onnx", "fp32")}
    s, ref = rows[("hpun_s", "onnx", "fp32")], rows[("conv3x3_64to64", "onnx", "fp32")]
    chain = rows[(REF_CHAIN_MODEL, "onnx", "fp32")]
    assert chain["multi_adds"] == 8 * ref["multi_adds"] and s["dense_chain_gmacs_per_s"] == chain["gmacs_per_s"] > 0
    assert s["status"] == "ok" and s["latency_ms"]["input_hw"] == [64, 96] and s["latency_ms"]["tiles"] == 2
    assert s["latency_ms"]["runs"] == 1 and s["latency_ms"]["threads"] == 1
    assert s["multi_adds"] == pytest.approx(bench.macs_per_lr_pixel("hpun_s", 2) * 64 * 96)
    assert s["latency_ratio"]["to"] == "hpun_m" and s["latency_ratio"]["value"] > 0
    inter = s["latency_ratio"]["interleaved"]  # S/M again, the two timed in alternation (1 round here)
    assert inter["rounds"] == 1 and inter["value"] > 0 and len(inter["medians_ms"]) == 2
    assert s["dense_gmacs_per_s"] == ref["gmacs_per_s"] > 0 and s["x_dense_ideal"] > 0
    assert ref["latency_ms"]["input_hw"] == [64, 96] and ref["latency_ms"]["tiles"] == 1
    assert (out / "artifacts" / "hpun_s_x2_onnx_fp32.onnx").is_file()  # the pipeline's artifact layout
    assert (out / "bench" / "conv3x3_64to64_96x64_onnx_fp32.onnx.json").is_file()  # the reference has a sidecar
    assert (out / "bench.md").read_text().count("| hpun_") == 2
    # IMDN x2 beside them: the same image through the same tiles, each model's latency ratio to it
    imdn = rows[(IMDN, "onnx", "fp32")]
    assert imdn["status"] == "ok" and imdn["bench_role"] == "peer" and imdn["scale"] == 2
    assert imdn["latency_ms"]["tiles"] == 2 and imdn["tile"] == 64 and imdn["overlap"] == 8
    assert imdn["multi_adds"] == conv_multi_adds(create_peer(IMDN, 2), (64, 96))
    assert imdn["macs_executed"] == 2 * conv_multi_adds(create_peer(IMDN, 2), (64, 64))
    assert (out / "bench" / "imdn_x2_onnx_fp32.onnx").is_file()
    for m in ("hpun_s", "hpun_m"):
        ir = rows[(m, "onnx", "fp32")]["imdn_ratio"]
        assert ir["target"] == "onnx" and ir["value"] == pytest.approx(
            rows[(m, "onnx", "fp32")]["latency_ms"]["median"] / imdn["latency_ms"]["median"])
    inter = s["imdn_ratio"]["interleaved"]  # the first model's, timed in alternation with IMDN's artifact
    assert inter["rounds"] == 1 and inter["value"] > 0
    assert "interleaved" not in rows[("hpun_m", "onnx", "fp32")]["imdn_ratio"]


def test_second_run_reuses_the_artifacts(tiny_run, capsys):
    from hpun_edge.app.cli import main

    out, argv, _ = tiny_run
    before = {p: p.stat().st_mtime_ns for p in (out / "artifacts").iterdir()}
    before.update({p: p.stat().st_mtime_ns for p in (out / "bench").iterdir()})
    assert main(argv + ["--no-reference", "--no-imdn"]) == 0
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())
    printed = capsys.readouterr().out
    assert "| hpun_s | onnx | fp32 |" in printed and "dense 3x3 conv" not in printed and "| imdn |" not in printed


@pytest.mark.slow
def test_whole_frame_run_exports_hpun_and_imdn_at_the_image_size(tmp_path):
    """--tile whole: one export of each network at exactly the (non-square) LR size, one call each."""
    from hpun_edge.app.cli import main
    from hpun_edge.converters import read_sidecar

    argv = ["bench", "--model", "hpun_s", "--scale", "2", "--lr-size", "48x80", "--tile", "whole", "--targets",
            "onnx", "--precisions", "fp32", "--runs", "1", "--warmup", "1", "--threads", "1", "--no-reference",
            "--out", str(tmp_path), "--json", str(tmp_path / "bench.json")]
    assert main(argv) == 0
    data = json.loads((tmp_path / "bench.json").read_text())
    validate_results(data)
    assert data["config"]["tile"] is None
    s, imdn = data["records"]
    assert (s["model"], imdn["model"]) == ("hpun_s", IMDN)
    for r in (s, imdn):
        assert r["status"] == "ok" and r["tile"] is None and r["latency_ms"]["tiles"] == 1
        assert r["macs_executed"] == pytest.approx(r["multi_adds"])  # no overlap: the image's Multi-Adds
        assert read_sidecar(r["artifact"]).input_shape == [1, 3, 48, 80]
    assert s["artifact"].endswith("artifacts/hpun_s_x2_80x48_onnx_fp32.onnx")
    assert imdn["artifact"].endswith("bench/imdn_x2_80x48_onnx_fp32.onnx")
    assert s["imdn_ratio"]["interleaved"]["value"] > 0
    assert "whole-frame (one export at exactly 80x48, one call)" in (tmp_path / "bench.md").read_text()


def test_unknown_model_is_a_usage_error(capsys):
    from hpun_edge.app.cli import main

    with pytest.raises(SystemExit):
        main(["bench", "--model", "hpun_xl"])


# --- executorch-fused: the project's own hpun::fused_pud kernel (issue 7) --------------------------

def test_fused_target_is_accepted_and_compared_with_the_executorch_reference():
    from hpun_edge.converters import get_target

    cfg = bench.check_config(BenchConfig(targets=("executorch", "executorch-fused"), precisions=("fp32", "int8")))
    assert cfg.targets == ("executorch", "executorch-fused")
    assert get_target("executorch-fused").precisions == ("fp32", "int8")
    assert bench.reference_target("executorch-fused") == bench.reference_target("executorch-fused-native") == "executorch"
    assert bench.pipeline_config(cfg, "hpun_s").targets == ("executorch", "executorch-fused")  # the pipeline's own
    with pytest.raises(ValueError, match="none of the targets"):
        bench.check_config(BenchConfig(targets=("executorch-fused",), precisions=("fp16",)))
    records = synthetic() + [rec("hpun_s", "executorch-fused", "fp32", 250.0, 45.9e9),
                             rec("hpun_m", "executorch-fused", "fp32", 400.0, 106.2e9)]
    bench_report.add_derived(records, ("hpun_s", "hpun_m"))
    fused = records[-2]
    rate = bench.reference_macs((360, 640)) / 0.08 / 1e9  # the executorch reference's rate: same runtime
    assert fused["dense_gmacs_per_s"] == pytest.approx(rate)
    assert fused["x_dense_ideal"] == pytest.approx(250.0 / (45.9e9 / (rate * 1e9) * 1e3))
    assert fused["latency_ratio"]["value"] == pytest.approx(250.0 / 400.0)
    assert bench_report.best_target(records, "hpun_s", "fp32") == "executorch-fused"


@pytest.fixture(scope="module")
def fused_run(tmp_path_factory):
    """hpun_s x2 through executorch-fused, fp32 and int8, on a 40x56 image in 32-pixel tiles (6 tiles), one
    timed run, and (--native) the same .pte files through the C++ runner. int8 calibrates on the data
    root's training patches: without a data root it is left out (under CI=true it runs, and fails)."""
    import os

    from conftest import _find_data_root

    pytest.importorskip("executorch")
    from hpun_edge.app.cli import main
    from hpun_edge.converters.kernels import NativeError, load_kernels

    try:
        load_kernels()  # builds native/kernels into the cache folder (incremental)
        bench.native_runner()  # the cache folder's hpun_runner, as `make native` (incremental)
    except NativeError as e:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {e}")
        pytest.skip(str(e))
    out = tmp_path_factory.mktemp("bench_fused")
    int8 = _find_data_root() is not None or os.environ.get("CI", "").lower() == "true"
    argv = ["bench", "--model", "hpun_s", "--scale", "2", "--lr-size", "40x56", "--tile", "32", "--overlap", "8",
            "--targets", "executorch-fused", "--precisions", "fp32", *(["int8"] if int8 else []), "--runs", "1",
            "--warmup", "1", "--threads", "1", "--native", "--no-imdn", "--out", str(out), "--json", str(out / "bench.json")]
    return out, main(argv), int8


@pytest.mark.slow
def test_fused_run_writes_records_against_the_executorch_reference(fused_run):
    from hpun_edge.converters import TARGETS, read_sidecar
    from hpun_edge.converters.kernels import sources_sha256

    out, rc, int8 = fused_run
    assert rc == 0
    data = json.loads((out / "bench.json").read_text())
    validate_results(data)
    rows = {(r["model"], r["target"], r["precision"]): r for r in data["records"]}
    precisions = ("fp32", "int8") if int8 else ("fp32",)
    assert set(rows) == {("hpun_s", t, p) for t in ("executorch-fused", "executorch-fused-native") for p in precisions} | {
        (m, "executorch", p) for m in ("conv3x3_64to64", REF_CHAIN_MODEL) for p in precisions}
    s, ref = rows[("hpun_s", "executorch-fused", "fp32")], rows[("conv3x3_64to64", "executorch", "fp32")]
    native = rows[("hpun_s", "executorch-fused-native", "fp32")]
    for r in (s, native):
        assert r["status"] == "ok", r["reason"]
        assert r["latency_ms"]["tiles"] == 6 and r["dense_gmacs_per_s"] == ref["gmacs_per_s"] > 0
        assert r["artifact"] == s["artifact"] and r["latency_ms"]["input_hw"] == [40, 56]
    assert native["runtime"]["runner"] == "hpun_runner" and native["runtime"]["custom_kernels"] is True
    assert [(r["target"], r["precision"]) for r in data["records"] if r["model"] == "hpun_s"] == [
        (t, p) for t in ("executorch-fused", "executorch-fused-native") for p in precisions]
    own = ["hpun.fused_pub.out", "hpun.pw_relu_pud_pw_add.out"]
    assert s["ops"]["fallback"] == ["dim_order_ops._clone_dim_order.out", *own]
    sidecar = read_sidecar(s["artifact"])
    assert sidecar.target == "executorch-fused" and sidecar.problems == [] and sidecar.tile == 32
    # the kernel library it needs, by the hash of its sources; what made it, by the target's exporter
    assert sidecar.kernels["sources_sha256"] == sources_sha256() and sidecar.build_key
    assert sidecar.exporter == TARGETS["executorch-fused"].exporter
    # per block (8): PUB = fused_pub, front block = pw_relu_pud_pw_add
    assert sidecar.details["own_ops"] == {k: 8 for k in own}
    # srdsc_fold: the 8 SRDSC(1) depthwise convs are folded into their 1x1 convs, the 8 SRDSC(5) remain;
    # ChannelsLastHPUN: add_mean is folded into the tail conv, sub_mean stays (1 + 32 pointwise)
    census = sidecar.details["model_convolutions"]
    assert census["depthwise"] == 8 and census["pointwise"] == 1 + 32 and census["grouped"] == 16
    if not int8:
        return
    # int8 (QAT): the same blocks with their 1x1 convs in int8, every conv still accounted for
    q8 = rows[("hpun_s", "executorch-fused", "int8")]
    q8_native = rows[("hpun_s", "executorch-fused-native", "int8")]
    int8_ref = rows[("conv3x3_64to64", "executorch", "int8")]
    for r in (q8, q8_native):
        assert r["status"] == "ok", r["reason"]
        assert r["method"] == "qat" and r["dense_gmacs_per_s"] == int8_ref["gmacs_per_s"] > 0
    own_q8 = ["hpun.fused_pub_q8x2.out", "hpun.pw_relu_pud_pw_add_q8x2.out"]  # QAT: the PUD 1x1 convs int8 too
    assert q8["ops"]["fallback"] == ["dim_order_ops._clone_dim_order.out", *own_q8]
    sc8 = read_sidecar(q8["artifact"])
    assert sc8.precision == "int8" and sc8.problems == [] and sc8.kernels == sidecar.kernels
    assert sc8.details["own_ops"] == {k: 8 for k in own_q8}
    assert sc8.details["model_convolutions"] == census
    assert sc8.quantization["family"] == "fused-int8" and len(sc8.quantization["int8_inputs"]) == 16 + 16 + 1
    assert sc8.quantization["qat_source"].startswith("shipped hpun_s_x2_fused-int8.safetensors")
    assert list(sc8.quantization["int8_outputs"]) == ["body_tail"]  # HPUN-S's one dense conv in the body


@pytest.mark.slow
def test_fused_artifact_equals_pytorch_through_the_tiling(fused_run):
    """The executorch-fused .pte vs the PyTorch fp32 model, through the same fixed-size 32-pixel tiling
    with overlap 8 on a 40x56 image (6 tiles): within 1e-4, in Python (kernel loaded into
    executorch.runtime) and in the C++ runner."""
    import torch

    from hpun_edge.converters import load_artifact
    from hpun_edge.app import native
    from hpun_edge.inference import tiled_forward
    from hpun_edge.zoo import create_model

    out, _, _ = fused_run
    runner, sidecar = load_artifact(out / "artifacts" / "hpun_s_x2_executorch-fused_fp32.pte", threads=1)
    model = create_model("hpun_s", 2, pretrained=True).eval()
    x = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(11))
    with torch.no_grad():
        got = tiled_forward(runner, x, 2, 32, 8, fixed_size=True)
        want = tiled_forward(model, x, 2, 32, 8, fixed_size=True)
    err = (got - want).abs().max().item()
    assert got.shape == (1, 3, 80, 112) and err <= 1e-4, f"max abs error {err}"
    h, w = native.write_f32(out / "x.f32", x)
    native.run_runner(bench.native_runner(), runner.path, tile=32, overlap=8, threads=1, warmup=0, runs=1,
                      input=out / "x.f32", input_hw=(h, w), output=out / "y.f32")
    got_native = torch.from_numpy(native.read_f32(out / "y.f32", 2 * h, 2 * w))
    err = (got_native - want).abs().max().item()
    assert err <= 1e-4, f"C++ runner: max abs error {err}"


@pytest.mark.slow
def test_fused_int8_artifact_stays_on_its_fake_quant_reference_through_the_tiling(fused_run, data_root):
    """The int8 executorch-fused .pte vs its fake-quant reference (the int8 blocks' PyTorch ops, with
    the ranges its sidecar records), same tiling as above, in Python and in the C++ runner. Each op
    equals its reference to float rounding (tests/test_int8_kernels.py); over 17 int8 convs a value
    that the kernels and PyTorch sum in another order lands on the other side of a rounding boundary
    now and then, and the step spreads (XNNPACK's int8 conv requantizes its output too): on this image
    56.7 dB and 1.5/255 at most here (AVX-512 VNNI; CI's AVX2 paths sum in yet another order); the
    bound is a few output steps, above the 38 dB the XNNPACK int8 artifacts are held to."""
    import torch

    from hpun_edge.converters import load_artifact
    from hpun_edge.app import native
    from hpun_edge.inference import tiled_forward
    from hpun_edge.zoo import create_model
    from hpun_edge.quantization.calibration import load_calibration
    from hpun_edge.quantization.finetune import QATConfig
    from hpun_edge.quantization.fused_int8 import quantize_fused, ranges_from_settings

    out, _, _ = fused_run
    runner, sidecar = load_artifact(out / "artifacts" / "hpun_s_x2_executorch-fused_int8-qat.pte", threads=1)
    model = create_model("hpun_s", 2, pretrained=True).eval()
    # the QAT's fake-quant model, resumed from the bench's finished checkpoint (the shipped state)
    settings = sidecar.quantization
    (ckpt,) = (out / "qat").glob("hpun_s_x2_fused-int8_*")
    cal = load_calibration(None, 2, count=settings["calib_count"], data_root=str(data_root))
    q = quantize_fused(model, cal, "qat", qat=QATConfig(**settings["qat"]), train_folder=data_root / "train", ckpt_dir=ckpt)
    assert q.qat_log == [] and (q.ranges, q.out_ranges) == ranges_from_settings(settings)
    reference = q.reference
    x = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(11))
    with torch.no_grad():
        want = tiled_forward(reference, x, 2, 32, 8, fixed_size=True)
        got = tiled_forward(runner, x, 2, 32, 8, fixed_size=True)
    h, w = native.write_f32(out / "x8.f32", x)
    native.run_runner(bench.native_runner(), runner.path, tile=32, overlap=8, threads=1, warmup=0, runs=1,
                      input=out / "x8.f32", input_hw=(h, w), output=out / "y8.f32")
    got_native = torch.from_numpy(native.read_f32(out / "y8.f32", 2 * h, 2 * w))
    for name, y in (("python", got), ("C++ runner", got_native)):
        d = (y - want).abs()
        psnr = 10 * torch.log10(1 / (d ** 2).mean()).item()
        assert d.max().item() <= 4 / 255 and psnr >= 50, f"{name}: max abs {d.max().item()}, {psnr:.1f} dB"


def test_bench_asks_for_the_pipelines_qat_settings(tmp_path):
    """`hpun-edge bench --method qat` looks for (and would make) the QAT artifact with the pipeline's
    QAT settings, so the artifacts `make run` made are reused rather than re-trained differently:
    the bench's artifact maker keys the job exactly as the pipeline's does."""
    from dataclasses import asdict

    from hpun_edge.app import pipeline
    from hpun_edge.app.config import Job, PipelineConfig, qat_config
    from hpun_edge.quantization.pt2e import QATConfig

    cfg = BenchConfig(models=("hpun_s",), targets=("executorch",), precisions=("int8",), method="qat",
                      tile=256, out=str(tmp_path))  # at a tile: whole-frame artifacts are the bench's own
    pcfg = bench.pipeline_config(cfg, "hpun_s")
    job = Job("executorch", "int8", "qat")
    bench_maker = pipeline.artifact_maker(pcfg, *pipeline.load_network(pcfg))
    pipe_cfg = PipelineConfig(out=str(tmp_path), tile=cfg.tile, overlap=cfg.overlap, threads=cfg.threads,
                              calib_count=cfg.calib_count)
    pipe_maker = pipeline.artifact_maker(pipe_cfg, *pipeline.load_network(pipe_cfg))
    # the shipped weights: both take the QAT state shipped beside them (quantization.shipped)
    assert bench_maker.quant_settings(job) == pipe_maker.quant_settings(job)
    assert bench_maker.quant_settings(job)["qat_source"].startswith("shipped ")
    # asked to fine-tune: the pipeline's QAT settings
    pcfg.qat_state = "fine-tune"
    bench_maker = pipeline.artifact_maker(pcfg, *pipeline.load_network(pcfg))
    want = asdict(qat_config(PipelineConfig()))
    assert bench_maker.quant_settings(job)["qat"] == want
    assert want != asdict(QATConfig())  # the pipeline's lr (1e-4) is not QATConfig's own default
    pcfg.qat_state = pipe_cfg.qat_state
    bench_maker = pipeline.artifact_maker(pcfg, *pipeline.load_network(pcfg))
    assert bench_maker.path(job) == pipe_maker.path(job) and bench_maker.build_key(job) == pipe_maker.build_key(job)
