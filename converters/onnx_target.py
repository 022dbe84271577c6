"""ONNX: ``torch.onnx.export(..., dynamo=True)`` at the fixed tile, run with onnxruntime (CPU EP).

The dynamo exporter (torch.export -> onnxscript) is used: it is the exporter torch 2.9+ maintains;
the TorchScript one (``dynamo=False``) is deprecated there. Both give the same graph for HPUN
(69 Conv with ``group`` kept, 16 MaxPool, 16 Resize, 1 DepthToSpace, Reshape/Transpose for
pixel_unshuffle, before the rewrite below) and the same outputs. Opset 18, weights inside the file (no external data), per-node debug metadata stripped.

int8 is stored as uint8 QDQ (`as_uint8_qdq`): the same numbers as the PT2E reference's int8, each
quantized value and zero point shifted by +128. Stored as int8, onnxruntime on an x86 CPU without
VNNI runs its QLinearConv as u8 x s8 with VPMADDUBSW, whose int16 pair sums saturate (up to
2 * 255 * 127), and the artifact fell 0.16 dB below its reference on an AVX2-only EPYC; uint8 x uint8
widens to int16 before multiplying and cannot saturate. It is the format onnxruntime's own
quantization docs name for that case, and ARM runs it with its udot kernels.

fp32 converts the PUD with the exact ``pud_dilated`` rewrite (`hpun_edge.rewrites`): it removes the
6-D Transpose of pixel_unshuffle and the grouped conv, which onnxruntime runs slowly (1.8x faster,
the same outputs). int8 takes the XNNPACK quantizer's graph as ExecuTorch does (``srdsc_fold``
only), so that one QAT serves both targets in a pipeline: ``pud_dilated`` would make the int8
artifact about 2x faster too, but a graph of its own needs a QAT of its own (about 2.5 min of the
main job on 2 cores), and int8 stays slower than fp32 in onnxruntime on this AVX2 CPU either way,
which the report says (figures: benchmarks/measured/int8_runtimes.md).
"""
from __future__ import annotations

import json
import statistics
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from torch import nn

from hpun_edge.rewrites import apply_rewrites

from .base import ArtifactError, TargetSpec, conv_group_problems, even_forward, read_head, shape_problem, sniff
from .profiles import conv_kind, empty_profile, finish

OPSET = 18
EXPORTER = f"torch.onnx.export(dynamo=True, opset_version={OPSET}, external_data=False)"
# the exact rewrites of both precisions' graphs (the module docstring)
FP32_REWRITES = ("pud_dilated",)
INT8_REWRITES = ("srdsc_fold",)  # ExecuTorch's: one QAT for both (the module docstring)


def fp32_module(model: nn.Module) -> nn.Module:
    """What is converted at fp32: ``model.forward_even`` with `FP32_REWRITES` (exact; a network
    without PUDs, a bench peer, is converted as it is)."""
    return even_forward(apply_rewrites(model, FP32_REWRITES))


def convert(module, sample, spec):
    import warnings

    import torch

    with warnings.catch_warnings():
        # the int8 module is PT2E's converted graph, which torch.export keeps in training mode (it has
        # no .eval()); HPUN has no dropout or batch norm, so the mode changes nothing in its graph
        warnings.filterwarnings("ignore", message="Exporting a model while it is in training mode")
        return torch.onnx.export(
            module, (sample,), input_names=["lr"], output_names=["sr"], opset_version=OPSET,
            dynamo=True, external_data=False, verbose=False,
        )


def write(onnx_program, path: Path) -> None:
    """Save without the exporter's per-node debug metadata (stack traces with local paths: ~1/4 of
    the file at tile 32), which is no part of the model."""
    import onnx

    onnx_program.save(str(path), external_data=False)
    proto = onnx.load(str(path))
    for node in proto.graph.node:
        del node.metadata_props[:]
    as_uint8_qdq(proto)
    onnx.save(proto, str(path))


