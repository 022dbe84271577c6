"""`hpun-edge bench --adb [SERIAL]`: latency on an Android phone, added to results.json under its name.

The native runner (an NDK build of ``native/runner``, ``hpun_runner``) and the ExecuTorch programs
(the same ``.pte`` files the host bench exports; XNNPACK programs are portable) are pushed to
``/data/local/tmp/hpun``; each program is run through ``adb shell`` as

    hpun_runner --model M.pte --scale 2 --tile 256 --overlap 16 --threads T --warmup W --runs R
                --input-hw 360x640 --model-name hpun_s --precision fp32 --method fp32
                --target executorch-native

which prints one line ``HPUN_RESULT {json}``: a results.json record. With ``--benchmark-model
PATH`` (LiteRT's ``benchmark_model`` for Android, given by the user), the ``.tflite`` files are run
through it (``--num_threads``, ``--warmup_runs``, ``--num_runs``) and its timing lines parsed; it
times one call (one tile), so the per-image figure is per-call x tiles, marked as an estimate.

Records get ``device`` (``getprop ro.product.model``) and their target reads ``<target> on <phone>``,
so report.md shows them in a section of their own. The raw outputs are kept under
``<out>/phone/<phone>/``.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

from hpun_edge.converters import TARGETS, get_target

REMOTE_DIR = "/data/local/tmp/hpun"
RESULT_PREFIX = "HPUN_RESULT "
PLATFORM_TOOLS = "https://developer.android.com/tools/releases/platform-tools"


class AdbError(ValueError):
    """A phone bench that cannot go on; str() is one line naming the fix."""


# ------------------------------------------------------------------------------------------ adb
def find_adb() -> str:
    """adb from $ADB or PATH, or one line naming the fix."""
    explicit = os.environ.get("ADB")
    if explicit:
        if Path(explicit).is_file() and os.access(explicit, os.X_OK):
            return explicit
        raise AdbError(f"$ADB={explicit} is not an executable file: point it at platform-tools' adb or unset it")
    found = shutil.which("adb")
    if not found:
        raise AdbError(f"adb not found on PATH: install Android platform-tools ({PLATFORM_TOOLS}, or "
                       f"'apt install adb' / 'brew install android-platform-tools') and put adb on PATH")
    return found


def _adb(adb: str, args: list[str], serial: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    cmd = [adb] + (["-s", serial] if serial else []) + args
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AdbError(f"'{' '.join(cmd)}' took longer than {timeout:.0f} s") from None


def _checked(adb: str, args: list[str], serial: str | None = None, timeout: float = 600) -> str:
    out = _adb(adb, args, serial, timeout)
    if out.returncode != 0:
        text = (out.stderr or out.stdout).strip().splitlines()
        raise AdbError(f"adb {' '.join(args[:2])} failed ({out.returncode}): {text[-1] if text else 'no output'}")
    return out.stdout


def devices(adb: str) -> list[tuple[str, str]]:
    """(serial, state) for every device `adb devices` lists."""
    out = _checked(adb, ["devices"], timeout=60)
    rows = []
    for line in out.splitlines():
        line = line.strip()
        if not line or line.startswith(("List of devices", "*")):
            continue
        parts = line.split()
        if len(parts) >= 2:
            rows.append((parts[0], parts[1]))
    return rows


def pick_device(adb: str, serial: str | None) -> str:
    """The serial to use: the one given, or the only device attached; a clear error otherwise."""
    found = devices(adb)
    ready = [s for s, state in found if state == "device"]
    if serial:
        state = dict(found).get(serial)
        if state is None:
            listed = ", ".join(f"{s} ({st})" for s, st in found) or "none"
            raise AdbError(f"device {serial} is not attached (adb devices: {listed})")
        if state != "device":
            raise AdbError(f"device {serial} is {state}: " + _state_fix(state))
        return serial
    if not found:
        raise AdbError("no Android device: 'adb devices' lists none (connect a phone with USB debugging on "
                       "and accept the computer's key on it)")
    if not ready:
        s, state = found[0]
        raise AdbError(f"device {s} is {state}: " + _state_fix(state))
    if len(ready) > 1:
        raise AdbError(f"{len(ready)} devices attached ({', '.join(ready)}): name one with --adb SERIAL")
    return ready[0]


def _state_fix(state: str) -> str:
    if state == "unauthorized":
        return "accept the USB debugging prompt on the phone, then retry"
    if state == "offline":
        return "reconnect the cable or run 'adb kill-server', then retry"
    return "make it show as 'device' in 'adb devices'"


def phone_name(adb: str, serial: str) -> str:
    name = _checked(adb, ["shell", "getprop", "ro.product.model"], serial, timeout=60).strip()
    return name or serial


def push(adb: str, serial: str, local: Path, remote: str) -> None:
    _checked(adb, ["push", str(local), remote], serial)


def shell(adb: str, serial: str, command: str, timeout: float = 600) -> tuple[int, str]:
    out = _adb(adb, ["shell", command], serial, timeout)
    return out.returncode, out.stdout + out.stderr


# --------------------------------------------------------------------------------------- parsing
def parse_result_line(text: str) -> dict:
    """The record in the runner's ``HPUN_RESULT {json}`` line (hpun_edge.app.native's parser when present)."""
    try:
        from .native import parse_runner_output
    except ImportError:
        parse_runner_output = None
    if parse_runner_output is not None:
        return parse_runner_output(text)
    lines = [l.strip() for l in text.splitlines() if l.strip().startswith(RESULT_PREFIX)]
    if len(lines) != 1:
        tail = text.strip().splitlines()[-1] if text.strip() else "no output"
        raise AdbError(f"the runner printed {len(lines)} {RESULT_PREFIX.strip()} lines, expected 1 (last line: {tail})")
    try:
        record = json.loads(lines[0][len(RESULT_PREFIX):])
    except ValueError as e:
        raise AdbError(f"the runner's {RESULT_PREFIX.strip()} line is not JSON ({e})") from None
    if not isinstance(record, dict) or not isinstance(record.get("latency_ms"), dict):
        raise AdbError(f"the runner's {RESULT_PREFIX.strip()} record has no latency_ms")
    return record


_NUM = r"([-+]?[\d.]+(?:[eE][-+]?\d+)?)"


def parse_benchmark_model(text: str) -> dict:
    """LiteRT benchmark_model's timings, in microseconds: the regular runs' ``count=... avg=...`` line
    (with p5/median/p95 where the tool prints them) and the ``Inference timings in us`` summary."""
    summary = re.search(rf"Inference timings in us: Init: {_NUM}, First inference: {_NUM}, "
                        rf"Warmup \(avg\): {_NUM}, Inference \(avg\): {_NUM}", text)
    if not summary:
        tail = text.strip().splitlines()[-1] if text.strip() else "no output"
        raise AdbError(f"benchmark_model printed no 'Inference timings in us' line (last line: {tail})")
    out = {"init_us": float(summary.group(1)), "first_inference_us": float(summary.group(2)),
           "warmup_avg_us": float(summary.group(3)), "inference_avg_us": float(summary.group(4))}
    runs = [m for m in re.finditer(r"count=(\d+) first=.*", text)]  # the last one: the regular runs
    if runs:
        line = runs[-1].group(0)
        out["count"] = int(runs[-1].group(1))
        for key in ("first", "curr", "min", "max", "avg", "std", "p5", "median", "p95"):
            m = re.search(rf"\b{key}={_NUM}", line)
            if m:
                out[f"{key}_us"] = float(m.group(1))
    return out


# ----------------------------------------------------------------------------------------- bench
def runner_command(remote_runner: str, remote_model: str, cfg, model: str, precision: str, method: str,
                   target: str = "executorch-native") -> str:
    h, w = cfg.lr_size
    args = [remote_runner, "--model", remote_model, "--scale", str(cfg.scale), "--tile", str(cfg.tile),
            "--overlap", str(cfg.overlap), "--threads", str(cfg.threads), "--warmup", str(cfg.warmup),
            "--runs", str(cfg.runs), "--input-hw", f"{h}x{w}", "--model-name", model, "--precision", precision,
            "--method", method, "--target", target]
    return " ".join(shlex.quote(a) for a in args)


def benchmark_model_command(remote_bin: str, remote_model: str, cfg) -> str:
    args = [remote_bin, f"--graph={remote_model}", f"--num_threads={cfg.threads}", f"--warmup_runs={cfg.warmup}",
            f"--num_runs={cfg.runs}"]
    return " ".join(shlex.quote(a) for a in args)


def on_phone(record: dict, phone: str, serial: str) -> dict:
    base = record.get("target") or "?"
    return {**record, "target": f"{base} on {phone}", "runtime_target": base, "device": phone, "device_serial": serial,
            "bench_role": "phone"}


def benchmark_model_record(parsed: dict, cfg, model: str, precision: str, method: str, tiles: int) -> dict:
    per_call = (parsed.get("median_us") or parsed.get("avg_us") or parsed["inference_avg_us"]) / 1e3
    stat = "median" if parsed.get("median_us") else "avg"
    h, w = cfg.lr_size
    return {
        "model": model, "scale": cfg.scale, "target": "litert-benchmark_model", "precision": precision,
        "method": method, "dataset": "latency", "psnr_y": None, "ssim_y": None, "psnr_delta_vs_torch_fp32": None,
        "latency_tile_ms": {"median": round(per_call, 3), "p90": None, "input_hw": [cfg.tile, cfg.tile],
                            "threads": cfg.threads, "runs": parsed.get("count"), "warmup": cfg.warmup, "tiles": 1,
                            "statistic": stat},
        "latency_ms": {"median": round(per_call * tiles, 3), "p90": None, "input_hw": [h, w], "threads": cfg.threads,
                       "runs": parsed.get("count"), "warmup": cfg.warmup, "tiles": tiles,
                       "estimate": f"benchmark_model per-call {stat} x {tiles} tiles (no stitching)"},
        "benchmark_model": parsed, "ops": None, "status": "ok", "reason": None, "tile": cfg.tile,
        "overlap": cfg.overlap,
    }


def find_runner(runner: str | None) -> Path:
    if runner:
        p = Path(runner)
        if not p.is_file():
            raise AdbError(f"{p}: no such runner binary (build native/runner with the Android NDK)")
        return p
    try:  # where `python -m hpun_edge.app.native build --arch android-arm64` puts it
        from .native import ANDROID_BUILD, RUNNER

        candidate = ANDROID_BUILD / RUNNER
    except ImportError:
        candidate = Path("build/native-android-arm64/hpun_runner")
    if candidate.is_file():
        return candidate
    raise AdbError(f"no Android build of hpun_runner at {candidate}: build it with the Android NDK "
                   "(python -m hpun_edge.app.native build --arch android-arm64) or pass --runner PATH")


def phone_bench(cfg, serial: str | None = None, *, runner: str | None = None, benchmark_model: str | None = None,
                results: str | os.PathLike | None = None, say=print) -> dict:
    """Push, run, parse and add to results.json; returns {'phone', 'serial', 'records', 'results'}."""
    from .bench import NATIVE_SUFFIX, bench_model_artifacts, check_config, runner_tile
    from .latency import count_tiles

    adb = find_adb()  # before anything slow: a missing adb or phone fails in a second
    serial = pick_device(adb, serial)
    phone = phone_name(adb, serial)
    runner_path = find_runner(runner)
    if benchmark_model and not Path(benchmark_model).is_file():
        raise AdbError(f"{benchmark_model}: no such benchmark_model binary (LiteRT's Android build)")
    # ExecuTorch programs run in the native runner, .tflite files in LiteRT's benchmark_model
    targets = tuple(t.name for t in TARGETS.values()
                    if t.runtime == "executorch" or (benchmark_model and t.runtime == "litert"))
    cfg = check_config(type(cfg)(**{**cfg.__dict__, "targets": targets, "tile": runner_tile(cfg.tile)}))
    say(f"phone: {phone} ({serial})")
    raw_dir = Path(cfg.out) / "phone" / re.sub(r"[^A-Za-z0-9._-]+", "_", phone)
    raw_dir.mkdir(parents=True, exist_ok=True)
    _checked(adb, ["shell", f"mkdir -p {REMOTE_DIR}"], serial)
    remote_runner = f"{REMOTE_DIR}/hpun_runner"
    push(adb, serial, runner_path, remote_runner)
    _checked(adb, ["shell", f"chmod 755 {remote_runner}"], serial)
    remote_bm = None
    if benchmark_model:
        remote_bm = f"{REMOTE_DIR}/benchmark_model"
        push(adb, serial, Path(benchmark_model), remote_bm)
        _checked(adb, ["shell", f"chmod 755 {remote_bm}"], serial)
    tiles = count_tiles(*cfg.lr_size, cfg.tile, cfg.overlap)
    records = []
    for model, job, path, sidecar in bench_model_artifacts(cfg):
        remote = f"{REMOTE_DIR}/{path.name}"
        say(f"== {phone}: {model} {job.target} {job.name}")
        push(adb, serial, path, remote)
        native = get_target(job.target).runtime == "executorch"
        if native:
            cmd = runner_command(remote_runner, remote, cfg, model, job.precision, job.method,
                                 job.target + NATIVE_SUFFIX)
        else:
            cmd = benchmark_model_command(remote_bm, remote, cfg)
        rc, text = shell(adb, serial, cmd)
        (raw_dir / f"{path.name}.txt").write_text(f"$ {cmd}\n{text}")
        try:
            if rc != 0:
                raise AdbError(f"exited {rc}: {text.strip().splitlines()[-1] if text.strip() else 'no output'}")
            if native:
                rec = parse_result_line(text)
                rec.setdefault("method", job.method)
            else:
                rec = benchmark_model_record(parse_benchmark_model(text), cfg, model, job.precision, job.method, tiles)
        except (AdbError, ValueError, KeyError, TypeError, RuntimeError) as e:  # the native parser raises its own
            from .pipeline import one_line

            e = AdbError(str(e)) if isinstance(e, AdbError) else AdbError(one_line(e))
            rec = {"model": model, "scale": cfg.scale, "target": job.target + (NATIVE_SUFFIX if native
                                                                                else "-benchmark_model"), "precision": job.precision, "method": job.method,
                   "dataset": "latency", "psnr_y": None, "ssim_y": None, "psnr_delta_vs_torch_fp32": None,
                   "latency_ms": None, "ops": None, "status": "failed", "reason": str(e)}
        rec.update(device_artifact=remote, artifact=str(path), size_bytes=sidecar.artifact_bytes)
        records.append(on_phone(rec, phone, serial))
    path = add_to_results(records, results or Path(cfg.out) / "results.json", cfg)
    return {"phone": phone, "serial": serial, "records": records, "results": str(path)}


def add_to_results(records: list[dict], path: str | os.PathLike, cfg) -> Path:
    """Add records to a results.json (replacing ones for the same model/target/precision/method/dataset),
    validate, write atomically, and rewrite its report beside it."""
    from hpun_edge.evaluate import write_json
    from .report import REQUIRED, SCHEMA_VERSION, validate_record, validate_results, write_reports

    path = Path(path)
    for r in records:
        for key, types in REQUIRED.items():  # keys the runner may leave out, where the schema allows null
            if key not in r and isinstance(types, tuple) and type(None) in types:
                r[key] = None
        errors = validate_record(r)
        if errors:
            raise AdbError(f"phone record {r.get('model')} {r.get('target')}: {'; '.join(errors)}")
    if path.is_file():
        data = json.loads(path.read_text())
        validate_results(data)
    else:
        data = {"schema": SCHEMA_VERSION, "kind": "bench", "config": cfg.to_dict(), "machine": {}, "seconds": 0.0,
                "records": []}

    def key(r):
        return (r.get("model"), r.get("scale"), r.get("target"), r.get("precision"), r.get("method"), r.get("dataset"))

    new = {key(r) for r in records}
    data["records"] = [r for r in data["records"] if key(r) not in new] + records
    validate_results(data)
    summary = {k: v for k, v in data.items() if k != "schema"}
    if data.get("kind") == "bench":
        from .bench_report import write_bench_json

        write_bench_json(summary, path)
    elif path.name == "results.json" and "weights_sha256" in data:  # a pipeline's: rewrite its reports
        write_reports(summary, path.parent)
    else:
        write_json(path, data)
    return path
