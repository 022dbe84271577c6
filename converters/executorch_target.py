"""ExecuTorch: torch.export -> to_edge_transform_and_lower(XNNPACK) -> .pte, run with executorch.runtime.

Op coverage is read from the lowered edge graph: ops inside an XNNPACK delegate (the
``lowered_module_*`` submodules' original graphs) against ``call_function`` nodes left in the top
graph (they would run on the portable CPU kernels). ``getitem`` (unpacking the delegate's outputs)
is bookkeeping, not an op, and is not counted. A convolution left outside, above all a depthwise or
grouped one, is a problem recorded in the sidecar.
"""
from __future__ import annotations

import operator
import re
import tempfile
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpun_edge.ops import op_for

from .base import ArtifactError, TargetSpec, conv_census, own_dequantize_per_consumer, read_head, shape_problem, sniff
from .profiles import classify_aten, classify_xnnpack, conv_order, empty_profile, finish, median_after_first

EXPORTER = (
    "torch.export.export -> executorch.exir.to_edge_transform_and_lower(partitioner=[XnnpackPartitioner()])"
    " -> .to_executorch()"
)


@dataclass
class Lowered:
    edge: Any  # EdgeProgramManager, after lowering
    program: Any  # ExecutorchProgramManager


def convert(module, sample, spec) -> Lowered:
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    module = own_dequantize_per_consumer(module)  # an int8 reference graph: a dequantize shared by two ops ties them
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


# A program exported from the project's own-kernel module (the executorch-fused target) calls the
# ``hpun::`` ops outside the delegate by design: the project's kernel library runs them, not
# ExecuTorch's portable kernels; each holds `OpDef.convs` of the model's convolutions. Beside them, a
# channels-last export has the NCHW -> NHWC copy of its input; that copy is expected there.
# (describe sees the graph after to_executorch: out variants.)
LAYOUT_COPIES = ("dim_order_ops._clone_dim_order.default", "dim_order_ops._clone_dim_order.out")


def describe(lowered: Lowered, path: Path, spec, model) -> dict:
    ops = coverage(lowered.edge.exported_program().graph_module)
    convs = ops.pop("convolutions")
    own = {k: v for k, v in ops["fallback_counts"].items() if op_for(k) is not None}
    problems = []
    for kind in ("depthwise", "grouped"):
        if convs["fallback"].get(kind):
            problems.append(f"{convs['fallback'][kind]} {kind} convolution(s) outside the XNNPACK delegate")
    others = {k: v for k, v in convs["fallback"].items() if k not in ("depthwise", "grouped")}
    if others:
        problems.append(f"convolution(s) outside the XNNPACK delegate: {others}")
    census = conv_census(model)
    found = sum(convs["delegated"].values()) + sum(convs["fallback"].values())
    found += sum(n * op_for(k).convs for k, n in own.items())
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
    if not path.is_file():
        return "not a file"
    head = read_head(path)
    # A .pte is a flatbuffer with file identifier 'ET..' at bytes 4..8.
    if len(head) < 8 or head[4:6] != b"ET":
        return f"not an ExecuTorch program (.pte): {sniff(head)}"
    return None


def load(path: Path, sidecar, threads: int | None):
    from executorch.runtime import Runtime

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
    if meta.num_inputs() != 1 or meta.num_outputs() != 1:
        raise ArtifactError(f"{path}: the program has {meta.num_inputs()} inputs and {meta.num_outputs()} outputs, "
                            "the sidecar describes one of each")
    shape_problem(path, "input", list(meta.input_tensor_meta(0).sizes()), sidecar.input_shape)
    shape_problem(path, "output", list(meta.output_tensor_meta(0).sizes()), sidecar.output_shape)

    def run(x: torch.Tensor) -> torch.Tensor:
        (y,) = method.execute((x,))
        return y

    return run


# -------------------------------------------------------------------------------------- profile
_STRUCTURAL = ("Method::execute", "Method::init", "Program::load_method", "OPERATOR_CALL", "DELEGATE_CALL")


def profile(path: Path, input_shape: list[int], *, threads: int | None = None, runs: int = 3, model=None,
            benchmark_model: str | None = None) -> dict:
    """ETDump of `runs` calls (after one warm-up call) of a .pte, grouped (`profiles.GROUPS`).

    The program is loaded with ETDump enabled (pybindings ``_load_for_executorch(...,
    enable_etdump=True)``) and read with ``executorch.devtools.Inspector``. The XNNPACK delegate
    reports its own operators ("Convolution (NHWC, F32) IGEMM #3", ...), so delegated time splits
    per op. XNNPACK names dense and grouped k x k convolutions alike (IGEMM); given the model, the
    n-th IGEMM is the n-th non-depthwise k x k convolution of the forward (when the counts agree;
    otherwise both count as dense and a note says so). Ops outside the delegate are grouped by op."""
    import torch
    from executorch.extension.pybindings import portable_lib

    result = empty_profile("executorch", "ETDump (pybindings enable_etdump) + executorch.devtools.Inspector")
    if threads is not None and portable_lib._threadpool_get_thread_count() != threads:
        portable_lib._unsafe_reset_threadpool(threads)
    module = portable_lib._load_for_executorch(str(path), enable_etdump=True, debug_buffer_size=0)
    x = torch.rand(*input_shape, generator=torch.Generator().manual_seed(0))
    for _ in range(runs + 1):
        module.forward([x])
    with tempfile.TemporaryDirectory() as tmp:
        etdump = Path(tmp) / "profile.etdp"
        module.write_etdump_result_to_file(str(etdump))
        from executorch.devtools import Inspector

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inspector = Inspector(etdump_path=str(etdump))
        events = [e for b in inspector.event_blocks if b.name == "Execute" for e in b.events]
    return profile_groups(result, [(e.name, bool(e.is_delegated_op), list(e.op_types or []),
                                    list(e.perf_data.raw) if e.perf_data else []) for e in events],
                          conv_order(model, input_shape) if model is not None else None)


