"""Per-op profiles folded into op groups: classification, each runtime's parser on captured or tiny
real profiles, the explicit 'not available' row for LiteRT, and the markdown the report takes."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from hpun_edge.app.profiling import profile_markdown
from hpun_edge.converters import executorch_target, litert_target, onnx_target
from hpun_edge.converters import profiles as P


class Mixed(nn.Module):
    """One op of each kind HPUN has: dense, 1x1, depthwise, grouped, maxpool, bilinear, shuffles, add."""

    def __init__(self):
        super().__init__()
        self.dense = nn.Conv2d(8, 8, 3, padding=1)
        self.pw = nn.Conv2d(8, 8, 1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.grouped = nn.Conv2d(8, 8, 3, padding=1, groups=2)

    def forward(self, x):
        y = self.grouped(self.dw(self.pw(torch.relu(self.dense(x)))))
        z = nn.functional.pixel_unshuffle(y, 2)
        z = nn.functional.max_pool2d(z, 3, stride=1, padding=1)
        z = nn.functional.interpolate(z, scale_factor=2, mode="bilinear", align_corners=False)
        return x + nn.functional.pixel_shuffle(z, 2)[..., :32, :32]


def test_conv_kinds():
    assert P.conv_kind(64, 64, 64, 3, 3) == "dense conv"
    assert P.conv_kind(64, 32, 64, 1, 1) == "1x1 conv"
    assert P.conv_kind(64, 64, 1, 3, 3) == "depthwise conv"
    assert P.conv_kind(64, 64, 16, 3, 3) == "grouped conv"


@pytest.mark.parametrize("name, group", [
    ("Convolution (NHWC, F32) IGEMM #3", "dense conv"), ("Convolution (NHWC, QC8) DWConv #1", "depthwise conv"),
    ("Fully Connected (NC, F32) GEMM #2", "1x1 conv"), ("Convolution (NHWC, F32) GEMM #1", "1x1 conv"),
    ("Transpose (ND, X32) #4", "(un)shuffle/transposes"), ("Depth To Space (NHWC, X32) #1", "(un)shuffle/transposes"),
    ("Max Pooling (NHWC, F32) #2", "pooling"), ("Resize Bilinear (NHWC, F32) #1", "interpolation"),
    ("Add (ND, F32) #1", "elementwise"), ("Convert (NC, F32, QD8) #1", "quantize/convert"), ("Mystery op", "other"),
])
def test_xnnpack_names(name, group):
    assert P.classify_xnnpack(name) == group


def test_onnx_and_tflite_and_aten_classification():
    assert onnx_target.classify_onnx("Conv", [[1, 8, 32, 32], [16, 8, 3, 3], [16]]) == "dense conv"
    assert onnx_target.classify_onnx("QLinearConv", [[1, 64, 8, 8], [], [], [64, 1, 3, 3]]) == "depthwise conv"
    assert onnx_target.classify_onnx("Resize", [[1, 8, 16, 16]]) == "interpolation"
    assert onnx_target.classify_onnx("DepthToSpace", []) == "(un)shuffle/transposes"
    assert onnx_target.classify_onnx("Add", []) == "elementwise"
    assert litert_target.classify_tflite("CONV_2D", "grouped conv") == "grouped conv"
    assert litert_target.classify_tflite("DEPTHWISE_CONV_2D") == "depthwise conv"
    assert litert_target.classify_tflite("Convolution (NHWC, F32) IGEMM") == "dense conv"
    assert P.classify_aten("aten.upsample_bilinear2d.vec") == "interpolation"
    assert P.classify_aten("quantized_decomposed.dequantize_per_tensor.default") == "quantize/convert"


def test_executorch_groups_tell_grouped_igemm_apart_by_order_and_drop_the_warmup_call():
    events = [
        ("Convolution (NHWC, F32) IGEMM #1", True, [], [9.0, 1.0, 1.0]),
        ("Fully Connected (NC, F32) GEMM #1", True, [], [9.0, 0.5, 0.5]),
        ("Convolution (NHWC, F32) DWConv #1", True, [], [9.0, 0.25, 0.25]),
        ("Convolution (NHWC, F32) IGEMM #2", True, [], [9.0, 2.0, 2.0]),
        ("DELEGATE_CALL", False, [], [40.0, 4.0, 4.0]),
        ("native_call_upsample_nearest2d.vec_out", False, [], [9.0, 0.5, 0.5]),
        ("OPERATOR_CALL", False, [], [9.0, 0.5, 0.5]),
        ("Method::execute", False, [], [60.0, 5.0, 5.0]),
    ]
    convs = ["dense conv", "1x1 conv", "depthwise conv", "grouped conv"]
    p = executorch_target.profile_groups(P.empty_profile("executorch", "t"), events, convs)
    g = p["groups"]
    assert g["dense conv"] == 1.0 and g["grouped conv"] == 2.0 and g["1x1 conv"] == 0.5
    assert g["depthwise conv"] == 0.25 and g["interpolation"] == 0.5  # counted once, not twice
    assert p["per_call_ms"] == 5.0 and g["runtime overhead"] == pytest.approx(0.75) and p["calls"] == 2
    assert not p["notes"]
    # counts that do not agree: grouped convs counted as dense, and said so
    p = executorch_target.profile_groups(P.empty_profile("executorch", "t"), events, convs + ["grouped conv"])
    assert "grouped conv" not in p["groups"] and p["notes"]


def test_executorch_groups_count_every_delegate_and_the_projects_own_op():
    """A program split into delegates around a custom op (the fused PUD): every delegate has its own
    "GEMM #1", each is an op of its own, and the custom op's event (named after the op, wrapped in an
    OPERATOR_CALL) is counted once, in its group."""
    events = [
        ("native_call__clone_dim_order.out", False, [], [9.0, 0.5, 0.5]),
        ("OPERATOR_CALL", False, [], [9.0, 0.5, 0.5]),
        ("Convolution (NHWC, F32) IGEMM #1", True, [], [9.0, 3.0, 3.0]),
        ("Fully Connected (NC, F32) GEMM #1", True, [], [9.0, 1.0, 1.0]),
        ("DELEGATE_CALL", False, [], [40.0, 4.0, 4.0]),
        ("hpun::fused_pud.out", False, [], [9.0, 2.0, 2.0]),
        ("OPERATOR_CALL", False, [], [9.0, 2.0, 2.0]),
        ("Fully Connected (NC, F32) GEMM #1", True, [], [9.0, 1.5, 1.5]),
        ("Convolution (NHWC, F32) IGEMM #1", True, [], [9.0, 0.25, 0.25]),
        ("DELEGATE_CALL", False, [], [40.0, 1.75, 1.75]),
        ("Method::execute", False, [], [60.0, 9.0, 9.0]),
    ]
    p = executorch_target.profile_groups(P.empty_profile("executorch", "t"), events, ["dense conv", "1x1 conv", "1x1 conv", "dense conv"])
    g = p["groups"]
    assert g["1x1 conv"] == 2.5 and g["dense conv"] == 3.25 and g["fused PUD kernel"] == 2.0
    assert g["(un)shuffle/transposes"] == 0.5 and g["runtime overhead"] == pytest.approx(0.75)
    assert len(p["ops"]) == 6 and not p["notes"]


def test_onnx_groups_assign_nodes_to_runs_and_drop_the_first():
    def node(name, op, ts, dur, shapes):
        return {"cat": "Node", "name": f"{name}_kernel_time", "ts": ts, "dur": dur,
                "args": {"op_name": op, "input_type_shape": [{"float": s} for s in shapes]}}

    trace = [
        {"cat": "Session", "name": "model_run", "ts": 0, "dur": 100_000},
        node("c", "Conv", 10, 90_000, [[1, 8, 8, 8], [8, 8, 3, 3]]),
        {"cat": "Session", "name": "model_run", "ts": 200_000, "dur": 4000},
        node("c", "Conv", 200_010, 2000, [[1, 8, 8, 8], [8, 8, 3, 3]]),
        node("r", "Resize", 202_100, 1000, [[1, 8, 4, 4]]),
    ]
    p = onnx_target.profile_groups(P.empty_profile("onnx", "t"), trace)
    assert p["groups"] == {"dense conv": 2.0, "interpolation": 1.0, "runtime overhead": 1.0}
    assert p["per_call_ms"] == 4.0 and p["calls"] == 1


BENCHMARK_MODEL_PROFILE = """\
Inference timings in us: Init: 1000, First inference: 5000, Warmup (avg): 5000, Inference (avg): 4000
Operator-wise Profiling Info for Regular Benchmark Runs:
============================== Run Order ==============================
\t             [node type]\t          [start]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]
\t                 CONV_2D\t            0.000\t    1.100\t    1.000\t 25.000%\t 25.000%\t     0.000\t        1\t[conv_a]:0
\t       DEPTHWISE_CONV_2D\t            1.000\t    0.600\t    0.500\t 12.500%\t 37.500%\t     0.000\t        1\t[dw]:1
\t Convolution (NHWC, F32) IGEMM\t            1.500\t    1.600\t    1.500\t 37.500%\t 75.000%\t     0.000\t        1\tDelegate/Convolution (NHWC, F32) IGEMM:2
\t         RESIZE_BILINEAR\t            3.000\t    0.600\t    0.500\t 12.500%\t 87.500%\t     0.000\t        1\t[resize]:3

