"""Phone bench over adb, without a phone: a fake `adb` first on PATH records what it is asked and
answers `shell` with a captured runner / benchmark_model output."""
from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from hpun_edge.app import adb
from hpun_edge.app.bench import BenchConfig
from hpun_edge.app.report import validate_results

RUNNER_LINE = (
    'HPUN_RESULT {"model": "hpun_s", "scale": 2, "target": "executorch-native", "precision": "fp32", '
    '"method": "fp32", "artifact": "/data/local/tmp/hpun/hpun_s_x2_executorch_fp32.pte", "size_bytes": 1000, '
    '"dataset": "latency", "psnr_y": null, "ssim_y": null, "psnr_delta_vs_torch_fp32": null, '
    '"latency_ms": {"median": 123.456, "p90": 130.5, "input_hw": [360, 640], "threads": 2, "runs": 10, '
    '"warmup": 3, "tiles": 6}, "latency_tile_ms": null, "ops": null, "status": "ok", "reason": null, '
    '"tile": 256, "overlap": 16, "runtime": {"runner": "hpun_runner", "executorch": "1.5.1", "arch": "aarch64", '
    '"custom_kernels": false}, "output": null}'
)
RUNNER_OUTPUT = "[cpuinfo] something on stderr-ish\nloaded program\n" + RUNNER_LINE + "\n"

BENCHMARK_MODEL_OUTPUT = """\
INFO: STARTING!
INFO: Num threads: [2]
INFO: Graph: [/data/local/tmp/hpun/hpun_s_x2_litert_fp32.tflite]
INFO: Initialized session in 45.1ms.
INFO: Running benchmark for at least 3 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=4 first=31000 curr=29000 min=28500 max=31000 avg=29500 std=900 p5=28500 median=29100 p95=31000

INFO: Running benchmark for at least 10 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=10 first=28800 curr=28400 min=28100 max=30100 avg=28650.5 std=520 p5=28100 median=28500 p95=30100

INFO: Inference timings in us: Init: 45100, First inference: 31000, Warmup (avg): 29500, Inference (avg): 28650.5
INFO: Memory footprint delta from the start of the tool (MB): init=5.2 overall=60.1
"""

FAKE_ADB = r'''#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_ADB_LOG"], "a") as f:
    f.write(json.dumps(args) + "\n")
if args[:1] == ["-s"]:
    args = args[2:]
if args == ["devices"]:
    sys.stdout.write("List of devices attached\n" + os.environ.get("FAKE_ADB_DEVICES", ""))
elif args[:1] == ["push"]:
    sys.stdout.write(args[1] + ": 1 file pushed\n")
elif args[:1] == ["shell"]:
    cmd = " ".join(args[1:])
    if "getprop ro.product.model" in cmd:
        sys.stdout.write("Pixel 8\n")
    elif "hpun_runner --model" in cmd:
        sys.stdout.write(open(os.environ["FAKE_RUNNER_OUT"]).read())
    elif "benchmark_model --graph" in cmd:
        sys.stdout.write(open(os.environ["FAKE_BM_OUT"]).read())
else:
    sys.exit(1)
'''