def profile_groups(profile: dict, events: list[tuple[str, bool, list[str], list[float]]],
                   convs: list[str] | None) -> dict:
    """events: (name, is_delegated_op, op_types, per-call ms), in program order. The first call is
    the warm-up. A program with several delegates (one per stretch between non-delegated ops, as
    around the project's kernels) repeats XNNPACK's names (every delegate has its "GEMM #1"): each
    event is an op of its own, numbered by its occurrence."""
    total, ops = None, {}
    # an op outside the delegate shows as OPERATOR_CALL (op_types only with an ETRecord) wrapping an
    # event that names it (native_call_<op> for kernels of the runtime, the op's own name, such as
    # hpun::fused_pub.out, for custom ops): the named events are counted when there are any
    named = any(not d and n not in _STRUCTURAL for n, d, *_ in events)
    kxk = [k for k in (convs or []) if k in ("dense conv", "grouped conv")]
    igemm = [n for n, d, *_ in events if d and "IGEMM" in n]
    # with one delegate XNNPACK numbers its convolutions in forward order; with several, the events
    # come in program order
    forward = (sorted(range(len(igemm)), key=lambda i: _ordinal(igemm[i])) if len(set(igemm)) == len(igemm)
               else list(range(len(igemm))))
    igemm_group: list[str] | None = None
    if convs is not None and len(igemm) == len(kxk):
        igemm_group = [""] * len(igemm)
        for k, i in enumerate(forward):
            igemm_group[i] = kxk[k]
    elif igemm and any(k == "grouped conv" for k in (convs or [])):
        profile["notes"].append(f"{len(igemm)} XNNPACK IGEMM convolutions for the model's {len(kxk)} dense/grouped "
                                "k x k convolutions: grouped ones are counted as dense")
    calls = 0
    seen: dict[str, int] = defaultdict(int)
    n_igemm = 0
    for name, delegated, op_types, raw in events:
        ms = median_after_first(raw)
        calls = max(calls, len(raw) - 1 if len(raw) > 1 else len(raw))
        if name == "Method::execute":
            total = ms
            continue
        if delegated:
            group = igemm_group[n_igemm] if "IGEMM" in name and igemm_group is not None else classify_xnnpack(name)
            n_igemm += "IGEMM" in name
            key = f"xnnpack: {name}"
        elif named and name not in _STRUCTURAL:
            op = op_types[0] if op_types else name.removeprefix("native_call_")
            group, key = classify_aten(op), (f"portable: {op}" if name.startswith("native_call_") else f"op: {op}")
        elif name == "OPERATOR_CALL" and not named:
            op = op_types[0] if op_types else name
            group, key = classify_aten(op), f"portable: {op}"
        else:
            continue
        seen[key] += 1
        ops[f"{key} [{seen[key]}]" if seen[key] > 1 else key] = (group, ms)
    if not any(d for _, d, *_ in events) and any(n == "DELEGATE_CALL" for n, *_ in events):
        profile["notes"].append("the delegate reported no per-op events: its time is one DELEGATE_CALL (other)")
        for name, _, _, raw in events:
            if name == "DELEGATE_CALL":
                ops[f"DELEGATE_CALL #{len(ops)}"] = ("other", median_after_first(raw))
    return finish(profile, ops, total, calls)


def _ordinal(name: str) -> tuple[str, int]:
    m = re.search(r"^(.*?)\s*#(\d+)$", name)
    return (m.group(1), int(m.group(2))) if m else (name, 0)


SPEC = TargetSpec(
    name="executorch", title="ExecuTorch (XNNPACK)", runtime="executorch", suffix=".pte", aliases=("pte",),
    precisions=("fp32", "int8"), packages=("executorch",), extra="executorch", exporter=EXPORTER,
    convert=convert, write=write, describe=describe, check_format=check_format, load=load, profile=profile,
    quantizer="xnnpack",
    # srdsc_fold: HPUN-S x2 PTQ Set5 -0.181 -> -0.153 dB, one 256 tile 6% faster (README, int8)
    int8_rewrites=("srdsc_fold",),
)