============================== Top by Computation Time ==============================
\t                 CONV_2D\t            0.000\t    1.100\t    1.000\t 25.000%\t 25.000%\t     0.000\t        1\t[conv_a]:0

Timings (microseconds): count=10 first=5000 curr=4000 min=3900 max=4100 avg=4000 std=50
"""


def test_benchmark_model_op_profile_is_parsed():
    p = litert_target.profile_groups(P.empty_profile("litert", "t"), BENCHMARK_MODEL_PROFILE, {0: "grouped conv"})
    assert p["groups"]["grouped conv"] == 1.0 and p["groups"]["depthwise conv"] == 0.5
    assert p["groups"]["dense conv"] == 1.5 and p["groups"]["interpolation"] == 0.5
    assert p["per_call_ms"] == 4.0 and p["calls"] == 10 and p["groups"]["runtime overhead"] == pytest.approx(0.5)


def test_litert_without_benchmark_model_says_not_available():
    p = litert_target.profile("model.tflite", [1, 3, 32, 32])
    assert p["available"] is False and "no per-op profiler" in p["reason"]
    md = profile_markdown(p)
    assert "| (not available) | - | - |" in md and "benchmark_model" in md


def test_profile_markdown_lists_groups_with_shares():
    p = P.finish(P.empty_profile("onnx", "tool"), {"a": ("dense conv", 3.0), "b": ("pooling", 1.0)}, 5.0, 2)
    md = profile_markdown(p)
    assert "| dense conv | 3.000 | 60.0% |" in md and "| runtime overhead | 1.000 | 20.0% |" in md
    assert "| total | 5.000 | 100% |" in md


def test_real_executorch_etdump_has_per_op_xnnpack_events(tmp_path):
    x = torch.rand(1, 8, 32, 32)
    lowered = executorch_target.convert(Mixed().eval(), x, None)
    path = tmp_path / "m.pte"
    executorch_target.write(lowered, path)
    p = executorch_target.profile(path, [1, 8, 32, 32], threads=1, runs=2)
    assert p["available"] and p["calls"] == 2 and p["per_call_ms"] > 0
    assert {"dense conv", "1x1 conv", "depthwise conv", "pooling"} <= set(p["groups"])
    assert sum(p["groups"].values()) == pytest.approx(p["per_call_ms"], rel=1e-3)


def test_real_onnxruntime_profile(tmp_path):
    x = torch.rand(1, 8, 32, 32)
    path = tmp_path / "m.onnx"
    torch.onnx.export(Mixed().eval(), (x,), str(path), input_names=["lr"], output_names=["sr"], dynamo=True,
                      opset_version=18, verbose=False)
    p = onnx_target.profile(path, [1, 8, 32, 32], threads=1, runs=2)
    assert p["available"] and p["calls"] == 2
    assert {"dense conv", "1x1 conv", "depthwise conv", "grouped conv", "pooling", "interpolation"} <= set(p["groups"])


def test_report_markdown_includes_a_profile_section():
    from hpun_edge.app.report import markdown

    profile = P.finish(P.empty_profile("onnx", "tool"), {"a": ("dense conv", 3.0)}, 4.0, 2)
    rec = {"model": "hpun_s", "scale": 2, "target": "onnx", "precision": "fp32", "method": "fp32", "artifact": None,
           "size_bytes": None, "dataset": "latency", "psnr_y": None, "ssim_y": None, "psnr_delta_vs_torch_fp32": None,
           "latency_ms": None, "ops": None, "status": "ok", "reason": None, "profile": profile}
    summary = {"config": {"model": "hpun_s", "scale": 2, "tile": 256, "overlap": 16, "latency_runs": 10,
                          "latency_warmup": 3, "latency_budget_s": 30.0, "threads": 2, "methods": ["qat"],
                          "qat_steps": 100, "qat_lr": 2e-5},
               "weights": "w", "weights_sha256": "0" * 64, "seconds": 1.0, "records": [rec]}
    md = markdown(summary)
    assert "## Where the time goes: hpun_s onnx fp32" in md and "| dense conv | 3.000 | 75.0% |" in md


def test_the_projects_kernels_have_their_own_groups():
    """hpun::fused_pud_pw_add and hpun::pw_relu_pud_pw_add_q8 contain 'add' and 'relu' but are not
    elementwise ops: each op's group is its op-table entry's."""
    from hpun_edge.ops import OPS

    assert P.classify_aten("hpun::fused_pud.out") == "fused PUD kernel"
    assert P.classify_aten("hpun::fused_pud_pw_add.out") == "fused PUD kernel"
    assert P.classify_aten("hpun.pw_relu_pud_pw_add_q8.default") == "fused PUD kernel"
    assert P.classify_aten("hpun::fused_pub.out") == "fused PUB kernel"
    assert P.classify_aten("aten::add.out") == "elementwise"
    for op in OPS:
        assert P.classify_aten(op.runtime_name) == op.profile_group in P.GROUPS
