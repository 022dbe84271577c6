"""The project's own ExecuTorch op ``hpun::fused_pud`` (issue 7): C++ kernel, torch.library op, export.

* The C++ kernel (native/kernels), built here with CMake against the ExecuTorch wheel and run through
  its test driver (which calls the op through ExecuTorch's operator registry, as a .pte does),
  equals the PyTorch PUD composite within 1e-5 on random inputs (every x86 code path: AVX-512,
  AVX2, SSE2) and on the features the shipped HPUN-S weights produce from a real image.
* ``hpun::fused_pud_pw(_add)`` (the PUD with its 1x1 conv, then relu or + residual; NHWC) likewise,
  within float rounding relative to the output's size.
* The rewrite ``apply_fused_pud`` (with and without ``pointwise``) leaves the model's function
  unchanged in eager PyTorch.
* A .pte exported with XNNPACK from the rewritten model calls ``hpun::fused_pud.out`` once per PUD,
  with every other op delegated, and (with the kernel loaded into this process) runs and matches;
  both NCHW and channels-last (``ChannelsLastIO``: NHWC inside, NCHW input and output), and the
  kernel's NCHW and NHWC paths each equal the reference.

Without cmake or a C++ compiler the native tests skip with the reason, except under CI=true,
where that is a failure (the `kernels_build` fixture, tests/conftest.py).
"""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hpun_edge.converters.kernels import PY_MODULE, load_kernels
from hpun_edge.fused import ChannelsLastHPUN, ChannelsLastIO, FusedFront, FusedPUB, FusedPUD, apply_fused_pud
from hpun_edge.model import PUD
from hpun_edge.ops import (
    OP_TABLE,
    RUNTIME_OPS,
    dw_pw_add_reference,
    fused_pub_reference,
    fused_pud_pw_reference,
    fused_pud_reference,
    pw_relu_pud_pw_add_reference,
    pw_relu_reference,
)

RUNTIME_OP = OP_TABLE["fused_pud"].runtime_name


def count_fused_pud_calls(program) -> int:
    """Calls of hpun::fused_pud(_pw, _pw_add) in an ExecutorchProgramManager's (or edge manager's) graph."""
    gm = program.exported_program().graph_module
    return sum(node.op == "call_function" and "fused_pud" in str(node.target) for node in gm.graph.nodes)

REPO = Path(__file__).resolve().parent.parent
TOL = 1e-5


def pud_composite(pud: PUD, x: torch.Tensor) -> torch.Tensor:
    """The original PUD without its 1x1 conv, written out independently of hpun_edge.ops."""
    import torch.nn.functional as F

    y = F.max_pool2d(F.pixel_unshuffle(x, 2), kernel_size=3, stride=1, padding=1)
    y = F.interpolate(pud.grouped(y), scale_factor=2, mode="bilinear", align_corners=False)
    return y + x


def run_driver(build: Path, tmp: Path, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor,
               *flags: str, env: dict | None = None) -> tuple[torch.Tensor, str]:
    """Run the driver on NCHW x (written NHWC when --nhwc is among flags); returns NCHW out."""
    n, c, h, wd = x.shape
    nhwc = "--nhwc" in flags
    paths = {k: tmp / f"{k}.f32" for k in ("x", "w", "b", "out")}
    for k, t in (("x", x.permute(0, 2, 3, 1) if nhwc else x), ("w", w), ("b", b)):
        t.detach().contiguous().numpy().astype(np.float32).tofile(paths[k])
    cmd = [str(build / "hpun_fused_pud_driver"), str(n), str(c), str(h), str(wd),
           *(str(paths[k]) for k in ("x", "w", "b", "out")), *flags]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    assert r.returncode == 0, f"driver failed ({r.returncode}): {r.stdout}\n{r.stderr[-2000:]}"
    out = np.fromfile(paths["out"], dtype=np.float32)
    if nhwc:
        return torch.from_numpy(out.reshape(n, h, wd, c)).permute(0, 3, 1, 2), r.stdout.strip()
    return torch.from_numpy(out.reshape(x.shape)), r.stdout.strip()


def write_f32(directory: Path, name: str, t: torch.Tensor) -> str:
    """t as raw float32 in directory/name.f32 (the driver's input format); returns the path."""
    path = directory / f"{name}.f32"
    t.contiguous().numpy().astype(np.float32).tofile(path)
    return str(path)


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def isa_env(isa: str) -> dict:
    """The driver's environment for one ISA case. HPUN_KERNELS_ISA only caps the choice, so on a CPU
    without that ISA the kernels would run a narrower path: such a case skips, with the reason, rather
    than passing for code it did not run (the driver's isa= line is checked by `check_isa`)."""
    if isa == "native":
        return {}
    need = {"avx512f": {"avx512f", "avx512vl"}, "avx2": {"avx2", "fma"}, "sse2": set()}[isa]
    flags = cpu_flags()
    if flags and not need <= flags:
        pytest.skip(f"this CPU lacks {', '.join(sorted(need - flags))}: the {isa} path cannot run here")
    return {"HPUN_KERNELS_ISA": isa}