def as_uint8_qdq(proto) -> int:
    """Re-encode every int8 QuantizeLinear/DequantizeLinear pair as uint8, in place: zero points and
    quantized constants (the weights) +128, int8 tensor types uint8. Exact: round(x/s) + zp clamped
    to [-128, 127] is, plus 128, the same clamped to [0, 255], and (q - zp) * s is unchanged. Returns
    the number of initializers re-encoded (0 for an fp32 graph)."""
    import numpy as np
    from onnx import TensorProto, numpy_helper

    inits = {t.name: t for t in proto.graph.initializer}
    names = []
    for node in _qdq_nodes(proto.graph):
        if node.op_type == "DequantizeLinear" and node.input[0] in inits:
            names.append(node.input[0])  # a quantized constant
        names.append(node.input[2])
    shifted = [name for name in dict.fromkeys(names) if name in inits and inits[name].data_type == TensorProto.INT8]
    for name in shifted:
        q = numpy_helper.to_array(inits[name]).astype(np.int16) + 128
        inits[name].CopyFrom(numpy_helper.from_array(q.astype(np.uint8), name))
    retyped = {*shifted, *(n.output[0] for n in _qdq_nodes(proto.graph) if n.op_type == "QuantizeLinear")}
    for value in [*proto.graph.value_info, *proto.graph.output]:
        if value.name in retyped and value.type.tensor_type.elem_type == TensorProto.INT8:
            value.type.tensor_type.elem_type = TensorProto.UINT8
    return len(shifted)


def _qdq_nodes(graph) -> list:
    """The QuantizeLinear / DequantizeLinear nodes that name a zero point (their third input)."""
    return [n for n in graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) > 2]


def describe(onnx_program, path: Path, spec, model) -> dict:
    import onnx
    from onnx import TensorProto

    proto = onnx.load(str(path))
    graph = proto.graph
    by_op = Counter(n.op_type for n in graph.node)
    groups = [
        next((a.i for a in n.attribute if a.name == "group"), 1) for n in graph.node if n.op_type == "Conv"
    ]
    problems = conv_group_problems(groups, model, "Conv nodes")
    grouped = sum(g > 1 for g in groups)
    qdq_zero_points = {n.input[2] for n in _qdq_nodes(graph)}
    custom = sorted({n.op_type for n in graph.node if n.domain not in ("", "ai.onnx")})
    if custom:
        problems.append(f"ops outside the default ONNX domain: {', '.join(custom)}")
    return {
        # onnxruntime's CPU execution provider runs every node (no delegate to fall out of)
        "ops": {"total": sum(by_op.values()), "delegated": sum(by_op.values()), "fallback": [],
                "delegate": "CPUExecutionProvider", "by_op": dict(sorted(by_op.items()))},
        "problems": problems,
        "details": {
            "opset": next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None),
            "conv_groups>1": grouped,
            "qdq_dtypes": sorted({TensorProto.DataType.Name(t.data_type).lower() for t in graph.initializer
                                  if t.name in qdq_zero_points}),
            "inputs": [i.name for i in graph.input],
            "outputs": [o.name for o in graph.output],
        },
    }


def check_format(path: Path) -> str | None:
    if not path.is_file():
        return "not a file"
    head = read_head(path)
    # A serialized ModelProto starts with field 1 (ir_version, varint): tag byte 0x08.
    if head[:1] != b"\x08":
        return f"not an ONNX model: {sniff(head)}"
    return None


def load(path: Path, sidecar, threads: int | None):
    import numpy as np
    import onnxruntime as ort
    import torch

    opts = ort.SessionOptions()
    if threads is not None:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if [i.name for i in inputs] != [sidecar.input_name] or [o.name for o in outputs] != [sidecar.output_name]:
        raise ArtifactError(f"{path}: graph inputs {[i.name for i in inputs]} / outputs {[o.name for o in outputs]} "
                            f"do not match the sidecar ({sidecar.input_name} -> {sidecar.output_name})")
    shape_problem(path, "input", inputs[0].shape, sidecar.input_shape)
    shape_problem(path, "output", outputs[0].shape, sidecar.output_shape)

    def run(x: torch.Tensor) -> torch.Tensor:
        (y,) = session.run([sidecar.output_name], {sidecar.input_name: np.ascontiguousarray(x.numpy())})
        return torch.from_numpy(y)

    return run


