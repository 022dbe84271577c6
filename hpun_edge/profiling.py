"""Where each runtime's time goes: a per-op profile of one artifact, folded into op groups.

Groups (`GROUPS`): dense k x k conv, 1x1 conv, depthwise conv, grouped conv, (un)shuffle/transposes
(pixel (un)shuffle, transposes, layout reorders, copies), pooling, interpolation, elementwise (add,
ReLU, clamp, ...), fused PUD kernel (the project's own ``hpun::fused_pud``, unshuffle to ``+ x`` in
one op, and ``hpun::fused_pud_pw(_add)``, that with the PUD's 1x1 conv and relu or residual add),
fused dw + 1x1 kernel (``hpun::dw_pw_add``), fused PUB kernel (``hpun::fused_pub``, a whole PUB:
PUD, 1x1, relu, 5x5 depthwise, 1x1 and residual add), fused 1x1 kernel (``hpun::pw_relu``), quantize/convert
(int8 boundaries), other, and runtime overhead (the part of a call that no op accounts for). Times are milliseconds per call (one tile), the median over the profiled
calls after one warm-up call.

* ExecuTorch: the program is loaded with ETDump enabled (pybindings ``_load_for_executorch(...,
  enable_etdump=True)``), the ETDump is read with ``executorch.devtools.Inspector``. The XNNPACK
  delegate of the executorch wheel reports its own operators ("Convolution (NHWC, F32) IGEMM #3",
  "Fully Connected (NC, F32) GEMM #1", "Convolution (NHWC, F32) DWConv #2", ...), so delegated time
  splits per op, not one DELEGATE_CALL. XNNPACK names dense and grouped k x k convolutions alike
  (IGEMM); given the model, they are told apart by order: the n-th IGEMM is the n-th non-depthwise
  k x k convolution of the forward (when the counts agree; otherwise both count as dense and a note
  says so). Ops left outside the delegate are OPERATOR_CALL events, grouped by their aten op.
* ONNX Runtime: ``SessionOptions.enable_profiling`` writes a Chrome-trace JSON; its ``Node`` events
  (``*_kernel_time``) carry the op type and input shapes, from which a Conv's kind follows (the
  weight's shape against the input's channels, NCHWc-blocked or not).
* LiteRT: the Python ``ai_edge_litert.interpreter.Interpreter`` has no per-op profiler (only
  ``experimental_force_delegate_node_profiling``, which feeds a C++ profiler Python cannot attach).
  Without a ``benchmark_model`` binary the profile says so (``available: False``) and shows one
  explicit 'not available' row. With one (``--benchmark-model PATH``), it is run with
  ``--enable_op_profiling=true`` and its 'Operator-wise Profiling Info' table is parsed.
"""
from __future__ import annotations

import json
import re
import statistics
import subprocess
import tempfile
import warnings
from collections import defaultdict
from pathlib import Path

GROUPS = ("dense conv", "1x1 conv", "depthwise conv", "grouped conv", "(un)shuffle/transposes", "pooling",
          "interpolation", "elementwise", "fused PUD kernel", "fused dw + 1x1 kernel", "fused PUB kernel",
          "fused 1x1 kernel",
          "quantize/convert", "other", "runtime overhead")
LITERT_NOT_AVAILABLE = (
    "not available: the LiteRT Python Interpreter has no per-op profiler; give LiteRT's benchmark_model "
    "(--benchmark-model PATH) to profile with --enable_op_profiling=true"
)


