"""Time the int8 block ops against their fp32 forms and against another build, through the driver.

    python native/kernels/bench_int8_blocks.py BUILD [OTHER_BUILD] [--size 368] [--rounds 5] [--repeat 15]
        [--threads 1 2] [--ops front pub hpub] [--json out.json]

For each op (front: HPUN-S's front block; pub: a PUB; hpub: the PUD of an HPUB front block, after
its dense conv, with the residual add) it times the fp32 form (`pw_relu_pud_pw_add`, `fused_pub`,
`fused_pud_pw_add`) and the int8 form of each build on one C = 64 image of SIZE x SIZE, random
inputs and weights: `hpun_fused_pud_driver ... --repeat R` (min and median wall ms of R runs after a
warm-up) under `perf stat -e task-clock` (CPU ms per run, both threads together, the driver's setup
subtracted: the same command with no repeat). The variants run one after the other within a round,
ROUNDS rounds; the medians of the rounds are printed. A build's int8 form is the one its driver
takes: ``--q8-pw`` (this tree: every 1x1 conv int8; ``hpub``: `fused_pud_pw_add_q8`) or, for a build
without it (an older tree), ``--q8`` alone (its SRDSC 1x1 conv only; ``hpub``: no int8 form).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
from pathlib import Path

import numpy as np


def write(d: Path, name: str, a: np.ndarray) -> str:
    path = d / name
    a.tofile(path)
    return str(path)


def data(d: Path, c: int, size: int) -> dict[str, str]:
    rng = np.random.default_rng(0)
    f = {"x": write(d, "x", rng.random((size, size, c), dtype=np.float32)),
         "gw": write(d, "gw", (rng.standard_normal((c, 4, 3, 3)) * 0.3).astype(np.float32)),
         "dw": write(d, "dw", (rng.standard_normal((c, 1, 5, 5)) * 0.2).astype(np.float32)),
         "o": str(d / "o")}
    for k in ("gb", "pb", "db", "xb", "pb2"):
        f[k] = write(d, k, (rng.standard_normal(c) * 0.1).astype(np.float32))
    for k in ("pw", "xw", "pw2"):
        f[k] = write(d, k, (rng.standard_normal((c, c, 1, 1)) / c ** 0.5).astype(np.float32))
    f["qw"] = write(d, "qw", rng.integers(-127, 128, (c, c, 1, 1), dtype=np.int8))
    f["ws"] = write(d, "ws", (rng.random(c) * 0.002 + 1e-4).astype(np.float32))
    return f


def variants(build: Path, f: dict, ops: list[str]) -> dict[str, list[str]]:
    """name -> the driver's arguments after the input files, for this build's forms of each op."""
    help_text = (Path(build) / "hpun_fused_pud_driver").read_bytes()
    new = b"--q8-pw" in help_text
    q8, q8pw = ["--q8", f["qw"], f["ws"], "0.02", "-9"], ["--q8-pw", f["qw"], f["ws"], "0.03", "5"]
    front = ["--op", "pw_relu_pud_pw_add", "--pre", f["xw"], f["xb"], "--pw", f["pw"], f["pb"]]
    pub = ["--op", "fused_pub", "--pw", f["pw"], f["pb"], "--post", f["dw"], f["db"], f["pw2"], f["pb2"]]
    hpub = ["--pw", f["pw"], f["pb"], "--residual", f["x"]]
    out = {}
    if "front" in ops:
        out["front fp32"] = front
        out["front int8"] = front + q8 + (q8pw if new else [])
    if "pub" in ops:
        out["pub fp32"] = pub
        out["pub int8"] = pub + q8 + (q8pw if new else [])
    if "hpub" in ops:
        out["hpub fp32"] = hpub
        if new:
            out["hpub int8"] = hpub + q8pw
    return out


def run(build: Path, f: dict, c: int, size: int, args: list[str], threads: int, repeat: int) -> dict:
    base = [str(Path(build) / "hpun_fused_pud_driver"), "1", str(c), str(size), str(size), f["x"], f["gw"], f["gb"],
            f["o"], "--nhwc", *args, *(["--serial"] if threads == 1 else [])]

    def cpu_ms(cmd):
        r = subprocess.run(["perf", "stat", "-x", ",", "-e", "task-clock", *cmd], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: {r.stderr[-1000:]}")
        line = next(l for l in r.stderr.splitlines() if "task-clock" in l)
        return float(line.split(",")[0]), r.stdout

    total, out = cpu_ms(base + ["--repeat", str(repeat)])
    setup, _ = cpu_ms(base)  # one (warm-up) run and the setup
    m = re.search(r"min_ms=([\d.]+) median_ms=([\d.]+)", out)
    return {"cpu_ms": (total - setup) / repeat, "min_ms": float(m.group(1)), "median_ms": float(m.group(2)),
            "isa": out.split()[0]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("builds", nargs="+", type=Path)
    p.add_argument("--size", type=int, default=368)
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--ops", nargs="+", default=["front", "pub", "hpub"], choices=["front", "pub", "hpub"])
    p.add_argument("--json", default=None)
    args = p.parse_args()
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        f = data(Path(tmp), args.channels, args.size)
        todo = []
        for i, build in enumerate(args.builds):
            for name, v in variants(build, f, args.ops).items():
                if i > 0 and name.endswith("fp32"):
                    continue  # the fp32 forms are the same code in every build: timed once
                for t in args.threads:
                    todo.append((f"{name} [{'build' if i == 0 else 'other'}] {t}t", build, v, t))
        for rnd in range(args.rounds):
            for key, build, v, t in todo:
                results.setdefault(key, []).append(run(build, f, args.channels, args.size, v, t, args.repeat))
            load = os.getloadavg()[0]
            print(f"round {rnd + 1}/{args.rounds} done, load {load:.1f}", flush=True)
    print(f"\n{args.channels} channels, {args.size}x{args.size}, medians of {args.rounds} rounds "
          f"(each: min / median wall ms of {args.repeat} runs; CPU ms per run)")
    print(f"{'variant':40s} {'isa':12s} {'min ms':>8s} {'median ms':>10s} {'CPU ms':>8s}")
    summary = {}
    for key, rs in results.items():
        med = {k: statistics.median(r[k] for r in rs) for k in ("min_ms", "median_ms", "cpu_ms")}
        summary[key] = {**med, "rounds": rs}
        print(f"{key:40s} {rs[0]['isa']:12s} {med['min_ms']:8.2f} {med['median_ms']:10.2f} {med['cpu_ms']:8.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args) | {"builds": [str(b) for b in args.builds]},
                                               "results": summary}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
