"""Time and peak memory of `upscale_file` on one synthetic photo (default 4000x3000, 12 MP), each run
in a fresh subprocess so that its peak RSS (VmHWM of /proc/self/status) is that run's alone.

    PYTHONPATH=. python scripts/bench_photo.py --forward model --model hpun_s --scale 2 \\
        --tile 256 --overlap 16 --threads 2 [--json out.json]
    PYTHONPATH=. python scripts/bench_photo.py --model out/artifacts/hpun_s_x2_executorch-fused_fp32.pte

The photo is a JPEG (quality 90) of smooth gradients, stripes and noise, made before the measured
run; the run reads it, upscales it band by band and writes the PNG atomically. `--forward bicubic`
replaces the network by torch bicubic: what reading, tiling, quantising and PNG encoding cost.
`cpu_seconds` (user + system) and the load average at the end say how much the run had the machine
to itself. Prints one table row per run; `benchmarks/test_bench_photo.py` calls `measure`.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
LIMIT_BYTES = 2 * 1024**3  # issue 22: a 12 MP photo at x2 within 2 GB


def synthetic_photo(path: Path, width: int, height: int) -> None:
    """A photo-like JPEG: low-frequency colour gradients, a few textures and sensor-like noise."""
    from PIL import Image

    rng = np.random.default_rng(0)
    img = np.empty((height, width, 3), np.uint8)
    x = np.arange(width, dtype=np.float32)
    for y0 in range(0, height, 500):  # band by band, to keep this process small too
        y = np.arange(y0, min(height, y0 + 500), dtype=np.float32)[:, None]
        for c in range(3):
            v = (128 + 70 * np.sin(x / 310 + 2 * c) * np.cos(y / 270 - c) + 25 * np.sin((x + 2 * y) / (17 + 6 * c))
                 + rng.normal(0, 5, (len(y), width)))
            img[y0 : y0 + len(y), :, c] = np.clip(v, 0, 255)
    Image.fromarray(img).save(path, quality=90)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(args: argparse.Namespace) -> dict:
    """The measured run: set up the forward, then one upscale_file; returns the figures."""
    import torch
    import torch.nn.functional as F

    from hpun_edge.app.resolve import resolve_network
    from hpun_edge.inference import InferenceOptions
    from hpun_edge.upscaler import upscale_file

    torch.set_num_threads(args.threads)
    if args.forward == "model":  # a model name, a .safetensors file or an artifact (as `hpun-edge upscale --model`)
        network = resolve_network(args.model, args.scale, args.threads)
        forward = network.forward
        opts = network.options(None if network.fixed_tile else args.tile, args.overlap, args.self_ensemble)
    else:
        forward = lambda t: F.interpolate(t, scale_factor=args.scale, mode="bicubic", align_corners=False)  # noqa: E731
        opts = InferenceOptions(args.tile, args.overlap, args.self_ensemble)
    rss_setup = _status_kib("VmRSS")
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    result = upscale_file(forward, args.src, args.dst, args.scale, opts)
    wall, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    return {
        "forward": args.forward if args.forward == "bicubic" else f"{Path(args.model).name} x{args.scale}",
        "in_size": list(result.in_size), "out_size": list(result.out_size), "tile": opts.tile,
        "overlap": args.overlap, "threads": args.threads, "self_ensemble": args.self_ensemble,
        "tiles": result.tiles, "seconds": round(wall, 2), "cpu_seconds": round(cpu, 1),
        "load_avg_1min": round(os.getloadavg()[0], 1),
        "rss_after_setup_mib": round(rss_setup / 1024, 1), "peak_rss_mib": round(_status_kib("VmHWM") / 1024, 1),
        "png_mib": round(Path(args.dst).stat().st_size / 2**20, 1), "torch": torch.__version__,
    }


def measure(forward: str = "model", model: str = "hpun_s", scale: int = 2, size: tuple[int, int] = (4000, 3000),
            tile: int = 256, overlap: int = 16, threads: int = 2, self_ensemble: bool = False) -> dict:
    """Make the photo, run `child` in a fresh interpreter, return its figures (dict)."""
    with tempfile.TemporaryDirectory(prefix="bench_photo_") as tmp:
        src, dst = Path(tmp) / "photo.jpg", Path(tmp) / "upscaled.png"
        synthetic_photo(src, *size)
        cmd = [sys.executable, __file__, "--child", str(src), str(dst), "--forward", forward, "--model", model,
               "--scale", str(scale), "--tile", str(tile), "--overlap", str(overlap), "--threads", str(threads)]
        cmd += ["--self-ensemble"] if self_ensemble else []
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if out.returncode != 0:
            raise RuntimeError(f"bench child failed:\n{out.stderr[-3000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])


COLUMNS = ("forward", "in_size", "tile", "overlap", "threads", "tiles", "seconds", "cpu_seconds", "load_avg_1min",
           "rss_after_setup_mib", "peak_rss_mib", "png_mib")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--forward", choices=["model", "bicubic"], default="model")
    p.add_argument("--model", default="hpun_s", help="a model name, weights (.safetensors) or an artifact "
                   "(.pte/.tflite/.onnx, run in its own runtime at its own tile)")
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--size", default="4000x3000", help="WIDTHxHEIGHT")
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--overlap", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--self-ensemble", action="store_true")
    p.add_argument("--json", type=Path, help="append the figures as a JSON line")
    p.add_argument("--child", nargs=2, metavar=("SRC", "DST"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        args.src, args.dst = args.child
        print(json.dumps(child(args)))
        return 0
    w, h = (int(v) for v in args.size.lower().split("x"))
    row = measure(args.forward, args.model, args.scale, (w, h), args.tile, args.overlap, args.threads,
                  args.self_ensemble)
    print(" | ".join(COLUMNS))
    print(" | ".join(str(row[c]) for c in COLUMNS))
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(row) + "\n")
    return 0 if row["peak_rss_mib"] * 2**20 < LIMIT_BYTES else 1


if __name__ == "__main__":
    sys.exit(main())
