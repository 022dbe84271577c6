"""LiteRT (.tflite): ``litert_torch.convert`` -> ``.export(path)``, run with ai_edge_litert's Interpreter.

litert-torch converts the NCHW torch graph as it is: the .tflite takes and returns NCHW tensors and
inserts TRANSPOSE ops around the NHWC kernels. The runner reads the input tensor's shape and
permutes only if a model is NHWC (as one made with ``litert_torch.to_channel_last_io`` would be), so
it always takes and returns NCHW torch tensors. The signature is named: ``lr`` -> ``sr``.

The op list is read from an Interpreter built without the default XNNPACK delegate (with it, the
delegated ops are listed too, plus a DELEGATE node). The grouped PUD conv must stay a native
CONV_2D (with filter input channels < input channels) and the depthwise SRDSC conv a
DEPTHWISE_CONV_2D; anything else (a split into many convs, a custom/Flex op) is a problem.
"""
from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

from torch import nn

from .base import (
    ArtifactError, TargetSpec, conv_census, one_line, own_dequantize_per_consumer, read_head, shape_problem, sniff,
)
from .profiles import classify_xnnpack, conv_kind, empty_profile, finish

EXPORTER = "litert_torch.convert(module, sample_kwargs={'lr': sample}) -> .export(path)"
SIGNATURE = "serving_default"
CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")


class NamedOutput(nn.Module):
    """Returns {'sr': y}: the LiteRT signature output is then named 'sr' (the input: forward's 'lr')."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, lr):
        return {"sr": self.inner(lr)}


def convert(module, sample, spec):
    import litert_torch

    if spec.precision == "int8":
        from litert_torch.quantize.quant_config import QuantConfig

        from hpun_edge.quantization.quantizers import pt2e_quantizer

        config = QuantConfig(pt2e_quantizer=pt2e_quantizer("litert", qat=False))
        # one dequantize per consumer, or litert-torch's layout pass fails on the PUD's pixel_unshuffle
        return litert_torch.convert(NamedOutput(own_dequantize_per_consumer(module)), sample_kwargs={"lr": sample},
                                    quant_config=config)
    if spec.precision == "fp16":  # fp16 weights, fp32 compute where the kernels have no fp16 path
        from litert_torch.generative.quantize.quant_recipes import full_fp16_recipe

        return litert_torch.convert(NamedOutput(module).eval(), sample_kwargs={"lr": sample},
                                    quant_config=full_fp16_recipe())
    return litert_torch.convert(NamedOutput(module).eval(), sample_kwargs={"lr": sample})


def write(edge_model, path: Path) -> None:
    edge_model.export(str(path))


def op_census(path: Path) -> tuple[Counter, dict[str, int]]:
    """Op counts of the model, and its convolutions: CONV_2D dense/grouped, DEPTHWISE_CONV_2D."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(
        model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    shapes = {t["index"]: [int(d) for d in t["shape"]] for t in it.get_tensor_details()}
    ops = it._get_ops_details()
    by_op = Counter(o["op_name"] for o in ops)
    convs = {"CONV_2D": 0, "CONV_2D grouped": 0, "DEPTHWISE_CONV_2D": 0}
    for o in ops:
        if o["op_name"] == "DEPTHWISE_CONV_2D":
            convs["DEPTHWISE_CONV_2D"] += 1
        elif o["op_name"] == "CONV_2D":
            x, w = shapes[o["inputs"][0]], shapes[o["inputs"][1]]  # NHWC input, OHWI filter
            convs["CONV_2D grouped" if w[-1] != x[-1] else "CONV_2D"] += 1
    return by_op, convs


