"""ExecuTorch: torch.export -> to_edge_transform_and_lower(XNNPACK) -> .pte, run with executorch.runtime.

Op coverage is read from the lowered edge graph: ops inside an XNNPACK delegate (the
``lowered_module_*`` submodules' original graphs) against ``call_function`` nodes left in the top
graph (they would run on the portable CPU kernels). ``getitem`` (unpacking the delegate's outputs)
is bookkeeping, not an op, and is not counted. A convolution left outside, above all a depthwise or
grouped one, is a problem recorded in the sidecar.
"""
from __future__ import annotations

import operator
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TARGET = "executorch"
SUFFIX = ".pte"
PRECISIONS = ("fp32", "int8")  # int8: the XNNPACKQuantizer reference graph (quantization/)
PACKAGES = ("executorch",)
DIRECTORY = False
EXPORTER = (
    "torch.export.export -> executorch.exir.to_edge_transform_and_lower(partitioner=[XnnpackPartitioner()])"
    " -> .to_executorch()"
)


@dataclass
class Lowered:
    edge: Any  # EdgeProgramManager, after lowering
    program: Any  # ExecutorchProgramManager


def duplicate_shared_dequantize(gm) -> int:
    """Give every consumer of a shared `dequantize_per_tensor` its own copy (same function).

    XNNPACK's partitioner puts a quantized op together with its dequantize inputs; a dequantize
    shared by two ops ties them into one group. When an fp32 op sits between them (with mixed
    precision: the head's int8 output read by the first block's add and, 40 ops later, by the
    global skip add), that group has a dependency cycle and lowering fails ("Invalid partition,
    found dependency cycles"). Returns how many copies were made.
    """
    import torch

    made = 0
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or "dequantize_per_tensor" not in str(node.target) or len(node.users) < 2:
            continue
        for user in list(node.users)[1:]:
            with gm.graph.inserting_before(user):
                copy = gm.graph.call_function(node.target, node.args, node.kwargs)
            copy.meta = dict(node.meta)
            user.replace_input_with(node, copy)
            made += 1
    if made:
        gm.graph.lint()
        gm.recompile()
    return made


def convert(module, sample, spec) -> Lowered:
    import copy

    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    if isinstance(module, torch.fx.GraphModule):  # an int8 reference graph (quantization/): not in place
        module = copy.deepcopy(module)
        duplicate_shared_dequantize(module)
    exported = torch.export.export(module, (sample,), strict=False)
    edge = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()])
    return Lowered(edge, edge.to_executorch())


def write(lowered: Lowered, path: Path) -> None:
    with open(path, "wb") as f:
        lowered.program.write_to_file(f)


def op_name(target) -> str:
    """'aten.convolution.default' for an aten/edge op, the function name otherwise."""
    name = getattr(target, "_name", None)  # OpOverload / EdgeOpOverload: 'aten::convolution', 'aten::add.Tensor'
    overload = getattr(target, "_overloadname", None)
    if isinstance(name, str) and overload is not None:
        name = name.replace("::", ".")
        return name if name.endswith(f".{overload}") else f"{name}.{overload}"
    return getattr(target, "__name__", str(target))


def _conv_kind(node) -> str | None:
    """dense / pointwise / depthwise / grouped for an aten.convolution node, None otherwise."""
    if "convolution" not in op_name(node.target):
        return None
    weight = node.args[1].meta.get("val")
    groups = node.args[8] if len(node.args) > 8 else 1
    if weight is None:
        return "unknown"
    c_out, c_in_per_group, kh, kw = weight.shape
    if groups == 1:
        return "pointwise" if (kh, kw) == (1, 1) else "dense"
    return "depthwise" if c_in_per_group == 1 and c_out == groups else "grouped"


def coverage(graph_module) -> dict:
    """Ops inside / outside the delegates of a lowered edge graph module."""
    delegated: Counter = Counter()
    fallback: Counter = Counter()
    convs = {"delegated": Counter(), "fallback": Counter()}
    subgraphs = 0
    for node in graph_module.graph.nodes:
        if node.op == "get_attr" and node.name.startswith("lowered_module_"):
            subgraphs += 1
            lowered = getattr(graph_module, node.target)
            for inner in lowered.original_module.graph.nodes:
                if inner.op == "call_function" and inner.target is not operator.getitem:
                    delegated[op_name(inner.target)] += 1
                    kind = _conv_kind(inner)
                    if kind:
                        convs["delegated"][kind] += 1
        elif node.op == "call_function":
            name = op_name(node.target)
            if node.target is operator.getitem or name in ("executorch_call_delegate", "alloc"):
                continue  # bookkeeping; alloc: to_executorch's planned output buffer of an op outside the delegates
            fallback[name] += 1
            kind = _conv_kind(node)
            if kind:
                convs["fallback"][kind] += 1
    return {
        "delegated": sum(delegated.values()),
        "total": sum(delegated.values()) + sum(fallback.values()),
        "fallback": sorted(fallback),
        "fallback_counts": dict(sorted(fallback.items())),
        "delegated_by_op": dict(sorted(delegated.items())),
        "delegate": "XnnpackBackend",
        "subgraphs": subgraphs,
        "convolutions": {k: dict(sorted(v.items())) for k, v in convs.items()},
    }


