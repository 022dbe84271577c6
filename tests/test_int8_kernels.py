"""The int8 1x1 conv `pw_q8` (native/kernels/include/hpun/pw-q8.h, issue 7).

* Its reference (`hpun_edge.ops`) rounds exactly as PT2E's quantize_per_tensor does.
* The C++ kernel, on row bands over ExecuTorch's thread pool (and serially) and through its direct
  entry point, equals the reference within float rounding relative to the output's size, on every
  x86 code path (AVX-512 VNNI for C = 64, the plain loops compiled for AVX2 and for SSE2), on inputs
  that saturate both ends of the int8 range, zero points at both ends, pixel counts that are not a
  multiple of the 6-pixel block, C not a multiple of 4, and on AArch64 under qemu (plain NEON loops,
  and `sdot` on a core with the dot-product extension).
* Bad quantization parameters fail the int8 ops with a message (and the driver refuses them).
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

from hpun_edge.ops import fake_quant, pw_q8_reference, quantize
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
    """The int8 1x1 conv is no registered op of its own: its driver refuses the parameters, and the
    registered int8 ops that take them fail with the message, whichever of their int8 convs has them
    (hpun::pw_relu_pud_pw_add_q8.out; _q8x2.out: its first or its PUD's; hpun::fused_pud_pw_add_q8.out)."""
    gen = torch.Generator().manual_seed(1)
    x, qw, w_scale, b = case(gen, (1, 8, 2, 2))
    exe = kernels_build / "hpun_pw_q8_driver"
    files = [tmp_path / f for f in ("x", "qw", "ws", "b", "o", "gw")]
    x.permute(0, 2, 3, 1).contiguous().numpy().tofile(files[0])
    qw.numpy().tofile(files[1])
    w_scale.numpy().tofile(files[2])
    b.numpy().tofile(files[3])
    torch.zeros(8, 4, 3, 3).numpy().tofile(files[5])
    pw = torch.zeros(8, 8, 1, 1)
    pw.numpy().tofile(tmp_path / "pw")
    good = ["0.1", "3"]
    for in_scale, in_zp in ((0.0, 0), (0.1, 128), (0.1, -129)):
        r = subprocess.run([str(exe), "1", "8", "2", "2", *map(str, files[:5]), "--in-scale", str(in_scale),
                            "--in-zp", str(in_zp)], capture_output=True, text=True)
        assert r.returncode == 2 and "in_scale must be positive" in r.stderr, (in_scale, in_zp, r.stderr[-500:])
        bad = [str(in_scale), str(in_zp)]
        q8 = ["--q8", str(files[1]), str(files[2])]
        q8_pw = ["--q8-pw", str(files[1]), str(files[2])]
        pud_pw = ["--pw", str(tmp_path / "pw"), str(files[3])]
        ops = (
            ("pw_relu_pud_pw_add_q8", ["--op", "pw_relu_pud_pw_add", "--pre", str(tmp_path / "pw"), str(files[3]),
                                       *pud_pw, *q8, *bad]),
            ("pw_relu_pud_pw_add_q8x2", ["--op", "pw_relu_pud_pw_add", "--pre", str(tmp_path / "pw"), str(files[3]),
                                         *pud_pw, *q8, *bad, *q8_pw, *good]),
            ("pw_relu_pud_pw_add_q8x2", ["--op", "pw_relu_pud_pw_add", "--pre", str(tmp_path / "pw"), str(files[3]),
                                         *pud_pw, *q8, *good, *q8_pw, *bad]),
            ("fused_pud_pw_add_q8", [*pud_pw, "--residual", str(files[0]), *q8_pw, *bad]),
        )
        for op, args in ops:
            r = subprocess.run([str(kernels_build / "hpun_fused_pud_driver"), "1", "8", "2", "2", str(files[0]),
                                str(files[5]), str(files[3]), str(files[4]), "--nhwc", *args], capture_output=True,
                               text=True)
            assert r.returncode == 4 and f"hpun::{op}: in_scale must be positive" in r.stderr, \
                (op, in_scale, in_zp, r.stderr[-500:])


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="cross-checks an x86 host's build")
def test_pw_q8_aarch64_neon_under_qemu(kernels_build_aarch64, tmp_path):
    qemu = shutil.which("qemu-aarch64")
    exe = kernels_build_aarch64 / "hpun_pw_q8_plain"
    gen = torch.Generator().manual_seed(5)
    # a core without the dot-product extension (the plain loops) and qemu's "max" (sdot for C % 16 == 0)
    for cpu, dot in (("cortex-a57", False), ("max", True)):
        for shape in ((1, 64, 4, 10), (2, 6, 3, 5), (1, 32, 3, 7)):
            x, qw, w_scale, b = case(gen, shape)
            res = torch.randn(shape, generator=gen)
            for relu, r in ((True, res), (False, None)):
                want = pw_q8_reference(x, qw, w_scale, b, 0.04, -3, relu=relu, residual=r)
                got, info = run_q8(exe, tmp_path, x, qw, w_scale, b, 0.04, -3, *(["--relu"] if relu else []),
                                   residual=r, runner=[qemu, "-cpu", cpu])
                expect = "neon-dotprod" if dot and shape[1] % 16 == 0 else "neon"
                assert f"isa={expect} " in info + " ", (cpu, shape, info)
                err = (got - want).abs().max().item()
                assert err <= 1e-6 * max(1.0, want.abs().max().item()), f"{cpu} {shape}: {err}"