def check_isa(isa: str, info: str) -> None:
    assert isa == "native" or f"isa={isa}" in info, f"asked for the {isa} path, the driver ran: {info}"


ISAS = ("avx512f", "avx2", "sse2") if platform.machine() in ("x86_64", "AMD64") else ("native",)


# --- the C++ kernel -----------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ("nchw", "nhwc"))
@pytest.mark.parametrize("isa", ISAS)
def test_kernel_equals_reference_random(kernels_build, tmp_path, isa, layout):
    gen = torch.Generator().manual_seed(7)
    env = isa_env(isa)
    layout_flags = ("--nhwc",) if layout == "nhwc" else ()
    # Smallest plane (2x2: every pixel is a border pixel), odd half-sizes, N > 1, widths and channel
    # counts that are not a multiple of any vector length, one tall-thin / short-wide plane each, and
    # one tall enough for the NHWC path to split it into row bands (with halos) across threads, and
    # C = 64 (the AVX-512 build's own pooling and grouped-conv code) with an odd half-width.
    for shape in ((1, 3, 2, 2), (2, 5, 6, 10), (1, 4, 18, 34), (3, 2, 2, 70), (1, 2, 66, 4), (1, 8, 40, 38),
                  (1, 17, 264, 12), (1, 64, 12, 22)):
        c = shape[1]
        x = torch.rand(shape, generator=gen)
        w = torch.randn(c, 4, 3, 3, generator=gen) * 0.3
        b = torch.randn(c, generator=gen) * 0.1
        want = fused_pud_reference(x, w, b)
        for flags in ((), ("--serial",), ("--direct",)):
            got, info = run_driver(kernels_build, tmp_path, x, w, b, *flags, *layout_flags, env=env)
            check_isa(isa, info)
            err = (got - want).abs().max().item()
            assert err <= TOL, f"{shape} {flags} {info}: max abs error {err}"


@pytest.mark.parametrize("isa", ISAS)
def test_pw_kernel_equals_reference_random(kernels_build, tmp_path, isa):
    """hpun::fused_pud_pw / _pw_add through the registry on the thread pool and the direct entry point:
    C = 64 and 128 take the register-blocked 1x1 conv (4 pixels x 64 channels in the AVX-512 build),
    C = 5 the plain loops; 2x2 images, widths that are not a multiple of 4 pixels, and a tall one
    that is split into row bands. The 1x1 conv sums C products in another order than PyTorch, so
    the bound is relative to the output's size."""
    gen = torch.Generator().manual_seed(13)
    env = isa_env(isa)
    for shape in ((1, 64, 2, 2), (2, 64, 6, 14), (1, 5, 6, 10), (1, 128, 10, 22), (1, 64, 136, 18)):
        n, c, h, wd = shape
        x = torch.rand(shape, generator=gen)
        w = torch.randn(c, 4, 3, 3, generator=gen) * 0.3
        b = torch.randn(c, generator=gen) * 0.1
        pw_w = torch.randn(c, c, 1, 1, generator=gen) / c ** 0.5
        pw_b = torch.randn(c, generator=gen) * 0.1
        res = torch.rand(shape, generator=gen)
        paths = {k: tmp_path / f"{k}.f32" for k in ("pw", "pb", "res")}
        pw_w.numpy().tofile(paths["pw"])
        pw_b.numpy().tofile(paths["pb"])
        res.permute(0, 2, 3, 1).contiguous().numpy().tofile(paths["res"])
        for relu, residual in ((False, False), (True, False), (False, True)):
            want = fused_pud_pw_reference(x, w, b, pw_w, pw_b, relu=relu, residual=res if residual else None)
            epi = ["--pw", str(paths["pw"]), str(paths["pb"])] + (["--relu"] if relu else []) + \
                (["--residual", str(paths["res"])] if residual else [])
            for flags in ((), ("--direct",)):  # row bands on the pool; the whole image in one band
                got, info = run_driver(kernels_build, tmp_path, x, w, b, "--nhwc", *epi, *flags, env=env)
                check_isa(isa, info)
                err = (got - want).abs().max().item()
                bound = 1e-6 * max(1.0, want.abs().max().item())
                assert err <= bound, f"{shape} relu={relu} residual={residual} {flags} {info}: max abs error {err}"