# The project's own operators (native/kernels, converters/custom_ops.py): outside the delegate by
# design, run by the project's kernel library, not by ExecuTorch's portable kernels. hpun::fused_pud
# holds one grouped conv of the model, hpun::fused_pud_pw(_add) that and the PUD's 1x1 conv,
# hpun::dw_pw_add a depthwise and a 1x1 conv, hpun::pw_relu a 1x1 conv, hpun::pw_relu_pud_pw_add
# (HPUN-S's front block) a 1x1, the grouped and a 1x1 conv, hpun::fused_pub (a PUB) the grouped, a 1x1,
# the depthwise and a 1x1 conv. Beside them, a channels-last export (ChannelsLastIO) has a few
# layout copies (the NCHW input, the pixel-shuffle tail, the NCHW output; ChannelsLastHPUN only the input's);
# those are expected there.
# (describe sees the graph after to_executorch: out variants.)
OWN_OPS_PREFIX = "hpun."
OWN_OP_CONVS = {"hpun.fused_pud.default": 1, "hpun.fused_pud.out": 1, "hpun.fused_pud_pw.default": 2,
                "hpun.fused_pud_pw.out": 2, "hpun.fused_pud_pw_add.default": 2, "hpun.fused_pud_pw_add.out": 2,
                "hpun.dw_pw_add.default": 2, "hpun.dw_pw_add.out": 2, "hpun.pw_relu.default": 1, "hpun.pw_relu.out": 1,
                "hpun.pw_relu_pud_pw_add.default": 3, "hpun.pw_relu_pud_pw_add.out": 3,
                "hpun.fused_pub.default": 4, "hpun.fused_pub.out": 4,
                # their int8 forms (converters/int8_ops.py): the same convs, one 1x1 conv in int8
                "hpun.pw_q8.default": 1, "hpun.pw_q8.out": 1,
                "hpun.pw_relu_pud_pw_add_q8.default": 3, "hpun.pw_relu_pud_pw_add_q8.out": 3,
                "hpun.fused_pub_q8.default": 4, "hpun.fused_pub_q8.out": 4}
LAYOUT_COPIES = ("dim_order_ops._clone_dim_order.default", "dim_order_ops._clone_dim_order.out")


def describe(lowered: Lowered, path: Path, spec, model) -> dict:
    from .base import conv_census

    ops = coverage(lowered.edge.exported_program().graph_module)
    convs = ops.pop("convolutions")
    own = {k: v for k, v in ops["fallback_counts"].items() if k.startswith(OWN_OPS_PREFIX)}
    problems = []
    for kind in ("depthwise", "grouped"):
        if convs["fallback"].get(kind):
            problems.append(f"{convs['fallback'][kind]} {kind} convolution(s) outside the XNNPACK delegate")
    others = {k: v for k, v in convs["fallback"].items() if k not in ("depthwise", "grouped")}
    if others:
        problems.append(f"convolution(s) outside the XNNPACK delegate: {others}")
    census = conv_census(model)
    found = sum(convs["delegated"].values()) + sum(convs["fallback"].values())
    found += sum(n * OWN_OP_CONVS.get(k, 0) for k, n in own.items())
    if found != census["total"]:
        problems.append(f"{found} convolution nodes for the model's {census['total']} convolutions")
    portable = [k for k in ops["fallback"] if k not in own and not (own and k in LAYOUT_COPIES)]
    if portable:
        problems.append(f"ops left to the portable CPU kernels: {', '.join(portable)}")
    details = {"convolutions": convs, "model_convolutions": census}
    if own:
        details["own_ops"] = own
    return {"ops": ops, "problems": problems, "details": details}


def check_format(path: Path) -> str | None:
    from .base import sniff

    if not path.is_file():
        return "not a file"
    with open(path, "rb") as f:
        head = f.read(8)
    # A .pte is a flatbuffer with file identifier 'ET..' at bytes 4..8.
    if len(head) < 8 or head[4:6] != b"ET":
        return f"not an ExecuTorch program (.pte): {sniff(head)}"
    return None


def load(path: Path, sidecar, threads: int | None):
    import torch
    from executorch.runtime import Runtime

    from .base import ArtifactError

    runtime = Runtime.get()
    if not runtime.backend_registry.is_available("XnnpackBackend"):
        raise ArtifactError(f"{path}: this executorch build has no XnnpackBackend")
    if threads is not None:  # process-wide: ExecuTorch has one CPU threadpool
        from executorch.extension.pybindings import portable_lib

        if portable_lib._threadpool_get_thread_count() != threads:
            portable_lib._unsafe_reset_threadpool(threads)
    program = runtime.load_program(path)
    if "forward" not in program.method_names:
        raise ArtifactError(f"{path}: no 'forward' method (methods: {sorted(program.method_names)})")
    method = program.load_method("forward")
    meta = method.metadata
    sizes = list(meta.input_tensor_meta(0).sizes()) if meta.num_inputs() == 1 else None
    if sizes != sidecar.input_shape:
        raise ArtifactError(f"{path}: the program takes {sizes}, the sidecar says {sidecar.input_shape}")

    def run(x: torch.Tensor) -> torch.Tensor:
        (y,) = method.execute((x,))
        return y

    return run
