"""hpun_edge/lowering.py (exact PUD lowerings) and LiteRT int8 without `pud_dilated` (issue 21).

The lowerings are checked against the original PUD and model to float rounding, like the exact
rewrites in tests/test_quantization.py. The LiteRT test converts the PUD as it is (torch's
pixel_unshuffle) to int8 with the litert target's own int8 rewrites and checks what issue 21 asks
of the graph: every op in XNNPACK (no STABLEHLO_* or MIRROR_PAD op), no tensor above rank 4, and the
artifact agrees with its fake-quant reference.
"""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hpun_edge.lowering import LOWERINGS, LoweredPUD, phase_major_kernel, phases
from hpun_edge.model import PUD
from hpun_edge.rewrites import apply_rewrites, check_rewrites
from hpun_edge.zoo import create_model


def _have(*mods: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in mods)


def test_phases_are_the_unshuffled_channels():
    x = torch.randn(2, 5, 6, 10)
    u = F.pixel_unshuffle(x, 2)  # channel 4c + k
    for k, p in enumerate(phases(x)):
        assert torch.equal(p, u[:, k::4])


def test_phase_major_kernel_reorders_the_grouped_kernel():
    w = torch.randn(6, 4, 3, 3)
    d = phase_major_kernel(w)
    for k in range(4):
        for c in range(6):
            assert torch.equal(d[k * 6 + c, 0], w[c, k])


@pytest.mark.parametrize("how", LOWERINGS)
@pytest.mark.parametrize("hw,bias", [((8, 8), True), ((10, 14), True), ((34, 22), False), ((4, 6), True)])
def test_lowered_pud_is_exact(how, hw, bias):
    torch.manual_seed(0)
    pud = PUD(8, bias=bias).eval()
    x = torch.randn(2, 8, *hw)
    with torch.no_grad():
        ref = pud(x)
        got = LoweredPUD(pud, how)(x)
    assert torch.allclose(got, ref, atol=1e-5, rtol=0), (got - ref).abs().max()