# -------------------------------------------------------------------------------------- profile
_ONNX = {
    "MaxPool": "pooling", "AveragePool": "pooling", "GlobalAveragePool": "pooling", "QLinearAveragePool": "pooling",
    "Resize": "interpolation", "Upsample": "interpolation", "QLinearResize": "interpolation",
    "DepthToSpace": "(un)shuffle/transposes", "SpaceToDepth": "(un)shuffle/transposes",
    "Transpose": "(un)shuffle/transposes", "Reshape": "(un)shuffle/transposes", "ReorderInput": "(un)shuffle/transposes",
    "ReorderOutput": "(un)shuffle/transposes", "Concat": "(un)shuffle/transposes", "Pad": "(un)shuffle/transposes",
    "Slice": "(un)shuffle/transposes", "Identity": "(un)shuffle/transposes",
    "QuantizeLinear": "quantize/convert", "DequantizeLinear": "quantize/convert", "Cast": "quantize/convert",
    "DynamicQuantizeLinear": "quantize/convert",
}
_ONNX_ELEMENTWISE = ("Add", "Sub", "Mul", "Div", "Relu", "Clip", "Max", "Min", "Sigmoid", "Sum", "QLinearAdd",
                     "QLinearMul", "LeakyRelu", "Sqrt", "Neg")


def classify_onnx(op_type: str, input_shapes: list[list[int]]) -> str:
    """An onnxruntime node: a Conv's kind from its first two 4-d inputs (x, weight)."""
    if "Conv" in op_type:
        four = [s for s in input_shapes if len(s) == 4]
        if len(four) >= 2:
            x, w = four[0], four[1]
            return conv_kind(x[1], w[0], w[1], w[2], w[3])
        return "dense conv"
    if op_type in _ONNX:
        return _ONNX[op_type]
    if op_type in _ONNX_ELEMENTWISE:
        return "elementwise"
    return "other"


def profile(path: Path, input_shape: list[int], *, threads: int | None = None, runs: int = 3, model=None,
            benchmark_model: str | None = None) -> dict:
    """onnxruntime's own profiler (``SessionOptions.enable_profiling``, a Chrome-trace JSON): its
    ``Node`` events carry the op type and input shapes, from which a Conv's kind follows."""
    import numpy as np
    import onnxruntime as ort

    result = empty_profile("onnx", "onnxruntime SessionOptions.enable_profiling (Chrome-trace JSON)")
    with tempfile.TemporaryDirectory() as tmp:
        opts = ort.SessionOptions()
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(tmp) / "ort")
        if threads is not None:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).random(input_shape, dtype=np.float32)
        name = session.get_inputs()[0].name
        for _ in range(runs + 1):
            session.run(None, {name: x})
        trace = json.loads(Path(session.end_profiling()).read_text())
    return profile_groups(result, trace)


def profile_groups(profile: dict, trace: list[dict]) -> dict:
    """Group an onnxruntime profile: node events assigned to their model_run; the first run dropped."""
    runs = sorted((e for e in trace if e.get("cat") == "Session" and e.get("name") == "model_run"),
                  key=lambda e: e["ts"])
    kept = runs[1:] if len(runs) > 1 else runs
    per_node: dict[str, list[float]] = defaultdict(list)
    group_of: dict[str, str] = {}
    for e in trace:
        if e.get("cat") != "Node" or not str(e.get("name", "")).endswith("_kernel_time"):
            continue
        if kept and not any(r["ts"] <= e["ts"] <= r["ts"] + r["dur"] for r in kept):
            continue
        args = e.get("args", {})
        shapes = [next(iter(s.values())) for s in args.get("input_type_shape", []) if s]
        name = e["name"][: -len("_kernel_time")]
        group_of[name] = classify_onnx(args.get("op_name", ""), shapes)
        per_node[name].append(e["dur"] / 1e3)
    n = max(len(kept), 1)
    ops = {name: (group_of[name], sum(v) / n) for name, v in per_node.items()}
    total = statistics.median(r["dur"] / 1e3 for r in kept) if kept else None
    return finish(profile, ops, total, len(kept))


SPEC = TargetSpec(
    name="onnx", title="ONNX Runtime (CPU)", runtime="onnxruntime", suffix=".onnx", precisions=("fp32", "int8"),
    packages=("onnx", "onnxscript", "onnxruntime"), extra="onnx", exporter=EXPORTER,
    convert=convert, write=write, describe=describe, check_format=check_format, load=load, profile=profile,
    # int8: the XNNPACK quantizer's graph as QuantizeLinear/DequantizeLinear pairs (stored as uint8 QDQ)
    quantizer="xnnpack", int8_rewrites=INT8_REWRITES, fp32_module=fp32_module,
)