@pytest.mark.parametrize("isa", ISAS)
def test_block_tail_kernels_equal_reference(kernels_build, tmp_path, isa):
    """The building blocks dw_pw_add (residual + 1x1(depthwise k x k)) and pw_relu (relu(1x1)), no
    longer registered ops: the driver calls their row functions on row bands, serial and on the
    thread pool: k = 5 with C a multiple of 16 takes the four-pixel vector loop (images narrower than
    its window, 2x2, included), k = 3 and C = 5 the plain loops."""
    gen = torch.Generator().manual_seed(5)
    env = isa_env(isa)

    def f32(name, t):
        return write_f32(tmp_path, name, t)

    for shape in ((1, 64, 2, 2), (1, 64, 5, 7), (2, 64, 9, 14), (1, 5, 6, 10), (1, 32, 11, 13), (1, 64, 70, 30)):
        n, c, h, wd = shape
        x, res = torch.rand(shape, generator=gen), torch.rand(shape, generator=gen)
        pw_w, pw_b = torch.randn(c, c, 1, 1, generator=gen) / c ** 0.5, torch.randn(c, generator=gen) * 0.1
        k = 3 if c == 5 else 5
        dw_w, dw_b = torch.randn(c, 1, k, k, generator=gen) * 0.2, torch.randn(c, generator=gen) * 0.1
        cases = (
            ("dw_pw_add", dw_w, dw_b, dw_pw_add_reference(x, dw_w, dw_b, pw_w, pw_b, res),
             ["--op", "dw_pw_add", "--k", str(k), "--pw", f32("pw", pw_w), f32("pb", pw_b),
              "--residual", f32("res", res.permute(0, 2, 3, 1))]),
            ("pw_relu", pw_w, pw_b, pw_relu_reference(x, pw_w, pw_b), ["--op", "pw_relu"]),
        )
        for op, w, b, want, extra in cases:
            for flags in ((), ("--serial",)):
                got, info = run_driver(kernels_build, tmp_path, x, w, b, "--nhwc", *extra, *flags, env=env)
                check_isa(isa, info)
                err = (got - want).abs().max().item()
                assert err <= 1e-6 * max(1.0, want.abs().max().item()), f"{op} {shape} {flags} {info}: {err}"


@pytest.mark.parametrize("isa", ISAS)
def test_front_block_kernel_equals_reference(kernels_build, tmp_path, isa):
    """hpun::pw_relu_pud_pw_add (HPUN-S's whole front block: x + 1x1(PUD(relu(1x1(x))))) through the
    registry on the thread pool, serially, and the direct entry point: 2x2 images (the first 1x1
    conv's ring then holds every row), widths that are not a multiple of the pixel block, C = 64
    (register-blocked 1x1 convs) and C = 5 (plain loops), and a tall image split into row bands, whose
    halos recompute the ring's rows."""
    gen = torch.Generator().manual_seed(17)
    env = isa_env(isa)

    def f32(name, t):
        return write_f32(tmp_path, name, t)

    for shape in ((1, 64, 2, 2), (2, 64, 6, 14), (1, 5, 6, 10), (1, 64, 136, 18), (1, 64, 20, 46)):
        n, c, h, wd = shape
        x = torch.rand(shape, generator=gen)
        w, b = torch.randn(c, 4, 3, 3, generator=gen) * 0.3, torch.randn(c, generator=gen) * 0.1
        x_w, x_b = torch.randn(c, c, 1, 1, generator=gen) / c ** 0.5, torch.randn(c, generator=gen) * 0.1
        pw_w, pw_b = torch.randn(c, c, 1, 1, generator=gen) / c ** 0.5, torch.randn(c, generator=gen) * 0.1
        want = pw_relu_pud_pw_add_reference(x, x_w, x_b, w, b, pw_w, pw_b)
        extra = ["--op", "pw_relu_pud_pw_add", "--pre", f32("xw", x_w), f32("xb", x_b),
                 "--pw", f32("pw", pw_w), f32("pb", pw_b)]
        for flags in ((), ("--serial",), ("--direct",)):
            got, info = run_driver(kernels_build, tmp_path, x, w, b, "--nhwc", *extra, *flags, env=env)
            check_isa(isa, info)
            err = (got - want).abs().max().item()
            assert err <= 1e-6 * max(1.0, want.abs().max().item()), f"{shape} {flags} {info}: max abs error {err}"


@pytest.mark.parametrize("isa", ISAS)
def test_pub_kernel_equals_reference(kernels_build, tmp_path, isa):
    """hpun::fused_pub (a whole PUB with a folded SRDSC(5): the PUD's 1x1 output rows go through a
    ring of six that the 5x5 depthwise conv reads) through the registry on the thread pool, serially,
    and the direct entry point: 2x2 and 4-row images (every ring row a border row), heights whose
    output rows do not pair up, widths that are not a multiple of the pixel blocks, C = 64 (the
    AVX-512 build's two-row depthwise code) and C = 5 / 32 (the plain and vector loops), and tall
    images split into row bands, each recomputing one PUD half row beyond its ends."""
    gen = torch.Generator().manual_seed(23)
    env = isa_env(isa)

    def f32(name, t):
        return write_f32(tmp_path, name, t)

    for shape in ((1, 64, 2, 2), (1, 64, 4, 6), (2, 64, 6, 14), (1, 5, 6, 10), (1, 32, 10, 12),
                  (1, 64, 138, 22), (1, 64, 20, 46)):
        n, c, h, wd = shape
        x = torch.rand(shape, generator=gen)
        w, b = torch.randn(c, 4, 3, 3, generator=gen) * 0.3, torch.randn(c, generator=gen) * 0.1
        pw_w, pw_b = torch.randn(c, c, 1, 1, generator=gen) / c ** 0.5, torch.randn(c, generator=gen) * 0.1
        dw_w, dw_b = torch.randn(c, 1, 5, 5, generator=gen) * 0.2, torch.randn(c, generator=gen) * 0.1
        pw2_w, pw2_b = torch.randn(c, c, 1, 1, generator=gen) / c ** 0.5, torch.randn(c, generator=gen) * 0.1
        want = fused_pub_reference(x, w, b, pw_w, pw_b, dw_w, dw_b, pw2_w, pw2_b)
        extra = ["--op", "fused_pub", "--pw", f32("pw", pw_w), f32("pb", pw_b),
                 "--post", f32("dw", dw_w), f32("db", dw_b), f32("pw2", pw2_w), f32("pb2", pw2_b)]
        for flags in ((), ("--serial",), ("--direct",)):
            got, info = run_driver(kernels_build, tmp_path, x, w, b, "--nhwc", *extra, *flags, env=env)
            check_isa(isa, info)
            err = (got - want).abs().max().item()
            assert err <= 1e-6 * max(1.0, want.abs().max().item()), f"{shape} {flags} {info}: max abs error {err}"