# -------------------------------------------------------------------------------- classification
def conv_kind(c_in: int, w_out: int, w_in_per_group: int, kh: int, kw: int) -> str:
    """The group of a convolution: input channels, weight (out, in/groups, kh, kw)."""
    groups = max(1, c_in // max(1, w_in_per_group))
    if groups == 1:
        return "1x1 conv" if (kh, kw) == (1, 1) else "dense conv"
    if w_in_per_group == 1 and w_out == groups:
        return "depthwise conv"
    return "grouped conv"


_XNN = (  # XNNPACK operator names (ExecuTorch's delegate, LiteRT's default delegate), checked in order
    ("DWConv", "depthwise conv"), ("IGEMM", "dense conv"), ("GEMM", "1x1 conv"), ("Fully Connected", "1x1 conv"),
    ("Deconvolution", "dense conv"), ("Convolution", "dense conv"),
    ("Depth To Space", "(un)shuffle/transposes"), ("Space To Depth", "(un)shuffle/transposes"),
    ("Transpose", "(un)shuffle/transposes"), ("Copy", "(un)shuffle/transposes"), ("Reshape", "(un)shuffle/transposes"),
    ("Slice", "(un)shuffle/transposes"), ("Concat", "(un)shuffle/transposes"), ("Pad", "(un)shuffle/transposes"),
    ("Pooling", "pooling"), ("Resize", "interpolation"), ("Convert", "quantize/convert"),
    ("Add", "elementwise"), ("Multiply", "elementwise"), ("Subtract", "elementwise"), ("Divide", "elementwise"),
    ("Clamp", "elementwise"), ("ReLU", "elementwise"), ("Minimum", "elementwise"), ("Maximum", "elementwise"),
    ("Binary", "elementwise"), ("Unary", "elementwise"), ("Sigmoid", "elementwise"), ("HardSwish", "elementwise"),
)


def classify_xnnpack(name: str) -> str:
    for key, group in _XNN:
        if key.lower() in name.lower():
            return group
    return "other"


_ATEN = (
    # the project's own ops (native/kernels), before the generic names their names contain (add, relu)
    ("hpun::fused_pud", "fused PUD kernel"), ("hpun::dw_pw_add", "fused dw + 1x1 kernel"),
    ("hpun::fused_pub", "fused PUB kernel"),
    ("hpun::pw_relu_pud_pw_add", "fused PUD kernel"), ("hpun::pw_relu", "fused 1x1 kernel"),
    ("hpun::pw_q8", "fused 1x1 kernel"),
    ("quantize", "quantize/convert"), ("dequantize", "quantize/convert"), ("_to_copy", "quantize/convert"),
    ("pixel_shuffle", "(un)shuffle/transposes"), ("pixel_unshuffle", "(un)shuffle/transposes"),
    ("permute", "(un)shuffle/transposes"), ("transpose", "(un)shuffle/transposes"), ("view", "(un)shuffle/transposes"),
    ("clone", "(un)shuffle/transposes"), ("cat", "(un)shuffle/transposes"), ("pad", "(un)shuffle/transposes"),
    ("pool", "pooling"), ("upsample", "interpolation"), ("interpolate", "interpolation"), ("grid_sample", "interpolation"),
    ("convolution", "dense conv"),
    ("add", "elementwise"), ("mul", "elementwise"), ("sub", "elementwise"), ("div", "elementwise"), ("relu", "elementwise"),
    ("clamp", "elementwise"), ("hardtanh", "elementwise"), ("sigmoid", "elementwise"), ("minimum", "elementwise"),
    ("maximum", "elementwise"),
)


def classify_aten(op: str) -> str:
    for key, group in _ATEN:
        if key in op:
            return group
    return "other"


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


_TFLITE = {
    "DEPTHWISE_CONV_2D": "depthwise conv", "MAX_POOL_2D": "pooling", "AVERAGE_POOL_2D": "pooling",
    "RESIZE_BILINEAR": "interpolation", "RESIZE_NEAREST_NEIGHBOR": "interpolation",
    "DEPTH_TO_SPACE": "(un)shuffle/transposes", "SPACE_TO_DEPTH": "(un)shuffle/transposes",
    "TRANSPOSE": "(un)shuffle/transposes", "RESHAPE": "(un)shuffle/transposes", "CONCATENATION": "(un)shuffle/transposes",
    "PAD": "(un)shuffle/transposes", "SLICE": "(un)shuffle/transposes", "STRIDED_SLICE": "(un)shuffle/transposes",
    "GATHER": "(un)shuffle/transposes", "QUANTIZE": "quantize/convert", "DEQUANTIZE": "quantize/convert",
    "ADD": "elementwise", "SUB": "elementwise", "MUL": "elementwise", "DIV": "elementwise", "RELU": "elementwise",
    "RELU6": "elementwise", "MAXIMUM": "elementwise", "MINIMUM": "elementwise", "LOGISTIC": "elementwise",
}


def classify_tflite(node_type: str, conv: str | None = None) -> str:
    """A benchmark_model row: a builtin op name, or an XNNPACK operator name (delegated)."""
    if node_type == "CONV_2D":
        return conv or "dense conv"
    if node_type in _TFLITE:
        return _TFLITE[node_type]
    if node_type.isupper():
        return "other"
    return classify_xnnpack(node_type)


# ---------------------------------------------------------------------------------- the profile
def empty_profile(runtime: str, tool: str, available: bool = True, reason: str | None = None) -> dict:
    return {"runtime": runtime, "tool": tool, "available": available, "reason": reason, "per_call_ms": None,
            "calls": 0, "groups": {}, "ops": [], "notes": []}


def finish(profile: dict, ops: dict[str, tuple[str, float]], per_call_ms: float | None, calls: int) -> dict:
    """ops: name -> (group, ms per call). Fills groups (in GROUPS order), the top ops, overhead."""
    groups: dict[str, float] = defaultdict(float)
    for group, ms in ops.values():
        groups[group] += ms
    if per_call_ms is not None:
        rest = per_call_ms - sum(groups.values())
        groups["runtime overhead"] += max(rest, 0.0)
    profile["groups"] = {g: round(groups[g], 4) for g in GROUPS if groups.get(g)}
    profile["per_call_ms"] = round(per_call_ms, 4) if per_call_ms is not None else round(sum(groups.values()), 4)
    profile["calls"] = calls
    top = sorted(ops.items(), key=lambda kv: -kv[1][1])[:12]
    profile["ops"] = [{"name": n, "group": g, "ms": round(ms, 4)} for n, (g, ms) in top]
    return profile


def _median(values: list[float], drop_first: bool = True) -> float:
    vals = values[1:] if drop_first and len(values) > 1 else values
    return statistics.median(vals) if vals else 0.0


def conv_order(model, tile: int) -> list[str]:
    """The groups of the model's convolutions in forward order (for telling IGEMM convs apart),
    traced on a 'meta' copy of the model (no compute)."""
    import copy

    import torch
    from torch import nn

    order: list[str] = []

    def hook(m: nn.Conv2d, inputs, output) -> None:
        w = m.weight.shape
        order.append(conv_kind(inputs[0].shape[1], w[0], w[1], w[2], w[3]))

    meta = copy.deepcopy(model).to("meta")
    for m in meta.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(hook)
    with torch.no_grad():
        getattr(meta, "forward_even", meta)(torch.empty(1, 3, tile, tile, device="meta"))
    return order


# ----------------------------------------------------------------------------------- ExecuTorch
def executorch_profile(path: str | Path, input_shape: list[int], *, threads: int | None = None, runs: int = 3,
                       model=None) -> dict:
    """ETDump of `runs` calls (after one warm-up call) of a .pte, grouped."""
    import torch
    from executorch.extension.pybindings import portable_lib

    profile = empty_profile("executorch", "ETDump (pybindings enable_etdump) + executorch.devtools.Inspector")
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
    return executorch_groups(profile, [(e.name, bool(e.is_delegated_op), list(e.op_types or []),
                                        list(e.perf_data.raw) if e.perf_data else []) for e in events],
                             conv_order(model, input_shape[-1]) if model is not None else None)


_STRUCTURAL = ("Method::execute", "Method::init", "Program::load_method", "OPERATOR_CALL", "DELEGATE_CALL")


def executorch_groups(profile: dict, events: list[tuple[str, bool, list[str], list[float]]],
                      convs: list[str] | None) -> dict:
    """events: (name, is_delegated_op, op_types, per-call ms), in program order. The first call is
    the warm-up. A program with several delegates (one per stretch between non-delegated ops, as
    around the fused PUD kernel) repeats XNNPACK's names (every delegate has its "GEMM #1"): each
    event is an op of its own, numbered by its occurrence."""
    total, ops = None, {}
    # an op outside the delegate shows as OPERATOR_CALL (op_types only with an ETRecord) wrapping an
    # event that names it (native_call_<op> for kernels of the runtime, the op's own name, such as
    # hpun::fused_pud.out, for custom ops): the named events are counted when there are any
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
        ms = _median(raw)
        calls = max(calls, len(raw) - 1 if len(raw) > 1 else len(raw))
        if name == "Method::execute":
            total = ms
            continue
        if delegated:
            if "IGEMM" in name and igemm_group is not None:
                group = igemm_group[n_igemm]
            else:
                group = classify_xnnpack(name)
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
                ops[f"DELEGATE_CALL #{len(ops)}"] = ("other", _median(raw))
    return finish(profile, ops, total, calls)


def _ordinal(name: str) -> tuple[str, int]:
    m = re.search(r"^(.*?)\s*#(\d+)$", name)
    return (m.group(1), int(m.group(2))) if m else (name, 0)


# -------------------------------------------------------------------------------- ONNX Runtime
def onnx_profile(path: str | Path, input_shape: list[int], *, threads: int | None = None, runs: int = 3,
                 input_name: str = "lr") -> dict:
    import numpy as np
    import onnxruntime as ort

    profile = empty_profile("onnx", "onnxruntime SessionOptions.enable_profiling (Chrome-trace JSON)")
    with tempfile.TemporaryDirectory() as tmp:
        opts = ort.SessionOptions()
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(tmp) / "ort")
        if threads is not None:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).random(input_shape, dtype=np.float32)
        for _ in range(runs + 1):
            session.run(None, {input_name: x})
        trace = json.loads(Path(session.end_profiling()).read_text())
    return onnx_groups(profile, trace)