# --- the int8 blocks (quantization.int8_blocks) and the scheme (quantization.fused_int8) ------------------------

def _ranges(model) -> tuple[dict, dict]:
    """(input ranges of every int8 conv, output ranges of the dense ones) of `model` without calibration
    data: varied, both signs of zero point."""
    from hpun_edge.quantization.fused_int8 import REWRITES, dense_convs, int8_convs
    from hpun_edge.rewrites import apply_rewrites

    folded = apply_rewrites(model, REWRITES)
    ins = {p: (0.004 + 0.001 * (i % 5), (-1) ** i * (3 * i % 60)) for i, p in enumerate(sorted(int8_convs(folded)))}
    return ins, {p: (0.02, 5) for p in dense_convs(folded)}


class _PudQ8(torch.nn.Module):
    """A FusedFrontDenseQ8's op alone (its input straight from the test, not through the int8 dense conv)."""

    def __init__(self, block):
        super().__init__()
        self.block = block

    def forward(self, x):
        from hpun_edge.fused import bias

        g, p = self.block.grouped, self.block.pw_q8
        return torch.ops.hpun.fused_pud_pw_add_q8(x, g.weight, bias(g), p.qw, p.w_scale, p.bias, p.in_scale,
                                                  p.in_zp, x)


def test_int8_blocks_as_pte_ops_equal_their_references(kernels_build):
    """One block of each int8 op with a trained model's weights, exported alone (channels-last inside,
    as in the whole program) and run by ExecuTorch with the kernels loaded: HPUN-S's FusedFrontQ8 and
    FusedPUBQ8, HPUN-M's fused_pud_pw_add_q8 (its FusedFrontDenseQ8 without the dense conv), on
    96 x 40 rows split into bands. The C++ ops equal their PyTorch references to float rounding
    (relative to the output's size) at all but a few pixels: the PUD's output, which its int8 conv
    quantizes, is summed in another order by the kernel, so a value within float rounding of a
    rounding boundary can land one step over (a flip; the kernels are bit-exact where the sums are,
    test_int8_block_kernels_equal_their_references). At most 0.5% of the pixels may differ, by at
    most 4 steps of their block's int8 convs (a step: one input code times the conv's largest weight)."""
    from hpun_edge.converters.kernels import PY_MODULE, load_kernels
    from hpun_edge.fused import ChannelsLastIO
    from hpun_edge.quantization.int8_blocks import FusedFrontDenseQ8, FusedFrontQ8, FusedPUBQ8
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    from executorch.runtime import Runtime
    from hpun_edge.ops import dequantize_weight
    from hpun_edge.zoo import create_model
    from hpun_edge.quantization.fused_int8 import METHOD_PARTS, int8_module

    load_kernels(kernels_build / PY_MODULE)
    gen = torch.Generator().manual_seed(2)
    kinds = (FusedFrontQ8, FusedPUBQ8, FusedFrontDenseQ8)
    cases = (("hpun_s", METHOD_PARTS["qat"], ["FusedFrontQ8", "FusedPUBQ8"]),
             ("hpun_s", METHOD_PARTS["ptq"], ["FusedFrontQ8", "FusedPUBQ8"]),  # the _q8 ops: PUD 1x1 fp32
             ("hpun_m", METHOD_PARTS["qat"], ["FusedFrontDenseQ8", "FusedPUBQ8"]))
    for name, parts, expect in cases:
        model = create_model(name, 2, pretrained=True).eval()
        blocks = [m for m in int8_module(model, *_ranges(model), parts).modules() if isinstance(m, kinds)]
        assert all((b.pw_q8 is None) == ("pud_pw" not in parts) for b in blocks)
        assert [type(b).__name__ for b in blocks] == expect * 8
        for block in blocks[4:6] if name == "hpun_s" else blocks[4:5]:
            step = max(q.in_scale * dequantize_weight(q.qw, q.w_scale).abs().max().item()
                       for q in (getattr(block, k, None) for k in ("x_q8", "pw_q8", "pw2_q8")) if q is not None)
            wrapped = ChannelsLastIO(_PudQ8(block) if isinstance(block, FusedFrontDenseQ8) else block).eval()
            x = torch.randn(1, 64, 96, 40, generator=gen)
            program = to_edge_transform_and_lower(torch.export.export(wrapped, (x,)),
                                                  partitioner=[XnnpackPartitioner()]).to_executorch()
            got = Runtime.get().load_program(program.buffer).load_method("forward").execute([x])[0]
            with torch.no_grad():
                want = wrapped(x)
            err = (got - want).abs()
            off = int((err > 1e-6 * max(1.0, want.abs().max().item())).any(dim=1).sum())
            assert off <= 0.005 * 96 * 40 and err.max().item() <= 4 * step, \
                f"{type(block).__name__}: {off} pixels off, max abs error {err.max().item():.3g} (step {step:.3g})"