def test_pw_kernel_rejects_nchw(kernels_build, tmp_path):
    x = torch.rand(1, 4, 6, 6)
    for name, t in (("pw", torch.zeros(4, 4, 1, 1)), ("pb", torch.zeros(4))):
        t.numpy().tofile(tmp_path / f"{name}.f32")
    paths = [tmp_path / n for n in ("x.f32", "w.f32", "b.f32", "o.f32")]
    x.numpy().tofile(paths[0])
    torch.zeros(4, 4, 3, 3).numpy().tofile(paths[1])
    torch.zeros(4).numpy().tofile(paths[2])
    r = subprocess.run([str(kernels_build / "hpun_fused_pud_driver"), "1", "4", "6", "6", *map(str, paths),
                        "--pw", str(tmp_path / "pw.f32"), str(tmp_path / "pb.f32")], capture_output=True, text=True)
    assert r.returncode == 4 and "channels-last" in r.stderr, (r.returncode, r.stderr[-1000:])


def test_depthwise_kernel_rejects_k_beyond_its_limit(kernels_build, tmp_path):
    """k = 17 exceeds kMaxDepthwiseK (the kernels' fixed array of input-row pointers): both drivers
    refuse the option, the ExecuTorch one with a message naming the limit."""
    c, k = 2, 17
    x = torch.rand(1, c, 6, 6)
    extra = ["--op", "dw_pw_add", "--k", str(k), "--pw", write_f32(tmp_path, "pw", torch.zeros(c, c, 1, 1)),
             write_f32(tmp_path, "pb", torch.zeros(c)), "--residual", write_f32(tmp_path, "res", x.permute(0, 2, 3, 1))]
    files = [write_f32(tmp_path, "x", x.permute(0, 2, 3, 1)), write_f32(tmp_path, "w", torch.zeros(c, 1, k, k)),
             write_f32(tmp_path, "b", torch.zeros(c)), str(tmp_path / "o.f32")]
    r = subprocess.run([str(kernels_build / "hpun_fused_pud_driver"), "1", str(c), "6", "6", *files, "--nhwc", *extra],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "at most 15" in r.stderr, (r.returncode, r.stderr[-1000:])
    r = subprocess.run([str(kernels_build / "hpun_fused_pud_plain"), "1", str(c), "6", "6", *files, "--nhwc", *extra],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "bad sizes or options" in r.stderr, (r.returncode, r.stderr[-1000:])


@pytest.fixture(scope="session")
def real_features() -> list[tuple[PUD, torch.Tensor]]:
    """(PUD, its input) for the first and the last PUD of the shipped HPUN-S x2 on a real image."""
    from hpun_edge.zoo import create_model

    model = create_model("hpun_s", 2, pretrained=True).eval()
    image = None
    for root in (os.environ.get("HPUN_EDGE_DATA"), REPO / "data", REPO.parent / "shared" / "datasets"):
        if root and (Path(root) / "Set5" / "HR" / "butterfly.png").is_file():
            from hpun_edge.data import read_image

            image = torch.from_numpy(read_image(Path(root) / "Set5" / "HR" / "butterfly.png")).float() / 255
            image = image.permute(2, 0, 1)[None, :3, :64, :96].contiguous()
            break
    if image is None:  # no data here: a deterministic image with edges, gradients and texture
        yy, xx = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 96), indexing="ij")
        image = torch.stack([(xx + yy) / 2, ((xx * 13).sin() * (yy * 7).cos() + 1) / 2,
                             ((xx > 0.4) & (yy < 0.6)).float()])[None]
    puds = [m for m in model.modules() if isinstance(m, PUD)]
    captured: list[tuple[PUD, torch.Tensor]] = []
    hooks = [p.register_forward_pre_hook(lambda mod, args: captured.append((mod, args[0].detach().clone())))
             for p in (puds[0], puds[-1])]
    with torch.no_grad():
        model.forward_even(image)
    for h in hooks:
        h.remove()
    assert len(captured) == 2
    return captured


