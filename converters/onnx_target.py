"""ONNX: ``torch.onnx.export(..., dynamo=True)`` at the fixed tile, run with onnxruntime (CPU EP).

The dynamo exporter (torch.export -> onnxscript) is used: it is the exporter torch 2.9+ maintains;
the TorchScript one (``dynamo=False``) is deprecated there. Both give the same graph for HPUN
(69 Conv with ``group`` kept, 16 MaxPool, 16 Resize, 1 DepthToSpace, Reshape/Transpose for
pixel_unshuffle) and the same outputs. Opset 18, weights inside the file (no external data), per-node debug metadata stripped.

int8 is stored as uint8 QDQ (`as_uint8_qdq`): the same numbers as the PT2E reference's int8, each
quantized value and zero point shifted by +128. Stored as int8, onnxruntime on an x86 CPU without
VNNI runs its QLinearConv as u8 x s8 with VPMADDUBSW, whose int16 pair sums saturate (up to
2 * 255 * 127), and the artifact fell 0.16 dB below its reference on an AVX2-only EPYC; uint8 x uint8
widens to int16 before multiplying and cannot saturate. It is the format onnxruntime's own
quantization docs name for that case, and ARM runs it with its udot kernels.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

TARGET = "onnx"
SUFFIX = ".onnx"
PRECISIONS = ("fp32", "int8")  # int8: QuantizeLinear/DequantizeLinear (QDQ) from the PT2E reference graph
PACKAGES = ("onnx", "onnxscript", "onnxruntime")
DIRECTORY = False
OPSET = 18
EXPORTER = f"torch.onnx.export(dynamo=True, opset_version={OPSET}, external_data=False)"


def convert(module, sample, spec):
    import torch

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

    from .base import conv_group_problems

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
    from .base import sniff

    if not path.is_file():
        return "not a file"
    with open(path, "rb") as f:
        head = f.read(8)
    # A serialized ModelProto starts with field 1 (ir_version, varint): tag byte 0x08.
    if head[:1] != b"\x08":
        return f"not an ONNX model: {sniff(head)}"
    return None


def load(path: Path, sidecar, threads: int | None):
    import numpy as np
    import onnxruntime as ort
    import torch

    from .base import ArtifactError

    opts = ort.SessionOptions()
    if threads is not None:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    inputs = {i.name: i.shape for i in session.get_inputs()}
    outputs = [o.name for o in session.get_outputs()]
    if inputs != {sidecar.input_name: sidecar.input_shape} or outputs != [sidecar.output_name]:
        raise ArtifactError(
            f"{path}: graph inputs {inputs} / outputs {outputs} do not match the sidecar "
            f"({sidecar.input_name} {sidecar.input_shape} -> {sidecar.output_name})"
        )

    def run(x: torch.Tensor) -> torch.Tensor:
        (y,) = session.run([sidecar.output_name], {sidecar.input_name: np.ascontiguousarray(x.numpy())})
        return torch.from_numpy(y)

    return run