def onnx_groups(profile: dict, trace: list[dict]) -> dict:
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
    ops = {f"{name}": (group_of[name], sum(v) / n) for name, v in per_node.items()}
    total = statistics.median(r["dur"] / 1e3 for r in kept) if kept else None
    return finish(profile, ops, total, len(kept))


# -------------------------------------------------------------------------------------- LiteRT
def litert_profile(path: str | Path, *, threads: int | None = None, runs: int = 3,
                   benchmark_model: str | None = None) -> dict:
    tool = "LiteRT benchmark_model --enable_op_profiling=true" if benchmark_model else "ai_edge_litert Interpreter"
    if not benchmark_model:
        p = empty_profile("litert", tool, available=False, reason=LITERT_NOT_AVAILABLE)
        return p
    cmd = [str(benchmark_model), f"--graph={path}", f"--num_runs={runs}", "--warmup_runs=1",
           "--enable_op_profiling=true"] + ([f"--num_threads={threads}"] if threads else [])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        from converters.base import one_line

        return empty_profile("litert", tool, available=False,
                             reason=f"benchmark_model exited {out.returncode}: {one_line(out.stderr or out.stdout)}")
    return benchmark_model_groups(empty_profile("litert", tool), out.stdout + out.stderr, tflite_convs(path))