@pytest.fixture
def fake_adb(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "adb"
    exe.write_text(FAKE_ADB.replace("{python}", sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "runner.txt").write_text(RUNNER_OUTPUT)
    (tmp_path / "bm.txt").write_text(BENCHMARK_MODEL_OUTPUT)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("ADB", raising=False)
    monkeypatch.setenv("FAKE_ADB_LOG", str(tmp_path / "adb.log"))
    monkeypatch.setenv("FAKE_ADB_DEVICES", "R5CX123\tdevice\n")
    monkeypatch.setenv("FAKE_RUNNER_OUT", str(tmp_path / "runner.txt"))
    monkeypatch.setenv("FAKE_BM_OUT", str(tmp_path / "bm.txt"))

    def calls():
        log = tmp_path / "adb.log"
        return [json.loads(l) for l in log.read_text().splitlines()] if log.exists() else []

    return calls


@pytest.fixture
def fake_artifacts(tmp_path, monkeypatch):
    """bench_model_artifacts without exporting anything: small files standing in for the programs."""
    from types import SimpleNamespace

    import hpun_edge.app.bench as bench

    def fake(cfg):
        for model in cfg.models:
            for target, suffix in (("executorch", ".pte"), ("litert", ".tflite")):
                if target not in cfg.targets:
                    continue
                p = tmp_path / "artifacts" / f"{model}_x{cfg.scale}_{target}_fp32{suffix}"
                p.parent.mkdir(exist_ok=True)
                p.write_bytes(b"x" * 1000)
                yield model, SimpleNamespace(target=target, precision="fp32", method="fp32", name="fp32"), p, \
                    SimpleNamespace(artifact_bytes=1000)

    monkeypatch.setattr(bench, "bench_model_artifacts", fake)


def test_no_adb_is_one_line_naming_platform_tools(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing there
    monkeypatch.delenv("ADB", raising=False)
    with pytest.raises(adb.AdbError, match="install Android platform-tools"):
        adb.find_adb()
    from hpun_edge.app.cli import main

    assert main(["bench", "--adb"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "adb not found on PATH" in err and "platform-tools" in err


def test_no_device_unauthorized_and_several(fake_adb, monkeypatch):
    a = adb.find_adb()
    monkeypatch.setenv("FAKE_ADB_DEVICES", "")
    with pytest.raises(adb.AdbError, match="no Android device"):
        adb.pick_device(a, None)
    monkeypatch.setenv("FAKE_ADB_DEVICES", "R5CX123\tunauthorized\n")
    with pytest.raises(adb.AdbError, match="accept the USB debugging prompt"):
        adb.pick_device(a, None)
    monkeypatch.setenv("FAKE_ADB_DEVICES", "A1\tdevice\nB2\tdevice\n")
    with pytest.raises(adb.AdbError, match="name one with --adb SERIAL"):
        adb.pick_device(a, None)
    assert adb.pick_device(a, "B2") == "B2"
    with pytest.raises(adb.AdbError, match="C3 is not attached"):
        adb.pick_device(a, "C3")


def test_no_device_through_the_cli(fake_adb, monkeypatch, capsys):
    from hpun_edge.app.cli import main

    monkeypatch.setenv("FAKE_ADB_DEVICES", "")
    assert main(["bench", "--adb"]) == 2
    assert "no Android device" in capsys.readouterr().err


def test_parse_runner_output():
    rec = adb.parse_result_line(RUNNER_OUTPUT)
    assert rec["latency_ms"]["median"] == 123.456 and rec["target"] == "executorch-native"
    with pytest.raises(Exception, match="HPUN_RESULT"):
        adb.parse_result_line("segfault\n")


def test_parse_benchmark_model_takes_the_regular_runs():
    p = adb.parse_benchmark_model(BENCHMARK_MODEL_OUTPUT)
    assert p["count"] == 10 and p["median_us"] == 28500 and p["avg_us"] == 28650.5 and p["p95_us"] == 30100
    assert p["inference_avg_us"] == 28650.5 and p["init_us"] == 45100
    old = "count=50 first=2990275 curr=2913402 min=2727568 max=3189954 avg=2.95034e+06 std=109798\n" \
          "Inference timings in us: Init: 17187, First inference: 3512391, Warmup (avg): 3.51239e+06, " \
          "Inference (avg): 2.95034e+06\n"
    p = adb.parse_benchmark_model(old)  # an older benchmark_model: no percentiles, exponent notation
    assert p["avg_us"] == pytest.approx(2.95034e6) and "median_us" not in p
    with pytest.raises(adb.AdbError, match="Inference timings"):
        adb.parse_benchmark_model("ERROR: could not load model\n")


def test_phone_bench_pushes_runs_parses_and_adds_to_results(fake_adb, fake_artifacts, tmp_path):
    cfg = BenchConfig(models=("hpun_s",), out=str(tmp_path / "out"), threads=2, warmup=3, runs=10)
    runner = tmp_path / "hpun_runner"
    runner.write_bytes(b"\x7fELF")
    bm = tmp_path / "benchmark_model"
    bm.write_bytes(b"\x7fELF")
    results = tmp_path / "out" / "results.json"
    got = adb.phone_bench(cfg, None, runner=str(runner), benchmark_model=str(bm), results=results,
                          say=lambda line: None)
    assert got["phone"] == "Pixel 8" and got["serial"] == "R5CX123"
    calls = fake_adb()
    pushes = [c for c in calls if "push" in c]
    remote = {c[-1] for c in pushes}
    assert {"/data/local/tmp/hpun/hpun_runner", "/data/local/tmp/hpun/benchmark_model",
            "/data/local/tmp/hpun/hpun_s_x2_executorch_fp32.pte",
            "/data/local/tmp/hpun/hpun_s_x2_litert_fp32.tflite"} <= remote
    assert all(c[:2] == ["-s", "R5CX123"] for c in calls if c != ["devices"])
    run = next(c[-1] for c in calls if "hpun_runner --model" in c[-1])
    assert "--threads 2" in run and "--warmup 3" in run and "--runs 10" in run and "--input-hw 360x640" in run
    assert "--model-name hpun_s" in run and "--target executorch-native" in run
    bmc = next(c[-1] for c in calls if "benchmark_model --graph" in c[-1])
    assert "--num_threads=2" in bmc and "--warmup_runs=3" in bmc and "--num_runs=10" in bmc

    data = json.loads(results.read_text())
    validate_results(data)
    recs = {r["target"]: r for r in data["records"]}
    native = recs["executorch-native on Pixel 8"]
    assert native["device"] == "Pixel 8" and native["latency_ms"]["median"] == 123.456 and native["status"] == "ok"
    lite = recs["litert-benchmark_model on Pixel 8"]
    assert lite["latency_tile_ms"]["median"] == 28.5 and lite["latency_ms"]["tiles"] == 6
    assert lite["latency_ms"]["median"] == pytest.approx(28.5 * 6) and "estimate" in lite["latency_ms"]
    assert (tmp_path / "out" / "phone" / "Pixel_8" / "hpun_s_x2_executorch_fp32.pte.txt").is_file()
    assert "executorch-native on Pixel 8" in (tmp_path / "out" / "results.md").read_text()

    # a second run replaces the phone's records rather than adding duplicates
    adb.phone_bench(cfg, "R5CX123", runner=str(runner), results=results, say=lambda line: None)
    data = json.loads(results.read_text())
    assert [r["target"] for r in data["records"]].count("executorch-native on Pixel 8") == 1


def test_phone_records_go_into_a_pipeline_results_json_and_its_report(fake_adb, fake_artifacts, tmp_path):
    from hpun_edge.app.report import write_reports

    out = tmp_path / "out"
    summary = {"config": {"model": "hpun_s", "scale": 2, "tile": 256, "overlap": 16, "latency_runs": 10,
                          "latency_warmup": 3, "latency_budget_s": 30.0, "threads": 2, "methods": ["qat"],
                          "qat_steps": 100, "qat_lr": 2e-5},
               "weights": "w.safetensors", "weights_sha256": "0" * 64, "seconds": 1.0, "records": []}
    write_reports(summary, out)
    runner = tmp_path / "hpun_runner"
    runner.write_bytes(b"\x7fELF")
    cfg = BenchConfig(models=("hpun_s",), out=str(out))
    adb.phone_bench(cfg, None, runner=str(runner), results=out / "results.json", say=lambda line: None)
    validate_results(json.loads((out / "results.json").read_text()))
    assert "## executorch-native on Pixel 8" in (out / "report.md").read_text()


def test_failed_runner_becomes_a_failed_row(fake_adb, fake_artifacts, tmp_path):
    (tmp_path / "runner.txt").write_text("hpun_runner: error: cannot open model\n")
    runner = tmp_path / "hpun_runner"
    runner.write_bytes(b"\x7fELF")
    cfg = BenchConfig(models=("hpun_s",), out=str(tmp_path / "out"))
    got = adb.phone_bench(cfg, None, runner=str(runner), results=tmp_path / "r.json", say=lambda line: None)
    (rec,) = got["records"]
    assert rec["status"] == "failed" and "HPUN_RESULT" in rec["reason"]
    validate_results(json.loads((tmp_path / "r.json").read_text()))


def test_missing_runner_names_the_build(fake_adb, fake_artifacts, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    import hpun_edge.app.native as native

    monkeypatch.setattr(native, "ANDROID_BUILD", tmp_path / "nothing")
    with pytest.raises(adb.AdbError, match="Android NDK"):
        adb.phone_bench(BenchConfig(models=("hpun_s",), out=str(tmp_path)), None, say=lambda line: None)
