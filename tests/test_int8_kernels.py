"""The int8 1x1 conv `hpun::pw_q8` (native/kernels/pw_q8.h, issue 7).

* Its reference (`converters.int8_ops`) rounds exactly as PT2E's quantize_per_tensor does.
* The C++ kernel, through ExecuTorch's operator registry (thread pool and serial) and its direct
  entry point, equals the reference within float rounding relative to the output's size, on every
  x86 code path (AVX-512 VNNI for C = 64, the plain loops compiled for AVX2 and for SSE2), on inputs
  that saturate both ends of the int8 range, zero points at both ends, pixel counts that are not a
  multiple of the 6-pixel block, C not a multiple of 4, and on NEON under qemu.
* Bad quantization parameters fail the op with a message.
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

from converters.custom_ops import KERNELS_SOURCE
from converters.int8_ops import fake_quant, pw_q8_reference, quantize
from test_custom_ops import ISAS, cpu_flags, isa_env


def q8_isa(isa: str, c: int) -> str:
    """The path the kernels should report for an HPUN_KERNELS_ISA cap and C channels."""
    if isa == "native":
        return ""
    if isa == "avx512f":
        return "avx512vnni" if c == 64 and {"avx512_vnni", "avx512bw"} <= cpu_flags() else "avx2"
    return isa


def case(gen: torch.Generator, shape: tuple[int, int, int, int]):
    n, c, h, w = shape
    x = torch.randn(shape, generator=gen) * 3  # saturates the int8 grid below at both ends
    qw = torch.randint(-127, 128, (c, c, 1, 1), generator=gen, dtype=torch.int8)
    w_scale = torch.rand(c, generator=gen) * 0.01 + 1e-3
    b = torch.randn(c, generator=gen) * 0.1
    return x, qw, w_scale, b


def run_q8(exe: Path, tmp: Path, x, qw, w_scale, b, in_scale: float, in_zp: int, *flags: str,
           residual: torch.Tensor | None = None, env: dict | None = None, runner: list[str] = ()):
    n, c, h, w = x.shape
    files = {k: tmp / f"{k}.bin" for k in ("x", "qw", "ws", "b", "o", "r")}
    x.permute(0, 2, 3, 1).contiguous().numpy().tofile(files["x"])
    qw.numpy().tofile(files["qw"])
    w_scale.numpy().tofile(files["ws"])
    b.numpy().tofile(files["b"])
    extra = list(flags)
    if residual is not None:
        residual.permute(0, 2, 3, 1).contiguous().numpy().tofile(files["r"])
        extra += ["--residual", str(files["r"])]
    cmd = [*runner, str(exe), str(n), str(c), str(h), str(w),
           *(str(files[k]) for k in ("x", "qw", "ws", "b", "o")),
           "--in-scale", repr(in_scale), "--in-zp", str(in_zp), *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    assert r.returncode == 0, f"{cmd}: {r.returncode} {r.stdout} {r.stderr[-2000:]}"
    out = np.fromfile(files["o"], dtype=np.float32).reshape(n, h, w, c)
    return torch.from_numpy(out).permute(0, 3, 1, 2), r.stdout.strip()


def test_reference_rounds_as_pt2e_quantize_per_tensor():
    import torchao.quantization.pt2e  # noqa: F401  (registers quantized_decomposed)

    gen = torch.Generator().manual_seed(3)
    x = torch.randn(4096, generator=gen) * 4
    # values on the rounding boundaries too: k + 0.5 grid steps
    x = torch.cat([x, (torch.arange(-300, 300) + 0.5) * 0.03])
    for scale, zp in ((0.03, 0), (0.03, -128), (0.017, 127), (1 / 3, 5)):
        want = torch.ops.quantized_decomposed.quantize_per_tensor(x, scale, zp, -128, 127, torch.int8)
        assert torch.equal(quantize(x, scale, zp).to(torch.int8), want), (scale, zp)
        deq = torch.ops.quantized_decomposed.dequantize_per_tensor(want, scale, zp, -128, 127, torch.int8)
        assert torch.equal(fake_quant(x, scale, zp), deq), (scale, zp)


@pytest.mark.parametrize("isa", ISAS)
def test_pw_q8_kernel_equals_reference(kernels_build, tmp_path, isa):
    gen = torch.Generator().manual_seed(17)
    env = isa_env(isa)
    exe = kernels_build / "hpun_pw_q8_driver"
    for shape in ((1, 64, 6, 14), (2, 64, 3, 13), (1, 5, 4, 6), (1, 128, 4, 8), (1, 64, 136, 18)):
        x, qw, w_scale, b = case(gen, shape)
        res = torch.randn(shape, generator=gen)
        for in_scale, in_zp in ((0.03, -7), (0.05, -128), (0.02, 127)):
            for relu in (False, True):
                want = pw_q8_reference(x, qw, w_scale, b, in_scale, in_zp, relu)
                bound = 1e-6 * max(1.0, want.abs().max().item())
                for flags in ((), ("--serial",), ("--direct",)):
                    got, info = run_q8(exe, tmp_path, x, qw, w_scale, b, in_scale, in_zp,
                                       *flags, *(("--relu",) if relu else ()), env=env)
                    assert f"isa={q8_isa(isa, shape[1])} " in info + " " or isa == "native", info
                    err = (got - want).abs().max().item()
                    assert err <= bound, f"{shape} {in_scale} {in_zp} relu={relu} {flags} {info}: {err}"
            want = pw_q8_reference(x, qw, w_scale, b, in_scale, in_zp, residual=res)
            got, info = run_q8(exe, tmp_path, x, qw, w_scale, b, in_scale, in_zp, "--direct",
                               residual=res, env=env)
            err = (got - want).abs().max().item()
            assert err <= 1e-6 * max(1.0, want.abs().max().item()), f"{shape} residual {info}: {err}"


def test_pw_q8_rejects_bad_quantization_parameters(kernels_build, tmp_path):
    gen = torch.Generator().manual_seed(1)
    x, qw, w_scale, b = case(gen, (1, 8, 2, 2))
    exe = kernels_build / "hpun_pw_q8_driver"
    for in_scale, in_zp in ((0.0, 0), (0.1, 128), (0.1, -129)):
        files = [tmp_path / f for f in ("x", "qw", "ws", "b", "o")]
        x.permute(0, 2, 3, 1).contiguous().numpy().tofile(files[0])
        qw.numpy().tofile(files[1])
        w_scale.numpy().tofile(files[2])
        b.numpy().tofile(files[3])
        r = subprocess.run([str(exe), "1", "8", "2", "2", *map(str, files), "--in-scale", str(in_scale),
                            "--in-zp", str(in_zp)], capture_output=True, text=True)
        assert r.returncode == 4 and "in_scale must be positive" in r.stderr, (in_scale, in_zp, r.stderr[-500:])


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="cross-checks an x86 host's build")
def test_pw_q8_aarch64_neon_under_qemu(tmp_path):
    cxx, qemu = shutil.which("aarch64-linux-gnu-g++"), shutil.which("qemu-aarch64")
    if not cxx or not qemu:
        pytest.skip("needs aarch64-linux-gnu-g++ and qemu-aarch64 (an optional cross-check)")
    exe = tmp_path / "pw_q8_arm64"
    r = subprocess.run([cxx, "-std=c++17", "-O3", "-static", "-DHPUN_Q8_PLAIN", f"-I{KERNELS_SOURCE}",
                        str(KERNELS_SOURCE / "pw_q8_driver.cpp"), str(KERNELS_SOURCE / "pw_q8.cpp"), "-o", str(exe)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    gen = torch.Generator().manual_seed(5)
    for shape in ((1, 64, 4, 10), (2, 6, 3, 5)):
        x, qw, w_scale, b = case(gen, shape)
        res = torch.randn(shape, generator=gen)
        want = pw_q8_reference(x, qw, w_scale, b, 0.04, -3, relu=True, residual=res)
        got, info = run_q8(exe, tmp_path, x, qw, w_scale, b, 0.04, -3, "--relu", residual=res, runner=[qemu])
        assert "isa=neon" in info, info
        err = (got - want).abs().max().item()
        assert err <= 1e-6 * max(1.0, want.abs().max().item()), f"{shape}: {err}"