@pytest.mark.parametrize("layout", ("nchw", "nhwc"))
def test_kernel_equals_pud_on_real_features(kernels_build, tmp_path, real_features, layout):
    for pud, x in real_features:
        with torch.no_grad():
            want = pud_composite(pud, x)
        flags = ("--nhwc",) if layout == "nhwc" else ()
        got, info = run_driver(kernels_build, tmp_path, x, pud.grouped.weight, pud.grouped.bias, *flags)
        err = (got - want).abs().max().item()
        assert err <= TOL, f"{info}: max abs error {err} on features of shape {tuple(x.shape)}"


def test_kernel_rejects_odd_sizes(kernels_build, tmp_path):
    x = torch.rand(1, 2, 5, 6)
    paths = [tmp_path / n for n in ("x.f32", "w.f32", "b.f32", "o.f32")]
    x.numpy().tofile(paths[0])
    torch.zeros(2, 4, 3, 3).numpy().tofile(paths[1])
    torch.zeros(2).numpy().tofile(paths[2])
    r = subprocess.run([str(kernels_build / "hpun_fused_pud_driver"), "1", "2", "5", "6", *map(str, paths)],
                       capture_output=True, text=True)
    assert r.returncode == 4, (r.returncode, r.stderr[-1000:])  # the kernel reports failure


def test_kernel_aarch64_neon_under_qemu(kernels_build_aarch64, tmp_path):
    """The AArch64 build (NEON is its baseline) of the plain kernel, run with qemu-user."""
    qemu = shutil.which("qemu-aarch64")
    exe = kernels_build_aarch64 / "hpun_fused_pud_plain"
    gen = torch.Generator().manual_seed(11)
    for shape in ((1, 3, 2, 2), (2, 5, 10, 14), (1, 17, 36, 38)):
        n, c, h, wd = shape
        x = torch.rand(shape, generator=gen)
        w = torch.randn(c, 4, 3, 3, generator=gen) * 0.3
        b = torch.randn(c, generator=gen) * 0.1
        want = fused_pud_reference(x, w, b)
        for nhwc in (False, True):
            files = [tmp_path / f for f in ("x.f32", "w.f32", "b.f32", "o.f32")]
            (x.permute(0, 2, 3, 1) if nhwc else x).contiguous().numpy().tofile(files[0])
            w.numpy().tofile(files[1])
            b.numpy().tofile(files[2])
            r = subprocess.run([qemu, str(exe), *map(str, shape), *map(str, files), *(["--nhwc"] if nhwc else [])],
                               capture_output=True, text=True)
            assert r.returncode == 0 and "isa=neon" in r.stdout, (r.stdout, r.stderr[-1000:])
            got = torch.from_numpy(np.fromfile(files[3], dtype=np.float32))
            got = got.reshape(n, h, wd, c).permute(0, 3, 1, 2) if nhwc else got.reshape(shape)
            err = (got - want).abs().max().item()
            assert err <= TOL, f"{shape} nhwc={nhwc}: max abs error {err}"
    # the block kernels' NEON code (C = 64: the vector paths; C = 5: the plain loops)
    for shape in ((1, 64, 6, 14), (2, 5, 6, 10)):
        n, c, h, wd = shape
        x, res = torch.rand(shape, generator=gen), torch.rand(shape, generator=gen)
        w, b = torch.randn(c, 4, 3, 3, generator=gen) * 0.3, torch.randn(c, generator=gen) * 0.1
        pw_w, pw_b = torch.randn(c, c, 1, 1, generator=gen) / c ** 0.5, torch.randn(c, generator=gen) * 0.1
        dw_w = torch.randn(c, 1, 5, 5, generator=gen) * 0.2
        files = {k: tmp_path / f"{k}.f32" for k in ("x", "w", "b", "o", "pw", "pb", "r", "dw")}
        for k, t in (("x", x.permute(0, 2, 3, 1)), ("w", w), ("b", b), ("pw", pw_w), ("pb", pw_b),
                     ("r", res.permute(0, 2, 3, 1)), ("dw", dw_w)):
            t.contiguous().numpy().tofile(files[k])
        pw = ["--pw", str(files["pw"]), str(files["pb"])]
        cases = (
            ("w", "b", pw + ["--relu"], fused_pud_pw_reference(x, w, b, pw_w, pw_b, relu=True)),
            ("w", "b", pw + ["--residual", str(files["r"])], fused_pud_pw_reference(x, w, b, pw_w, pw_b, residual=res)),
            ("dw", "b", ["--op", "dw_pw_add", "--k", "5", *pw, "--residual", str(files["r"])],
             dw_pw_add_reference(x, dw_w, b, pw_w, pw_b, res)),
            ("pw", "pb", ["--op", "pw_relu"], pw_relu_reference(x, pw_w, pw_b)),
            ("w", "b", ["--op", "pw_relu_pud_pw_add", "--pre", str(files["pw"]), str(files["pb"]), *pw],
             pw_relu_pud_pw_add_reference(x, pw_w, pw_b, w, b, pw_w, pw_b)),
            ("w", "b", ["--op", "fused_pub", *pw, "--post", str(files["dw"]), str(files["b"]), str(files["pw"]),
                        str(files["pb"])],
             fused_pub_reference(x, w, b, pw_w, pw_b, dw_w, b, pw_w, pw_b)),
        )
        for wf, bf, extra, want in cases:
            r = subprocess.run([qemu, str(exe), *map(str, shape), str(files["x"]), str(files[wf]), str(files[bf]),
                                str(files["o"]), "--nhwc", *extra], capture_output=True, text=True)
            assert r.returncode == 0 and "isa=neon" in r.stdout, (extra, r.stdout, r.stderr[-1000:])
            got = torch.from_numpy(np.fromfile(files["o"], dtype=np.float32)).reshape(n, h, wd, c).permute(0, 3, 1, 2)
            err = (got - want).abs().max().item()
            assert err <= 1e-6 * max(1.0, want.abs().max().item()), f"{shape} {extra[:2]}: max abs error {err}"