def test_int8_module_names_what_it_lacks_and_rejects_other_settings():
    from hpun_edge.zoo import create_model
    from hpun_edge.quantization.errors import QuantError
    from hpun_edge.quantization.fused_int8 import int8_module, ranges_from_settings

    model = create_model("hpun_s", 2, pretrained=True).eval()
    ranges, out_ranges = _ranges(model)
    ranges.pop("body.3.1.srdsc.pointwise")
    with pytest.raises(QuantError, match="no int8 input range for body.3.1.srdsc.pointwise"):
        int8_module(model, ranges, out_ranges)
    with pytest.raises(QuantError, match="no int8 output range for body_tail"):
        int8_module(model, _ranges(model)[0], {})
    with pytest.raises(QuantError, match="not a fused-int8"):
        ranges_from_settings({"family": "xnnpack", "method": "ptq"})


def test_int8_export_needs_its_quantization_settings(tmp_path):
    from hpun_edge.converters import ExportSpec, export
    from hpun_edge.fused import own_kernel_module
    from hpun_edge.zoo import create_model

    model = create_model("hpun_s", 2, pretrained=True).eval()
    with pytest.raises(ValueError, match="int8 export takes a quantized model"):
        export(model, ExportSpec("executorch-fused", "hpun_s", 2, 32, "int8"), tmp_path / "m.pte",
               module=own_kernel_module(model))
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hpun_s", "hpun_m"])
def test_quantize_fused_calibrates_each_int8_conv_and_keeps_the_accuracy(name, data_root):
    """PTQ (its parts: the PUD 1x1 convs stay fp32, `METHOD_PARTS`): one input (scale, zero point) per
    int8 conv (HPUN-S: its 8 folded SRDSC(1) and 8 PUB SRDSC(5) 1x1 convs and the body tail; HPUN-M:
    its 8 PUB 1x1 convs, 8 HPUB 3x3 convs and the body tail) and one output range per dense one, recorded in the settings and rebuilt
    from them exactly. With the pipeline's calibration (64 patches of 48 px) the fake-quant reference
    stays within 0.05 dB of fp32 on Set5 on average, and no image loses more than 0.15 dB (measured:
    HPUN-S -0.028 dB, bird -0.068; HPUN-M -0.026, bird -0.067; this test's computation)."""
    from hpun_edge.model import EvenForward
    from hpun_edge.data import find_dataset, load_pair
    from hpun_edge.inference import InferenceOptions, upscale
    from hpun_edge.metrics import calculate_psnr
    from hpun_edge.zoo import create_model
    from hpun_edge.quantization.calibration import load_calibration
    from hpun_edge.quantization.fused_int8 import int8_module, parts_from_settings, quantize_fused, ranges_from_settings

    model = create_model(name, 2, pretrained=True).eval()
    q = quantize_fused(model, load_calibration(None, 2, count=64, data_root=str(data_root)))
    assert len(q.ranges) == 17 and len(q.out_ranges) == (1 if name == "hpun_s" else 9)
    assert q.parts == ("srdsc_pw", "dense") and q.settings()["int8_parts"] == ["srdsc_pw", "dense"]
    assert all(0 < s < 1 and -128 <= z <= 127 for s, z in [*q.ranges.values(), *q.out_ranges.values()]), q.ranges
    settings = q.settings()
    assert settings["family"] == "fused-int8" and settings["calib_count"] == 64
    x = torch.rand(1, 3, 24, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(int8_module(model, *ranges_from_settings(settings), parts_from_settings(settings))(x),
                           q.module(x))
    opts = InferenceOptions(tile=64, overlap=16, fixed_size=True)
    ds = find_dataset("Set5", data_root)
    losses = {}
    for hr_path in ds.hr_paths():
        lr, hr = load_pair(ds, hr_path, 2)
        with torch.no_grad():
            fp32 = calculate_psnr(upscale(EvenForward(model).eval(), lr, 2, opts), hr, 2)
            int8 = calculate_psnr(upscale(q.module, lr, 2, opts), hr, 2)
        losses[hr_path.name] = fp32 - int8
    assert sum(losses.values()) / len(losses) < 0.05 and max(losses.values()) < 0.15, losses


def dyadic(gen: torch.Generator, shape, lo: int, hi: int, denom: int) -> torch.Tensor:
    """Integers in [lo, hi] over a power of two: values that the kernels and PyTorch add exactly."""
    return torch.randint(lo, hi + 1, tuple(shape), generator=gen).float() / denom


def dyadic_q8(gen: torch.Generator, c: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """An int8 1x1 conv (qw, w_scale, bias) whose scales are powers of two and whose bias is dyadic."""
    qw = torch.randint(-2, 3, (c, c, 1, 1), generator=gen, dtype=torch.int8)
    ws = 2.0 ** -torch.randint(7, 10, (c,), generator=gen).float()
    return qw, ws, dyadic(gen, (c,), -64, 64, 256)


@pytest.mark.parametrize("isa", ISAS)
def test_int8_block_kernels_equal_their_references(kernels_build, tmp_path, isa):
    """hpun::pw_relu_pud_pw_add_q8(x2), fused_pub_q8(x2) and fused_pud_pw_add_q8 through the registry (bands on
    the thread pool, and serially), every x86 path (C = 64: VNNI for the int8 convs and the AVX-512
    block code; C = 5 / 32: plain loops): bit for bit their references. The data are dyadic (inputs,
    weights and biases small integers over powers of two, the int8 convs' scales powers of two), so
    every sum the kernels and PyTorch make is exact whatever its order (checked: the reference in
    float64 is the same): the PUD's output, which the PUD's int8 conv quantizes, and the depthwise
    conv's, which the PUB's last one quantizes, are then the same on both sides, and so is every code.
    (On other data a value within rounding of a rounding boundary can land one step over.) Inputs
    saturate the int8 grid at both ends; zero points -9, 5, -128."""
    from hpun_edge.ops import (
        dequantize_weight, fused_pub_q8_reference, fused_pub_q8x2_reference, fused_pud_pw_add_q8_reference, pw_relu_pud_pw_add_q8_reference,
        pw_relu_pud_pw_add_q8x2_reference,
    )

    env = isa_env(isa)
    gen = torch.Generator().manual_seed(23)
    exe = kernels_build / "hpun_fused_pud_driver"
    for shape in ((1, 64, 2, 2), (2, 64, 6, 14), (1, 5, 6, 10), (1, 32, 10, 12), (1, 64, 136, 18), (1, 64, 20, 46)):
        n, c, h, w = shape
        x = dyadic(gen, shape, -96, 96, 8)  # [-12, 12]: the front block's int8 conv (scale 1/16) saturates
        gw, gb = dyadic(gen, (c, 4, 3, 3), -2, 2, 8), dyadic(gen, (c,), -8, 8, 64)
        dw_w, dw_b = dyadic(gen, (c, 1, 5, 5), -2, 2, 8), dyadic(gen, (c,), -8, 8, 64)
        res = dyadic(gen, shape, -16, 16, 16)
        pw_w = dyadic(gen, (c, c, 1, 1), -2, 2, 8)  # the PUD's 1x1 conv in fp32 (PTQ's _q8 ops)
        convs = {k: dyadic_q8(gen, c) for k in ("x", "pw", "pw2")}
        quant = {"x": (1 / 16, -9), "pw": (1 / 8, 5), "pw2": (1 / 8, -128)}

        def q8(k):
            return (*convs[k], *quant[k])

        wants = {
            "front": pw_relu_pud_pw_add_q8x2_reference(x, *q8("x"), gw, gb, *q8("pw")),
            "pub": fused_pub_q8x2_reference(x, gw, gb, *q8("pw"), dw_w, dw_b, *q8("pw2")),
            "hpub": fused_pud_pw_add_q8_reference(x, gw, gb, *q8("pw"), res),
            "front_ptq": pw_relu_pud_pw_add_q8_reference(x, *q8("x"), gw, gb, pw_w, convs["pw"][2]),
            "pub_ptq": fused_pub_q8_reference(x, gw, gb, pw_w, convs["pw"][2], dw_w, dw_b, *q8("pw2")),
        }
        d64 = [t.double() if torch.is_tensor(t) and t.is_floating_point() else t for t in (x, gw, gb, dw_w, dw_b, res)]
        c64 = {k: (v[0], v[1].double(), v[2].double(), *quant[k]) for k, v in convs.items()}
        exact = {
            "front": pw_relu_pud_pw_add_q8x2_reference(d64[0], *c64["x"], d64[1], d64[2], *c64["pw"]),
            "pub": fused_pub_q8x2_reference(d64[0], d64[1], d64[2], *c64["pw"], d64[3], d64[4], *c64["pw2"]),
            "hpub": fused_pud_pw_add_q8_reference(d64[0], d64[1], d64[2], *c64["pw"], d64[5]),
            "front_ptq": pw_relu_pud_pw_add_q8_reference(d64[0], *c64["x"], d64[1], d64[2], pw_w.double(),
                                                         c64["pw"][2]),
            "pub_ptq": fused_pub_q8_reference(d64[0], d64[1], d64[2], pw_w.double(), c64["pw"][2], d64[3], d64[4],
                                              *c64["pw2"]),
        }
        files = {k: tmp_path / f"{k}.bin" for k in ("x", "gw", "gb", "dw", "db", "r", "pw_w", "o", "nil")}
        for k, t in (("x", x.permute(0, 2, 3, 1)), ("gw", gw), ("gb", gb), ("dw", dw_w), ("db", dw_b),
                     ("r", res.permute(0, 2, 3, 1)), ("pw_w", pw_w)):
            t.contiguous().numpy().tofile(files[k])
        for k, (qw, ws, qb) in convs.items():
            for part, t in (("qw", qw), ("ws", ws), ("b", qb)):
                files[f"{k}_{part}"] = tmp_path / f"{k}_{part}.bin"
                t.contiguous().numpy().tofile(files[f"{k}_{part}"])
        f = {k: str(v) for k, v in files.items()}

        def flag(opt, k):
            return [opt, f[f"{k}_qw"], f[f"{k}_ws"], repr(quant[k][0]), str(quant[k][1])]

        cases = {  # the fp32 weight files of the int8 convs are not read: "nil"
            "front": ["--op", "pw_relu_pud_pw_add", "--pre", f["nil"], f["x_b"], "--pw", f["nil"], f["pw_b"],
                      *flag("--q8", "x"), *flag("--q8-pw", "pw")],
            "pub": ["--op", "fused_pub", "--pw", f["nil"], f["pw_b"], "--post", f["dw"], f["db"], f["nil"], f["pw2_b"],
                    *flag("--q8", "pw2"), *flag("--q8-pw", "pw")],
            "hpub": ["--pw", f["nil"], f["pw_b"], "--residual", f["r"], *flag("--q8-pw", "pw")],
            # PTQ's ops: the PUD's 1x1 conv fp32 (its weights read)
            "front_ptq": ["--op", "pw_relu_pud_pw_add", "--pre", f["nil"], f["x_b"], "--pw", f["pw_w"], f["pw_b"],
                          *flag("--q8", "x")],
            "pub_ptq": ["--op", "fused_pub", "--pw", f["pw_w"], f["pw_b"], "--post", f["dw"], f["db"], f["nil"],
                        f["pw2_b"], *flag("--q8", "pw2")],
        }
        for name, extra in cases.items():
            want = wants[name]
            ptq = name.endswith("_ptq")
            if not ptq:
                assert torch.equal(exact[name].float(), want), f"{name} {shape}: the test's data are not exact"
            for flags in ((), ("--serial",)):
                r = subprocess.run([str(exe), str(n), str(c), str(h), str(w), f["x"], f["gw"], f["gb"], f["o"],
                                    "--nhwc", *extra, *flags], capture_output=True, text=True, env={**os.environ, **env})
                assert r.returncode == 0, (name, r.stdout, r.stderr[-2000:])
                assert isa == "native" or f"isa={isa}" in r.stdout, r.stdout
                got = torch.from_numpy(np.fromfile(files["o"], dtype=np.float32)).reshape(n, h, w, c).permute(0, 3, 1, 2)
                err = (got - want).abs()
                if ptq:
                    # the PUD's fp32 1x1 conv sums more bits than float32 holds: equal to float rounding,
                    # except that the PUB's last int8 conv may see a value land one step over (a flip)
                    tight = 1e-6 * max(1.0, want.abs().max().item())
                    step = quant["pw2"][0] * dequantize_weight(convs["pw2"][0], convs["pw2"][1]).abs().max().item()
                    off = int((err > tight).sum())
                    flips = 0 if name == "front_ptq" else 4
                    assert off <= flips * c and err.max().item() <= tight + step, \
                        f"{name} {shape} {flags}: {off} values beyond {tight:.2g}, max abs error {err.max().item():.3g}"
                    continue
                assert torch.equal(got, want), \
                    f"{name} {shape} {flags}: {int((err > 0).sum())} values differ, max abs error {err.max().item():.3g}"


def test_hpun_m_int8_program_keeps_its_dense_convs_in_the_delegate(tmp_path):
    """HPUN-M's int8 program: the 9 QDenseConvs (8 HPUB 3x3 convs with their relu, the body tail) go
    into XNNPACK's delegate with their quantize/dequantize ops, so the only ops outside it are the
    project's (8 fused_pud_pw_add_q8, 8 fused_pub_q8x2: QAT's parts) and the input's layout copy; every conv counted."""
    from hpun_edge.converters import ExportSpec, export
    from hpun_edge.quantization.fused_int8 import FusedInt8, int8_module
    from hpun_edge.zoo import create_model

    model = create_model("hpun_m", 2, pretrained=True).eval()
    ranges, out_ranges = _ranges(model)
    q = FusedInt8(int8_module(model, ranges, out_ranges), ranges, out_ranges, "hpun_m", 2)
    sidecar = export(model, ExportSpec("executorch-fused", "hpun_m", 2, 32, "int8"), tmp_path / "m.pte", quantized=q)
    assert sidecar.problems == [] and sidecar.precision == "int8"
    assert sidecar.ops["fallback_counts"] == {"dim_order_ops._clone_dim_order.out": 1, "hpun.fused_pub_q8x2.out": 8,
                                              "hpun.fused_pud_pw_add_q8.out": 8}, sidecar.ops["fallback_counts"]
    census = sidecar.details["model_convolutions"]
    assert census["dense"] == 3 + 8 and census["total"] == sum(v for k, v in census.items() if k != "total")


def test_qat_trains_what_the_int8_blocks_compute(data_root, tmp_path):
    """The scheme's QAT model (`FakeQuantHPUN`) computes exactly what its int8 blocks compute (NCHW,
    bit for bit: the same roundings in the same order), trains the fp32 weights through the
    fake-quants with the calibrated ranges frozen, and the int8 module is made from the trained
    weights; a second run with the same checkpoint folder resumes at the last step."""
    from hpun_edge.quantization.calibration import patches_from_folder
    from hpun_edge.quantization.finetune import QATConfig
    from hpun_edge.quantization.fused_int8 import (
        REWRITES, FakeQuantHPUN, apply_int8_blocks, observe, quantize_fused,
    )
    from hpun_edge.rewrites import apply_rewrites
    from hpun_edge.zoo import create_model

    model = create_model("hpun_s", 2, pretrained=True).eval()
    cal = patches_from_folder(data_root / "train", 2, count=8, patch=32, seed=0)
    folded = apply_rewrites(model, REWRITES).eval()
    ranges, out_ranges = observe(folded, cal)
    x = torch.rand(1, 3, 24, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(FakeQuantHPUN(folded, ranges, out_ranges).eval()(x),
                           apply_int8_blocks(folded, ranges, out_ranges).eval().forward_even(x))
    cfg = QATConfig(steps=3, batch_size=2, patch_size=16, lr=1e-3, log_every=1, ckpt_every=1, loss="distill_mse")
    q = quantize_fused(model, cal, "qat", qat=cfg, train_folder=data_root / "train", ckpt_dir=tmp_path / "ckpt")
    ptq = quantize_fused(model, cal, "ptq", parts=q.parts)  # QAT's parts: the PUD 1x1 convs int8 too
    assert q.parts == ("srdsc_pw", "pud_pw", "dense") and len(q.ranges) == 17 + 16
    assert q.ranges == ptq.ranges and q.out_ranges == ptq.out_ranges  # the ranges stay frozen
    assert q.settings()["method"] == "qat" and q.settings()["qat"]["steps"] == 3 and len(q.qat_log) == 3
    with torch.no_grad():
        assert not torch.equal(q.reference(x), ptq.reference(x))  # the weights moved
    lines: list[str] = []
    again = quantize_fused(model, cal, "qat", qat=cfg, train_folder=data_root / "train", ckpt_dir=tmp_path / "ckpt",
                           say=lines.append)
    assert any("resuming at step 3 of 3" in l for l in lines) and again.qat_log == []
    with torch.no_grad():
        assert torch.equal(again.reference(x), q.reference(x))
