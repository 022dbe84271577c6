"""Microbenchmark: the fused PUD kernel against the XNNPACK PUD, at HPUN-S's real shapes.

    .venv/bin/python native/kernels/bench_fused_pud.py [--reps 5] [--threads 1 2] [--network]

Builds the standalone kernels (out/build/hpun_kernels) if needed, then times, in ExecuTorch's
Python runtime with 1 and 2 threads, .pte files made with to_edge_transform_and_lower(XNNPACK):

* front   the PUD without its 1x1 conv (pixel_unshuffle -> max-pool -> grouped conv -> bilinear
          -> + x): all-XNNPACK vs the single hpun::fused_pud.out call.
* whole   the PUD block: all-XNNPACK, the pud_dilated rewrite (all-XNNPACK), the op followed by
          the 1x1 conv in an XNNPACK delegate (what apply_fused_pud exports), and hpun::fused_pud_pw
          (the 1x1 conv inside the kernel; channels-last).
* base    an XNNPACK x * 2 .pte: what a runtime call with this input and output costs by itself
          (copy in, one pass, clone out); subtract it from the rows above to compare compute.
* kernel  the C++ kernel alone through its test driver (no Python, no input copy).
* network (--network) the whole HPUN-S x2 on a 360x640 LR frame: original, apply_fused_pud exported
          with an NCHW input, and with a channels-last input (NHWC tensors at the delegate
          boundaries, the op's NHWC path), and the executorch-fused bench target's program (all the
          block kernels, after srdsc_fold).

"channels-last" rows export and run with a channels-last input tensor.

The weights are the shipped HPUN-S x2's first PUD (C = 64). Each figure is the minimum and median of
--reps runs after one warm-up; the runtime figures include the runtime copying the input into its
planned buffer and cloning the output (~60 MB each way at 360x640), the same for both paths. On a
shared or busy machine the numbers are approximate: compare rows measured in the same run.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from hpun_edge.converters.kernels import PY_MODULE, kernels_build_dir, kernels_source, load_kernels  # noqa: E402
from hpun_edge.fused import FusedPUD, apply_fused_pud, own_kernel_module  # noqa: E402

KERNELS_SOURCE = kernels_source()

SHAPES = {"frame 360x640": (1, 64, 360, 640), "tile 256": (1, 64, 256, 256)}


class XnnFront(nn.Module):
    def __init__(self, pud):
        super().__init__()
        self.grouped = pud.grouped

    def forward(self, x):
        y = F.max_pool2d(F.pixel_unshuffle(x, 2), kernel_size=3, stride=1, padding=1)
        return F.interpolate(self.grouped(y), scale_factor=2, mode="bilinear", align_corners=False) + x


class Scale(nn.Module):
    """I/O baseline: one elementwise pass in XNNPACK, plus whatever the runtime call itself costs."""

    def forward(self, x):
        return x * 2.0


class OpFront(nn.Module):
    def __init__(self, pud):
        super().__init__()
        self.grouped = pud.grouped

    def forward(self, x):
        return torch.ops.hpun.fused_pud(x, self.grouped.weight, self.grouped.bias)


class OpWhole(nn.Module):
    """The whole PUD, its 1x1 conv included, as one hpun::fused_pud_pw call (channels-last only)."""

    def __init__(self, pud):
        super().__init__()
        self.pud = pud

    def forward(self, x):
        g, p = self.pud.grouped, self.pud.pointwise
        return torch.ops.hpun.fused_pud_pw(x, g.weight, g.bias, p.weight, p.bias, False)


def build_kernels(build: Path) -> None:
    if (build / PY_MODULE).is_file() and (build / "hpun_fused_pud_driver").is_file():
        return
    for cmd in (["cmake", "-S", str(KERNELS_SOURCE), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                 f"-DHPUN_PYTHON={sys.executable}"], ["cmake", "--build", str(build), "-j2"]):
        subprocess.run(["nice", "-n", "10", *cmd], check=True, stdout=subprocess.DEVNULL)


def to_pte(module: nn.Module, x: torch.Tensor) -> bytes:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    exported = torch.export.export(module.eval(), (x,), strict=False)
    return to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()]).to_executorch().buffer


def time_pte(buffer: bytes, x: torch.Tensor, reps: int) -> tuple[float, float]:
    from executorch.runtime import Runtime

    method = Runtime.get().load_program(buffer).load_method("forward")
    method.execute([x])  # warm-up
    ms = []
    for _ in range(reps):
        t0 = time.perf_counter()
        method.execute([x])
        ms.append((time.perf_counter() - t0) * 1e3)
    return min(ms), statistics.median(ms)


def set_threads(n: int) -> None:
    from executorch.extension.pybindings import portable_lib

    portable_lib._unsafe_reset_threadpool(n)


def time_driver(build: Path, shape, pud, threads: int, reps: int, tmp: Path, nhwc: bool = False):
    n, c, h, w = shape
    files = [tmp / f for f in ("x.f32", "w.f32", "b.f32", "o.f32")]
    torch.rand(shape).numpy().tofile(files[0])
    pud.grouped.weight.detach().numpy().astype(np.float32).tofile(files[1])
    pud.grouped.bias.detach().numpy().astype(np.float32).tofile(files[2])
    cmd = [str(build / "hpun_fused_pud_driver"), *map(str, shape), *map(str, files), "--repeat", str(reps)]
    if threads == 1:
        cmd.append("--serial")
    if nhwc:
        cmd.append("--nhwc")
    r = subprocess.run(cmd, capture_output=True, text=True)
    fields = dict(kv.split("=") for kv in r.stdout.split())
    if threads != 1 and int(fields["threads"]) != threads:
        return None  # the driver's pool has the runtime's default size; report only matching rows
    return float(fields["min_ms"]), float(fields["median_ms"]), fields["isa"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--network", action="store_true", help="also time the whole HPUN-S x2 at 360x640")
    ap.add_argument("--build", type=Path, default=kernels_build_dir())
    ap.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    args = ap.parse_args()

    from hpun_edge.model import PUD
    from hpun_edge.zoo import create_model
    from hpun_edge.rewrites import RewrittenPUD

    build_kernels(args.build)
    load_kernels(args.build / PY_MODULE)
    model = create_model("hpun_s", 2, pretrained=True).eval()
    pud = next(m for m in model.modules() if isinstance(m, PUD))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for shape_name in args.shapes:
            shape = SHAPES[shape_name]
            x = torch.rand(shape)
            variants = {
                ("base", "I/O baseline: XNNPACK x * 2 (runtime call + 1 pass)"): Scale(),
                ("front", "XNNPACK (unshuffle, pool, grouped, bilinear, add)"): XnnFront(pud),
                ("front", "hpun::fused_pud.out"): OpFront(pud),
                ("whole", "XNNPACK PUD"): pud,
                ("whole", "XNNPACK pud_dilated rewrite"): RewrittenPUD(pud, dilated=True, deconv=False),
                ("whole", "fused_pud.out + XNNPACK 1x1"): FusedPUD(pud),
            }
            xcl = x.to(memory_format=torch.channels_last)
            ptes = {k: (to_pte(m, x), x) for k, m in variants.items()}
            ptes[("front", "hpun::fused_pud.out, channels-last")] = (to_pte(OpFront(pud), xcl), xcl)
            ptes[("whole", "fused_pud.out + XNNPACK 1x1, channels-last")] = (to_pte(FusedPUD(pud), xcl), xcl)
            ptes[("whole", "hpun::fused_pud_pw.out (1x1 inside), channels-last")] = (to_pte(OpWhole(pud), xcl), xcl)
            for threads in args.threads:
                set_threads(threads)
                for (part, name), (buf, xin) in ptes.items():
                    rows.append((shape_name, part, name, threads, *time_pte(buf, xin, args.reps)))
                for nhwc in (False, True):
                    d = time_driver(args.build, shape, pud, threads, args.reps, Path(tmp), nhwc)
                    if d:
                        layout = "NHWC" if nhwc else "NCHW"
                        rows.append((shape_name, "kernel", f"C++ kernel alone (driver, {d[2]}, {layout})",
                                     threads, d[0], d[1]))
            del ptes
        if args.network:
            x = torch.rand(1, 3, 360, 640)
            xcl = x.to(memory_format=torch.channels_last)
            fused = apply_fused_pud(model)
            nets = {"HPUN-S x2 all-XNNPACK (NCHW)": (model, x),
                    "HPUN-S x2 apply_fused_pud (NCHW)": (fused, x),
                    "HPUN-S x2 apply_fused_pud (channels-last)": (fused, xcl),
                    "HPUN-S x2 block kernels (own_kernel_module)": (own_kernel_module(model).model, xcl)}
            ptes = {k: (to_pte(_EvenForward(m), xin), xin) for k, (m, xin) in nets.items()}
            for threads in args.threads:
                set_threads(threads)
                for name, (buf, xin) in ptes.items():
                    rows.append(("frame 360x640", "network", name, threads,
                                 *time_pte(buf, xin, max(2, args.reps // 2))))

    print(f"\nfused PUD microbenchmark (C=64, fp32; min / median of {args.reps} runs; "
          f"{os.cpu_count()} CPUs, shared: approximate)\n")
    head = f"{'shape':<14} {'part':<8} {'path':<52} {'thr':>3} {'min ms':>9} {'median ms':>10}"
    print(head)
    print("-" * len(head))
    for shape_name, part, name, threads, lo, med in rows:
        print(f"{shape_name:<14} {part:<8} {name:<52} {threads:>3} {lo:>9.1f} {med:>10.1f}")


class _EvenForward(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.forward_even(x)


if __name__ == "__main__":
    main()