# --- the torch.library op and the rewrite --------------------------------------------------------

def test_op_schema_and_reference():
    schemas = {str(torch.ops.hpun.fused_pud.default._schema), str(torch.ops.hpun.fused_pud.out._schema)}
    assert schemas == {
        "hpun::fused_pud(Tensor x, Tensor w, Tensor b) -> Tensor",
        "hpun::fused_pud.out(Tensor x, Tensor w, Tensor b, *, Tensor(a!) out) -> Tensor(a!)",
    }
    assert RUNTIME_OP == "hpun::fused_pud.out"
    torch.manual_seed(0)
    pud = PUD(6).eval()
    x = torch.rand(2, 6, 10, 14)
    with torch.no_grad():
        want = pud_composite(pud, x)
        got = torch.ops.hpun.fused_pud(x, pud.grouped.weight, pud.grouped.bias)
        out = torch.empty(0)
        torch.ops.hpun.fused_pud.out(x, pud.grouped.weight, pud.grouped.bias, out=out)
    assert torch.equal(got, want) and torch.equal(out, want)


def test_op_keeps_the_input_layout():
    torch.manual_seed(2)
    pud = PUD(5).eval()
    x = torch.rand(1, 5, 8, 10)
    xcl = x.to(memory_format=torch.channels_last)
    with torch.no_grad():
        got = torch.ops.hpun.fused_pud(xcl, pud.grouped.weight, pud.grouped.bias)
        assert got.is_contiguous(memory_format=torch.channels_last) and not got.is_contiguous()
        assert torch.allclose(got, pud_composite(pud, x), atol=1e-6, rtol=0)
        from torch._subclasses.fake_tensor import FakeTensorMode

        with FakeTensorMode() as mode:
            fake = torch.ops.hpun.fused_pud(mode.from_tensor(xcl), mode.from_tensor(pud.grouped.weight),
                                            mode.from_tensor(pud.grouped.bias))
        assert fake.stride() == xcl.stride()


def test_pw_op_schemas_reference_and_layout():
    assert RUNTIME_OPS == ("hpun::fused_pud.out", "hpun::fused_pud_pw.out", "hpun::fused_pud_pw_add.out",
                           "hpun::pw_relu_pud_pw_add.out", "hpun::fused_pub.out", "hpun::fused_pud_pw_add_q8.out",
                           "hpun::pw_relu_pud_pw_add_q8.out", "hpun::fused_pub_q8.out",
                           "hpun::pw_relu_pud_pw_add_q8x2.out", "hpun::fused_pub_q8x2.out")
    assert str(torch.ops.hpun.fused_pub.out._schema) == (
        "hpun::fused_pub.out(Tensor x, Tensor w, Tensor b, Tensor pw_w, Tensor pw_b, Tensor dw_w, Tensor dw_b, "
        "Tensor pw2_w, Tensor pw2_b, *, Tensor(a!) out) -> Tensor(a!)")
    assert str(torch.ops.hpun.pw_relu_pud_pw_add.out._schema) == (
        "hpun::pw_relu_pud_pw_add.out(Tensor x, Tensor x_w, Tensor x_b, Tensor w, Tensor b, Tensor pw_w, "
        "Tensor pw_b, *, Tensor(a!) out) -> Tensor(a!)")
    assert str(torch.ops.hpun.fused_pud_pw.out._schema) == (
        "hpun::fused_pud_pw.out(Tensor x, Tensor w, Tensor b, Tensor pw_w, Tensor pw_b, bool relu, *, "
        "Tensor(a!) out) -> Tensor(a!)")
    assert str(torch.ops.hpun.fused_pud_pw_add.out._schema) == (
        "hpun::fused_pud_pw_add.out(Tensor x, Tensor w, Tensor b, Tensor pw_w, Tensor pw_b, Tensor residual, *, "
        "Tensor(a!) out) -> Tensor(a!)")
    torch.manual_seed(6)
    pud = PUD(6).eval()
    x = torch.rand(2, 6, 10, 14)
    r = torch.rand(2, 6, 10, 14)
    g, p = pud.grouped, pud.pointwise
    with torch.no_grad():
        assert torch.equal(torch.ops.hpun.fused_pud_pw(x, g.weight, g.bias, p.weight, p.bias, False), pud(x))
        assert torch.equal(torch.ops.hpun.fused_pud_pw(x, g.weight, g.bias, p.weight, p.bias, True), pud(x).relu())
        assert torch.equal(torch.ops.hpun.fused_pud_pw_add(x, g.weight, g.bias, p.weight, p.bias, r), r + pud(x))
        out = torch.empty(0)
        torch.ops.hpun.fused_pud_pw_add.out(x, g.weight, g.bias, p.weight, p.bias, r, out=out)
        assert torch.equal(out, r + pud(x))
        xcl = x.to(memory_format=torch.channels_last)
        got = torch.ops.hpun.fused_pud_pw(xcl, g.weight, g.bias, p.weight, p.bias, True)
        assert got.is_contiguous(memory_format=torch.channels_last) and not got.is_contiguous()
        # HPUN-S's front block, written out here independently: x + PUD(relu(1x1(x)))
        x1 = torch.nn.Conv2d(6, 6, 1).eval()
        want = x + pud(F.relu(x1(x)))
        got = torch.ops.hpun.pw_relu_pud_pw_add(xcl, x1.weight, x1.bias, g.weight, g.bias, p.weight, p.bias)
        assert torch.allclose(got, want, atol=1e-6, rtol=0)
        assert got.is_contiguous(memory_format=torch.channels_last) and not got.is_contiguous()