@pytest.mark.parametrize("how", LOWERINGS)
def test_lowered_model_equals_original(how):
    torch.manual_seed(1)
    model = create_model("hpun_s", 2).eval()
    lowered = apply_rewrites(model, (how,)).eval()  # a lowering is a rewrite (hpun_edge.rewrites)
    assert sum(isinstance(m, LoweredPUD) for m in lowered.modules()) == 16
    assert not any(isinstance(m, LoweredPUD) for m in model.modules())  # the original is untouched
    x = torch.rand(1, 3, 18, 26)
    with torch.no_grad():
        assert torch.allclose(lowered(x), model(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("how", LOWERINGS)
def test_lowerings_are_rewrites_with_srdsc_fold(how):
    torch.manual_seed(2)
    model = create_model("hpun_s", 2).eval()
    x = torch.rand(1, 3, 20, 16)
    with torch.no_grad():
        assert torch.allclose(apply_rewrites(model, (how, "srdsc_fold"))(x), model(x), atol=1e-5, rtol=0)


def test_only_one_whole_pud_rewrite():
    with pytest.raises(ValueError, match="each replace the whole PUD"):
        check_rewrites(("pud_phases", "pud_dilated"))
    with pytest.raises(ValueError, match="unknown PUD lowering"):
        LoweredPUD(PUD(4), "pud_nothing")


def test_each_consumer_gets_its_own_dequantize():
    """converters.base.own_dequantize_per_consumer (the LiteRT and ExecuTorch int8 conversions): a
    dequantize read by two ops becomes two, the same function, and the module given is left as it
    was; a module that is no fx graph is returned as it is."""
    pytest.importorskip("torchao")
    import torchao.quantization.pt2e  # noqa: F401  (registers torch.ops.quantized_decomposed)

    from hpun_edge.converters.base import own_dequantize_per_consumer

    dq = torch.ops.quantized_decomposed.dequantize_per_tensor.default
    graph = torch.fx.Graph()
    x = graph.placeholder("x")
    d = graph.call_function(dq, (x, 0.1, 0, -128, 127, torch.int8))
    a = graph.call_function(torch.ops.aten.relu.default, (d,))
    b = graph.call_function(torch.ops.aten.neg.default, (d,))
    graph.output((a, b))
    gm = torch.fx.GraphModule(torch.nn.Module(), graph)
    out = own_dequantize_per_consumer(gm)
    count = lambda g: sum(n.target == dq for n in g.graph.nodes)  # noqa: E731
    assert count(gm) == 1 and count(out) == 2
    q = torch.randint(-128, 127, (3, 4), dtype=torch.int8)
    for r, e in zip(out(q), gm(q)):
        assert torch.equal(r, e)
    plain = torch.nn.Conv2d(1, 1, 1)
    assert own_dequantize_per_consumer(plain) is plain


@pytest.mark.slow
@pytest.mark.skipif(not _have("litert_torch", "ai_edge_litert"), reason="litert not installed")
def test_litert_int8_converts_the_pud_as_it_is_all_in_xnnpack(data_root, tmp_path):
    """HPUN-S x2 int8 as the pipeline makes it (the litert target's int8 rewrites, the pipeline's
    mixed precision) converted with torch's pixel_unshuffle (no pud_dilated): one XNNPACK partition
    holding every op, no STABLEHLO_* / MIRROR_PAD op (pud_dilated's dilated max-pool, which LiteRT
    runs on its reference kernels), int8 MAX_POOL_2D and grouped CONV_2D, no tensor above rank 4, the
    bilinear upsampling in fp32 (``pud_bias_apart``) and no fp32 op fed an int8 round trip.
    That the artifact scores what its fake-quant reference scores is
    tests/test_quantization.py::test_int8_artifact_agrees_with_its_fake_quant_reference[litert]."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from hpun_edge.app.config import PipelineConfig
    from hpun_edge.converters import ExportSpec, export, get_target
    from hpun_edge.quantization.calibration import patches_from_folder
    from hpun_edge.quantization.mixed import FloatParts
    from hpun_edge.quantization.pt2e import quantize

    spec = get_target("litert")
    assert "pud_dilated" not in spec.int8_rewrites
    model = create_model("hpun_s", 2, pretrained=True).eval()
    cal = patches_from_folder(data_root / "train", 2, count=16, patch=32, seed=0)
    q = quantize(model, spec.quantizer, "ptq", cal, rewrites=spec.int8_rewrites,
                 fp32_parts=FloatParts.from_names(PipelineConfig().int8_fp32_parts))
    path = tmp_path / "m.tflite"
    sidecar = export(model, ExportSpec("litert", "hpun_s", 2, 64, "int8"), path, quantized=q)
    assert not sidecar.problems, sidecar.problems
    ops = sidecar.ops
    assert ops["delegated"] == ops["total"] and ops["partitions"] == 1 and not ops["fallback"], ops
    assert not [op for op in ops["by_op"] if op.startswith("STABLEHLO_") or op == "MIRROR_PAD"], ops["by_op"]
    assert sidecar.details["convolutions"]["CONV_2D grouped"] == 16
    it = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    assert max(len(t["shape"]) for t in it.get_tensor_details()) <= 4
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    for o in it._get_ops_details():
        x = tensors[o["inputs"][0]]
        grouped = o["op_name"] == "CONV_2D" and tensors[o["inputs"][1]]["shape"][-1] != x["shape"][-1]
        if o["op_name"] in ("MAX_POOL_2D", "DEPTHWISE_CONV_2D") or grouped:
            assert x["dtype"] == np.int8, o
        if o["op_name"] == "RESIZE_BILINEAR":  # pud_bias_apart: the upsampling reads an fp32 add
            assert x["dtype"] == tensors[o["outputs"][0]]["dtype"] == np.float32, o
    # no fp32 op reads an int8 copy of an fp32 tensor (QUANTIZE then DEQUANTIZE, through layout ops):
    # litert-torch makes one for a tensor that an int8 op and an fp32 conv both read, which rounds what
    # the reference leaves fp32 (it did for an fp32 1x1 conv reading a PUD's input)
    made_by = {t: o for o in it._get_ops_details() for t in o["outputs"]}

    def through_layout(t):
        names = []
        while t in made_by and made_by[t]["op_name"] in ("TRANSPOSE", "RESHAPE", "QUANTIZE", "DEQUANTIZE"):
            names.append(made_by[t]["op_name"])
            t = made_by[t]["inputs"][0]
        return names

    for o in it._get_ops_details():
        if o["op_name"] in ("ADD", "CONV_2D", "RESIZE_BILINEAR") and tensors[o["outputs"][0]]["dtype"] == np.float32:
            for t in o["inputs"][:2]:
                names = through_layout(t)
                assert not ("DEQUANTIZE" in names and "QUANTIZE" in names[names.index("DEQUANTIZE"):]), (o, names)