def tflite_convs(path: str | Path) -> dict[int, str]:
    """op index -> group for the CONV_2D ops of a .tflite (dense / 1x1 / grouped), from its tensors."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        it = Interpreter(model_path=str(path),
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    except Exception:
        return {}
    shapes = {t["index"]: [int(d) for d in t["shape"]] for t in it.get_tensor_details()}
    out = {}
    for o in it._get_ops_details():
        if o["op_name"] == "CONV_2D":
            x, w = shapes[o["inputs"][0]], shapes[o["inputs"][1]]  # NHWC, OHWI
            out[o["index"]] = conv_kind(x[-1], w[0], w[-1], w[1], w[2])
    return out


_ROW = re.compile(r"^\s*(?P<type>\S.*?)\s{2,}(?P<start>[\d.]+)\s+(?P<first>[\d.]+)\s+(?P<avg>[\d.]+)\s+"
                  r"(?P<pct>[\d.]+)%\s+(?P<cdf>[\d.]+)%\s+(?P<mem>[\d.]+)\s+(?P<times>\d+)\s+(?P<name>.*)$")


def benchmark_model_groups(profile: dict, text: str, convs: dict[int, str] | None = None) -> dict:
    """Parse the 'Run Order' table of benchmark_model's op profiling for the regular runs."""
    at = text.find("Operator-wise Profiling Info for Regular Benchmark Runs")
    if at < 0:
        profile.update(available=False, reason="benchmark_model printed no op profile (--enable_op_profiling)")
        return profile
    section = text[at:]
    end = section.find("Top by Computation Time")
    section = section[: end if end > 0 else len(section)]
    ops = {}
    for line in section.splitlines():
        m = _ROW.match(line.replace("\t", "  "))
        if not m or m.group("type").startswith("["):
            continue
        node_type, name = m.group("type").strip(), m.group("name").strip()
        idx = re.search(r":(\d+)$", name)
        conv = (convs or {}).get(int(idx.group(1))) if idx else None
        ops[f"{node_type} {name}"] = (classify_tflite(node_type, conv), float(m.group("avg")))
    timings = re.findall(r"Timings \(microseconds\): count=(\d+).*?avg=([\d.e+]+)", text[at:])
    total = float(timings[0][1]) / 1e3 if timings else None
    calls = int(timings[0][0]) if timings else 0
    return finish(profile, ops, total, calls)