def describe(edge_model, path: Path, spec, model) -> dict:
    by_op, convs = op_census(path)
    census = conv_census(model)
    problems = []
    n_conv = sum(convs.values())
    if n_conv != census["total"]:
        problems.append(f"{n_conv} CONV_2D/DEPTHWISE_CONV_2D ops for the model's {census['total']} convolutions")
    if convs["DEPTHWISE_CONV_2D"] + convs["CONV_2D grouped"] != census["depthwise"] + census["grouped"]:
        problems.append(
            f"depthwise/grouped convolutions not kept as native ops: {convs['DEPTHWISE_CONV_2D']} "
            f"DEPTHWISE_CONV_2D + {convs['CONV_2D grouped']} grouped CONV_2D for the model's "
            f"{census['depthwise']} depthwise + {census['grouped']} grouped"
        )
    cov = xnnpack_coverage(path, by_op)
    for op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        if cov["fallback_counts"].get(op):
            problems.append(f"{cov['fallback_counts'][op]} {op} op(s) outside the XNNPACK delegate")
    odd = sorted(op for op in by_op if op.startswith(("Flex", "CUSTOM")) or op == "DELEGATE")
    if odd:
        problems.append(f"non-builtin ops: {', '.join(odd)}")
    return {
        "ops": {"total": sum(by_op.values()), "by_op": dict(sorted(by_op.items())), **xnnpack_coverage(path, by_op)},
        "problems": problems,
        "details": {"convolutions": convs, "model_convolutions": census, **_io_shapes(path)},
    }


def xnnpack_coverage(path: Path, by_op: Counter) -> dict:
    """Ops the default XNNPACK delegate takes, and the ones left to LiteRT's own CPU kernels.

    After delegation the interpreter lists the original ops and one DELEGATE op per partition, whose
    inputs and outputs are the partition's boundary tensors. A partition holds the ops reached by
    walking back from its outputs to its inputs; every op reached by no partition falls back.
    """
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()  # the default XNNPACK delegate is applied here
    ops = interpreter._get_ops_details()
    originals = [o for o in ops if o["op_name"] != "DELEGATE"]
    producer = {int(t): o for o in originals for t in o["outputs"]}
    inside: set[int] = set()
    for d in (o for o in ops if o["op_name"] == "DELEGATE"):
        stop = {int(t) for t in d["inputs"]}
        stack = [int(t) for t in d["outputs"]]
        while stack:
            t = stack.pop()
            if t in stop or t not in producer or producer[t]["index"] in inside:
                continue
            inside.add(producer[t]["index"])
            stack.extend(int(i) for i in producer[t]["inputs"] if int(i) >= 0)
    left = Counter(o["op_name"] for o in originals if o["index"] not in inside)
    return {"delegated": len(inside), "fallback": sorted(left), "fallback_counts": dict(sorted(left.items())),
            "partitions": sum(o["op_name"] == "DELEGATE" for o in ops), "delegate": "XNNPACK (LiteRT default)"}


def _io_shapes(path: Path) -> dict:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))  # as the runner builds it: default XNNPACK delegate
    interpreter.allocate_tensors()
    runner = interpreter.get_signature_runner(SIGNATURE)
    partitions = sum(o["op_name"] == "DELEGATE" for o in interpreter._get_ops_details())
    return {
        "xnnpack_delegate_partitions": partitions,
        "signature": SIGNATURE,
        "tflite_inputs": {k: [int(d) for d in v["shape"]] for k, v in runner.get_input_details().items()},
        "tflite_outputs": {k: [int(d) for d in v["shape"]] for k, v in runner.get_output_details().items()},
    }


def check_format(path: Path) -> str | None:
    if not path.is_file():
        return "not a file"
    head = read_head(path)
    if len(head) < 8 or head[4:8] != b"TFL3":  # flatbuffer file identifier
        return f"not a LiteRT/TFLite model: {sniff(head)}"
    return None