def test_fused_pud_module_without_bias():
    torch.manual_seed(1)
    pud = PUD(4, bias=False).eval()
    fused = FusedPUD(pud)
    x = torch.rand(1, 4, 8, 12)
    with torch.no_grad():
        assert torch.equal(fused(x), pud(x))


def test_rewritten_model_equals_original():
    from hpun_edge.zoo import create_model

    model = create_model("hpun_s", 2, pretrained=True).eval()
    fused = apply_fused_pud(model).eval()
    assert sum(isinstance(m, FusedPUD) for m in fused.modules()) == 16
    assert not any(isinstance(m, PUD) for m in fused.modules())
    assert sum(isinstance(m, PUD) for m in model.modules()) == 16  # original untouched
    assert fused.state_dict().keys() == model.state_dict().keys()
    x = torch.rand(1, 3, 24, 30, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(fused(x), model(x))


def test_pointwise_rewrite_equals_original():
    """pointwise=True: every PUB and front block becomes one op call (FusedPUB / FusedFront), with
    the same state-dict keys and exactly the same function in eager PyTorch (also without biases)."""
    from hpun_edge.model import PUB, FrontBlock
    from hpun_edge.zoo import create_model

    for model in (create_model("hpun_s", 2, pretrained=True).eval(), create_model("hpun_m", 3, pretrained=False).eval()):
        fused = apply_fused_pud(model, pointwise=True).eval()
        blocks = model.spec.blocks
        assert sum(isinstance(m, FusedPUB) for m in fused.modules()) == blocks
        assert sum(isinstance(m, FusedFront) for m in fused.modules()) == blocks
        assert not any(isinstance(m, FusedPUD) for m in fused.modules())
        assert fused.state_dict().keys() == model.state_dict().keys()
        x = torch.rand(1, 3, 24, 30, generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            assert torch.equal(fused(x), model(x))
    # after srdsc_fold (the executorch-fused export): HPUN-S's whole front block (SRDSC(1), relu, PUD,
    # residual add) is one pw_relu_pud_pw_add call and each whole PUB one fused_pub call, still exactly
    # the folded model's function
    from hpun_edge.rewrites import apply_rewrites

    folded = apply_rewrites(create_model("hpun_s", 2, pretrained=True), ("srdsc_fold",)).eval()
    fused = apply_fused_pud(folded, pointwise=True).eval()
    assert [m.tail_fused for m in fused.modules() if isinstance(m, FusedPUB)] == [True] * 8
    assert [m.x_fused for m in fused.modules() if isinstance(m, FusedFront)] == [True] * 8
    with torch.no_grad():
        assert torch.equal(fused(x), folded(x))
    torch.manual_seed(8)
    for block, cls in ((PUB(4, bias=False), FusedPUB), (FrontBlock(4, dense=False, bias=False), FusedFront)):
        x = torch.rand(1, 4, 8, 10)
        with torch.no_grad():
            assert torch.equal(cls(block.eval())(x), block(x))
            folded_block = apply_rewrites(block, ("srdsc_fold",)).eval()  # biasless depthwise: zeros passed
            assert torch.equal(cls(folded_block)(x), folded_block(x))


@pytest.mark.parametrize("variant", ("hpun_m", "hpun_l"))
def test_rewrite_other_variants(variant):
    from hpun_edge.zoo import create_model

    torch.manual_seed(4)
    model = create_model(variant, 3, pretrained=False).eval()
    fused = apply_fused_pud(model).eval()
    assert sum(isinstance(m, FusedPUD) for m in fused.modules()) == sum(isinstance(m, PUD) for m in model.modules())
    x = torch.rand(1, 3, 12, 14)
    with torch.no_grad():
        assert torch.equal(fused(x), model(x))


@pytest.mark.parametrize("scale", (2, 3, 4))
def test_channels_last_hpun_is_the_model_with_mean_folded_into_the_tail(scale):
    from hpun_edge.zoo import create_model

    torch.manual_seed(6)
    model = create_model("hpun_s", scale, pretrained=False).eval()
    with torch.no_grad():  # a mean shift that is not the identity mixing, so the fold's matrix is exercised
        model.add_mean.weight.copy_(torch.randn(3, 3, 1, 1) * 0.5 + torch.eye(3).view(3, 3, 1, 1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    wrapped = ChannelsLastHPUN(model).eval()
    x = torch.rand(1, 3, 10, 14)
    with torch.no_grad():
        want, got = model.forward_even(x), wrapped(x)
    assert got.shape == want.shape and got.is_contiguous()
    assert (got - want).abs().max().item() <= 1e-5
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items()), "the original model changed"


def test_channels_last_hpun_names_what_is_missing():
    with pytest.raises(TypeError, match="needs an HPUN; Conv2d has no forward_features"):
        ChannelsLastHPUN(torch.nn.Conv2d(3, 3, 1))


# --- export --------------------------------------------------------------------------------------

@pytest.fixture(scope="session", params=["nchw", "channels_last", "channels_last_pw"])
def exported_fused(request):
    pytest.importorskip("executorch")
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    from hpun_edge.zoo import create_model

    model = create_model("hpun_s", 2, pretrained=True).eval()
    x = torch.rand(1, 3, 24, 32, generator=torch.Generator().manual_seed(5))
    fused = apply_fused_pud(model, pointwise=request.param == "channels_last_pw").eval()
    if request.param == "channels_last":
        fused = ChannelsLastIO(fused, "forward_even")
    elif request.param == "channels_last_pw":  # as the executorch-fused target exports it (own_kernel_module)
        fused = ChannelsLastHPUN(fused).eval()
    exported = torch.export.export(fused, (x,), strict=False)
    edge = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()])
    from hpun_edge.converters.executorch_target import coverage

    ops = coverage(edge.exported_program().graph_module)  # before to_executorch rewrites the graph
    ops["layout"] = request.param
    return model, x, ops, edge.to_executorch()


@pytest.mark.slow
def test_pte_calls_fused_pud_and_delegates_the_rest(exported_fused):
    _, _, ops, program = exported_fused
    pw = ops["layout"] == "channels_last_pw"
    want = {"hpun.fused_pud_pw.default": 8, "hpun.fused_pud_pw_add.default": 8} if pw else {"hpun.fused_pud.default": 16}
    if ops["layout"] == "channels_last":  # NCHW -> NHWC input, the pixel-shuffle tail, NHWC -> NCHW
        want["dim_order_ops._clone_dim_order.default"] = 3
    elif pw:  # ChannelsLastHPUN: the input's only; the tail's shuffle and NCHW output are one permute in XNNPACK
        want["dim_order_ops._clone_dim_order.default"] = 1
    assert ops["fallback_counts"] == want, ops["fallback_counts"]
    assert ops["convolutions"]["fallback"] == {}
    assert count_fused_pud_calls(program) == 16
    plan = program.executorch_program.execution_plan[0]
    names = {f"{op.name}.{op.overload}" if op.overload else op.name for op in plan.operators}
    # The program's operators besides the delegate calls.
    extra = {"dim_order_ops::_clone_dim_order.out"} if ops["layout"] != "nchw" else set()
    own = {"hpun::fused_pud_pw.out", "hpun::fused_pud_pw_add.out"} if pw else {RUNTIME_OP}  # unfolded SRDSCs: XNNPACK
    assert names == own | extra, names


@pytest.mark.slow
def test_pte_runs_in_python_runtime_with_kernel(exported_fused, kernels_build):
    model, x, _, program = exported_fused
    load_kernels(kernels_build / PY_MODULE)
    from executorch.runtime import Runtime

    method = Runtime.get().load_program(program.buffer).load_method("forward")
    got = method.execute([x])[0]
    assert got.is_contiguous()
    with torch.no_grad():
        want = model.forward_even(x)
    err = (got - want).abs().max().item()
    assert err <= 1e-4, f"max abs error {err} over the whole network"


def test_the_library_registers_exactly_the_op_table(kernels_build):
    """libhpun_kernels_py.so registers with ExecuTorch exactly the ops `hpun_edge.ops.OPS` defines:
    no op defined in one place only, none registered that nothing defines."""
    from hpun_edge.converters.kernels import registered_ops

    load_kernels(kernels_build / PY_MODULE)
    assert registered_ops() == sorted(RUNTIME_OPS)