# --------------------------------------------------------------------------------- entry points
def profile_artifact(path: str | Path, *, threads: int | None = None, runs: int = 3, model=None,
                     benchmark_model: str | None = None) -> dict:
    """The grouped per-op profile of an exported artifact (its sidecar gives the input)."""
    from converters.base import SUFFIXES, read_sidecar

    path = Path(path)
    target = SUFFIXES.get(path.suffix)
    sidecar = read_sidecar(path)
    try:
        if target == "executorch":
            return executorch_profile(path, sidecar.input_shape, threads=threads, runs=runs, model=model)
        if target == "onnx":
            return onnx_profile(path, sidecar.input_shape, threads=threads, runs=runs, input_name=sidecar.input_name)
        if target == "litert":
            return litert_profile(path, threads=threads, runs=runs, benchmark_model=benchmark_model)
    except Exception as e:  # a profile that fails does not fail the bench: it says why
        from converters.base import one_line

        return empty_profile(target or "?", "profiling", available=False,
                             reason=f"profiling failed: {type(e).__name__}: {one_line(e)}")
    return empty_profile(target or "?", "-", available=False, reason=f"no op profiler wired for {target}")


def profile_markdown(profile: dict) -> str:
    """The profile as a markdown table (group, ms per call, share), for report.md and the bench."""
    head = [f"{profile.get('runtime', '?')}: {profile.get('tool', '')}", "",
            "| group | ms per call | share |", "|---|---|---|"]
    if not profile.get("available", True):
        return "\n".join(head + [f"| (not available) | - | - |", "", f"{profile.get('reason')}"])
    total = profile.get("per_call_ms") or sum(profile.get("groups", {}).values()) or 0.0
    rows = [f"| {g} | {ms:.3f} | {100 * ms / total if total else 0:.1f}% |" for g, ms in profile["groups"].items()]
    rows.append(f"| total | {total:.3f} | 100% |")
    tail = [""] + [f"Note: {n}" for n in profile.get("notes", [])]
    if profile.get("ops"):
        tail += ["", "Top ops: " + "; ".join(f"{o['name']} ({o['group']}) {o['ms']:.3f} ms" for o in profile["ops"][:5])]
    return "\n".join(head + rows + tail).rstrip()