def load(path: Path, sidecar, threads: int | None):
    import numpy as np
    import torch
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=threads)  # default: XNNPACK delegate on CPU
    if SIGNATURE not in interpreter.get_signature_list():
        raise ArtifactError(f"{path}: no {SIGNATURE!r} signature")
    runner = interpreter.get_signature_runner(SIGNATURE)
    ins, outs = runner.get_input_details(), runner.get_output_details()
    if set(ins) != {sidecar.input_name} or set(outs) != {sidecar.output_name}:
        raise ArtifactError(
            f"{path}: signature {sorted(ins)} -> {sorted(outs)}, the sidecar says "
            f"{sidecar.input_name} -> {sidecar.output_name}"
        )
    n, c, h, w = sidecar.input_shape
    in_shape = [int(d) for d in ins[sidecar.input_name]["shape"]]
    if in_shape == [n, c, h, w]:
        nhwc = False
    elif in_shape == [n, h, w, c]:
        nhwc = True
    else:
        shape_problem(path, "input", in_shape, sidecar.input_shape)
    out_shape = [int(d) for d in outs[sidecar.output_name]["shape"]]
    shape_problem(path, "output", [out_shape[i] for i in (0, 3, 1, 2)] if nhwc else out_shape, sidecar.output_shape)

    in_detail, out_detail = ins[sidecar.input_name], outs[sidecar.output_name]

    def run(x: torch.Tensor) -> torch.Tensor:
        a = np.ascontiguousarray((x.permute(0, 2, 3, 1) if nhwc else x).numpy())
        if in_detail["dtype"] != np.float32:  # an int8 model takes int8: quantize as the graph's input does
            s, z = in_detail["quantization"]
            info = np.iinfo(in_detail["dtype"])
            a = np.clip(np.round(a / s) + z, info.min, info.max).astype(in_detail["dtype"])
        y = np.array(runner(**{sidecar.input_name: a})[sidecar.output_name])  # a copy: the buffer is reused
        if out_detail["dtype"] != np.float32:
            s, z = out_detail["quantization"]
            y = ((y.astype(np.float32) - z) * s).astype(np.float32)
        y = torch.from_numpy(y)
        return y.permute(0, 3, 1, 2).contiguous() if nhwc else y

    return run


# -------------------------------------------------------------------------------------- profile
LITERT_NOT_AVAILABLE = (
    "not available: the LiteRT Python Interpreter has no per-op profiler; give LiteRT's benchmark_model "
    "(--benchmark-model PATH) to profile with --enable_op_profiling=true"
)
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


def profile(path: Path, input_shape: list[int], *, threads: int | None = None, runs: int = 3, model=None,
            benchmark_model: str | None = None) -> dict:
    """LiteRT's op profile: the Python Interpreter has none (only
    ``experimental_force_delegate_node_profiling``, which feeds a C++ profiler Python cannot attach);
    with a ``benchmark_model`` binary, its ``--enable_op_profiling=true`` table. Without one the
    profile says so (``available: False``)."""
    tool = "LiteRT benchmark_model --enable_op_profiling=true" if benchmark_model else "ai_edge_litert Interpreter"
    if not benchmark_model:
        return empty_profile("litert", tool, available=False, reason=LITERT_NOT_AVAILABLE)
    cmd = [str(benchmark_model), f"--graph={path}", f"--num_runs={runs}", "--warmup_runs=1",
           "--enable_op_profiling=true"] + ([f"--num_threads={threads}"] if threads else [])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        return empty_profile("litert", tool, available=False,
                             reason=f"benchmark_model exited {out.returncode}: {one_line(out.stderr or out.stdout)}")
    return profile_groups(empty_profile("litert", tool), out.stdout + out.stderr, tflite_convs(path))


def tflite_convs(path: Path) -> dict[int, str]:
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


def profile_groups(profile: dict, text: str, convs: dict[int, str] | None = None) -> dict:
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


SPEC = TargetSpec(
    name="litert", title="LiteRT (XNNPACK delegate)", runtime="litert", suffix=".tflite", aliases=("tflite",),
    # fp16: fp16 weights (dequantized at load); int8: the PT2E graph, int8 input/output
    precisions=("fp32", "fp16", "int8"), packages=("litert-torch", "ai-edge-litert"), extra="litert",
    exporter=EXPORTER, convert=convert, write=write, describe=describe, check_format=check_format, load=load,
    profile=profile, quantizer="litert",
    # no pud_dilated: its dilated max-pool becomes MIRROR_PAD + STABLEHLO_REDUCE_WINDOW outside XNNPACK;
    # the plain PUD converts (own_dequantize_per_consumer), all in XNNPACK, and int8 is then faster than
    # fp32 (figures: benchmarks/measured/int8_runtimes.md)
    # pud_bias_apart: the bilinear upsampling reads the grouped conv's bias add (fp32) instead of its int8
    # output, so the converter keeps it fp32 rather than an int8 RESIZE_BILINEAR rounded on its input's
    # grid: HPUN-S x2 PTQ -0.074 / -0.053 dB instead of -0.083 / -0.055 on Set5 / Set14, one 256 tile
    # 278 ms instead of 276 (fp32: 591): benchmarks/measured/litert_bias_apart.md
    int8_rewrites=("pud_bias_apart", "srdsc_fold"),
)
