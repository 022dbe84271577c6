"""int8 against fp32 in LiteRT and ONNX Runtime (issue 21): build variants, read their ops, time them
alternated, measure their accuracy.

    python scripts/int8_runtimes.py build litert fp32 "int8@srdsc_fold" "int8@pud_dilated,srdsc_fold"
    python scripts/int8_runtimes.py time litert fp32 "int8@srdsc_fold" --rounds 7 [--image]
    python scripts/int8_runtimes.py accuracy litert "int8@srdsc_fold" --datasets Set5
    python scripts/int8_runtimes.py build onnx fp32 "fp32@pud_phases" "int8@srdsc_fold" "ortq:qop:pc:u8u8@srdsc_fold"
    python scripts/int8_runtimes.py time onnx "fp32|all" "int8@srdsc_fold|extended" --rounds 5

A variant is ``PRECISION[:ORT OPTIONS][@REWRITES][#FP32 PARTS][~qat][|ORT LEVEL]``:

* PRECISION ``fp32`` (``model.forward_even`` with the variant's rewrites only, whatever the target's
  own fp32 module: ``fp32`` is the plain PUD also for onnx, whose artifacts use ``pud_dilated``);
  ``int8``: the pipeline's PT2E int8 (the target's quantizer, PTQ unless ``~qat``,
  then 300 steps at lr 1e-4, the pipeline's QAT); ``ortq`` (ONNX only): onnxruntime's own
  ``quantize_static`` on the fp32 ONNX graph, calibrated on the pipeline's 64 training patches
  (48 px, through a copy of the graph exported with dynamic height/width), options
  ``qop|qdq`` (QOperator or QDQ format), ``pc|pt`` (per-channel or per-tensor weights),
  ``u8u8|u8s8|s8s8`` (activation and weight types), ``rr`` (reduce_range) and ``nomp`` (MaxPool
  not quantized).
* REWRITES: comma-separated `hpun_edge.rewrites` names (``srdsc_fold``, ``pud_dilated``, and
  `hpun_edge.lowering`'s ``pud_phases``, ``pud_phases_split``, ``pud_shiftmax``, ``pud_sepmax``);
  none by default (not the target's own: name them).
* FP32 PARTS: comma-separated `hpun_edge.quantization.mixed.FloatParts` words, ``default`` (the
  pipeline's, the default for int8) or ``none``. For ``ortq`` they become ``nodes_to_exclude``
  (matched on the ONNX nodes' module scopes) and Add is not quantized with ``residual_adds``.
* ORT LEVEL (ONNX, a runtime setting, not part of the artifact): ``basic``, ``extended``, ``all``
  (onnxruntime's default) for the session's graph optimisation level.

Artifacts go to ``--out`` (default out/int8_runtimes/<target>/), one per variant, with the
pipeline's sidecar (`hpun_edge.converters.export`); an existing one is reused (delete the folder
after changing the code: the name says the variant, not the code's version). ``time`` loads every
variant in one process and runs them in turn, round after round (the median of the rounds per variant), so a
drift of this shared machine hits all alike; one tile (``--tile``, 256) or, with ``--image``, a
640x360 LR image through the pipeline's fixed-tile tiling (6 tiles). Each command prints a markdown
table and, with ``--json``, writes it (results.json-like records) to that file.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpun_edge.quantization.mixed import DEFAULT_FP32_PARTS, FloatParts  # noqa: E402
from hpun_edge.rewrites import apply_rewrites, check_rewrites  # noqa: E402

SUFFIX = {"litert": ".tflite", "onnx": ".onnx"}
LEVELS = ("basic", "extended", "all")
# The LiteRT GPU delegate's op check, tensorflow/lite/tools/versioning/gpu_compatibility.cc
# (CheckGpuDelegateCompatibility, tensorflow/tensorflow master): builtins it can take (each with
# conditions; MIRROR_PAD reflect only); anything else, STABLEHLO_* among them, is "Not supported op".
GPU_DELEGATE_OPS = frozenset("""
ADD ADD_N AVERAGE_POOL_2D BATCH_MATMUL CAST CONCATENATION CONV_2D CUMSUM DENSIFY DEPTHWISE_CONV_2D
DEPTH_TO_SPACE DEQUANTIZE EMBEDDING_LOOKUP DYNAMIC_UPDATE_SLICE FULLY_CONNECTED GATHER HARD_SWISH LSTM
MAX_POOL_2D MEAN MUL PACK ONE_HOT QUANTIZE RELU_N1_TO_1 PRELU RESHAPE SELECT SELECT_V2 SLICE SOFTMAX
SPACE_TO_DEPTH SPLIT SPLIT_V STRIDED_SLICE TILE TRANSPOSE TRANSPOSE_CONV RESIZE_BILINEAR
RESIZE_NEAREST_NEIGHBOR RELU RELU6 LEAKY_RELU REDUCE_MAX REDUCE_MIN REDUCE_PROD SUM PAD PADV2 MIRROR_PAD
ABS CEIL COS ELU EXP FLOOR GELU LOG LOGISTIC NEG RSQRT SIGN SIN SQRT SQUARE TANH ATAN2 DIV EQUAL
FLOOR_DIV FLOOR_MOD GREATER GREATER_EQUAL LOGICAL_AND LESS LESS_EQUAL MAXIMUM MINIMUM NOT_EQUAL POW
SQUARED_DIFFERENCE SUB STABLEHLO_CLAMP""".split())
# The published list (https://www.tensorflow.org/lite/performance/gpu, "GPU ML operations support":
# 16- and 32-bit float ops; QUANTIZE/DEQUANTIZE need its quantized-model support).
GPU_DELEGATE_DOC_OPS = frozenset("""
ADD AVERAGE_POOL_2D CONCATENATION CONV_2D DEPTHWISE_CONV_2D EXP FULLY_CONNECTED LOGICAL_AND LOGISTIC
LSTM MAX_POOL_2D MAXIMUM MINIMUM MUL PAD PRELU RELU RELU6 RESHAPE RESIZE_BILINEAR SOFTMAX STRIDED_SLICE
SUB TRANSPOSE_CONV""".split())


# ------------------------------------------------------------------------------------ variants
@dataclass(frozen=True)
class Variant:
    text: str
    precision: str  # fp32 | int8 | ortq
    ort_options: tuple[str, ...] = ()
    rewrites: tuple[str, ...] = ()
    parts: tuple[str, ...] = ()
    method: str = "ptq"
    level: str | None = None

    @property
    def slug(self) -> str:
        """The artifact's file name (without the ORT level, a runtime setting)."""
        core = self.text.split("|")[0]
        return re.sub(r"[^A-Za-z0-9._+-]+", "_", core.replace("#", "+parts_").replace("@", "+")).strip("_")

    @property
    def fp32_parts(self) -> FloatParts:
        return FloatParts.from_names(list(self.parts))


def parse_variant(text: str) -> Variant:
    rest, level = (text.split("|", 1) + [None])[:2]
    if level is not None and level not in LEVELS:
        raise SystemExit(f"{text}: ORT level must be one of {', '.join(LEVELS)}")
    method = "ptq"
    if rest.endswith("~qat"):
        rest, method = rest[:-4], "qat"
    rest, parts = (rest.split("#", 1) + [None])[:2]
    rest, rewrites = (rest.split("@", 1) + [""])[:2]
    precision, *options = rest.split(":")
    if precision not in ("fp32", "int8", "ortq"):
        raise SystemExit(f"{text}: precision must be fp32, int8 or ortq")
    if parts is None:
        parts_t = tuple(DEFAULT_FP32_PARTS) if precision != "fp32" else ()
    elif parts == "default":
        parts_t = tuple(DEFAULT_FP32_PARTS)
    elif parts == "none":
        parts_t = ()
    else:
        parts_t = tuple(p for p in parts.split(",") if p)
    rw = check_rewrites([r for r in rewrites.split(",") if r])
    return Variant(text, precision, tuple(options), rw, parts_t, method, level)


# ------------------------------------------------------------------------------------- building
class Context:
    def __init__(self, args):
        from hpun_edge.zoo import create_model, pretrained_path

        self.args = args
        self.model = create_model(args.model, args.scale, pretrained=True).eval()
        self.weights = str(pretrained_path(args.model, args.scale))
        self._cal = None

    @property
    def cal(self):
        if self._cal is None:
            from hpun_edge.quantization.calibration import load_calibration

            self._cal = load_calibration(None, self.args.scale)
        return self._cal

    def path(self, target: str, v: Variant) -> Path:
        return Path(self.args.out) / target / f"{self.args.model}_x{self.args.scale}_t{self.args.tile}_{v.slug}{SUFFIX[target]}"


def build(ctx: Context, target: str, v: Variant) -> Path:
    from hpun_edge.converters import ExportSpec, export, get_target
    from hpun_edge.converters.base import even_forward

    path = ctx.path(target, v)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    model, args = ctx.model, ctx.args
    t0 = time.monotonic()
    if v.precision == "ortq":
        if target != "onnx":
            raise SystemExit(f"{v.text}: ortq is onnxruntime's quantizer, for onnx only")
        build_ortq(ctx, v, path)
    elif v.precision == "fp32":
        spec = ExportSpec(target, args.model, args.scale, args.tile, "fp32", ctx.weights)
        export(model, spec, path, module=even_forward(apply_rewrites(model, v.rewrites)))
    else:
        from hpun_edge.app.config import PipelineConfig, qat_config
        from hpun_edge.quantization.pt2e import quantize

        qat, train = None, None
        if v.method == "qat":
            from hpun_edge.data import resolve_data_root

            qat, train = qat_config(PipelineConfig()), resolve_data_root(None) / "train"
        q = quantize(model, get_target(target).quantizer, v.method, ctx.cal, rewrites=v.rewrites, fp32_parts=v.fp32_parts, qat=qat,
                     train_folder=train, ckpt_dir=path.with_suffix(".qat") if qat else None,
                     say=lambda line: print(f"   {line}", file=sys.stderr, flush=True))
        spec = ExportSpec(target, args.model, args.scale, args.tile, "int8", ctx.weights)
        export(model, spec, path, quantized=q)
        if args.ref_datasets:  # the fake-quant reference's accuracy, for the artifact's agreement
            ref = {ds: psnr_on(q.reference, ds, args) for ds in args.ref_datasets}
            path.with_suffix(".reference.json").write_text(json.dumps(ref))
    print(f"built {path.name} in {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    return path


def onnx_scopes(node) -> str:
    """The innermost module path of an exported ONNX node ('body.0.0.pud.pointwise'), '' for none."""
    md = {p.key: p.value for p in node.metadata_props}
    try:
        scopes = json.loads(md.get("pkg.torch.onnx.name_scopes", "[]").replace("'", '"'))
    except ValueError:
        return ""
    mods = [s for s in scopes if s.startswith("model.")]
    return mods[-1][len("model."):] if mods else ""


def build_ortq(ctx: Context, v: Variant, path: Path) -> None:
    """onnxruntime.quantization.quantize_static on the fp32 graph (exported with dynamic H/W so
    that it calibrates on the pipeline's 48 px patches), then fixed to the tile."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    from torch.export import Dim

    from hpun_edge.converters.base import even_forward
    from hpun_edge.converters.onnx_target import OPSET

    opts = set(v.ort_options)
    fmt = QuantFormat.QOperator if "qop" in opts else QuantFormat.QDQ
    types = next((o for o in opts if o in ("u8u8", "u8s8", "s8s8")), "u8s8")
    act = QuantType.QUInt8 if types.startswith("u8") else QuantType.QInt8
    wt = QuantType.QUInt8 if types.endswith("u8") else QuantType.QInt8
    tile = ctx.args.tile
    module = even_forward(apply_rewrites(ctx.model, v.rewrites))
    h, w = Dim("h2", min=2, max=2048), Dim("w2", min=2, max=2048)
    dyn = path.with_suffix(".dynamic.onnx")
    prog = torch.onnx.export(module, (ctx.cal.lr[:1],), input_names=["lr"], output_names=["sr"], opset_version=OPSET,
                             dynamo=True, dynamic_shapes=({2: 2 * h, 3: 2 * w},), external_data=False, verbose=False)
    prog.save(str(dyn), external_data=False)
    proto = onnx.load(str(dyn))
    parts = v.fp32_parts
    patterns = [re.compile(p) for p in parts.modules]
    exclude, op_types = [], ["Conv", "MaxPool", "Resize", "Concat", "Slice", "Max", "Relu", "Add"]
    if "nomp" in opts:  # the max-pools stay fp32 (onnxruntime's uint8 MaxPool is a generic NCHW loop)
        op_types.remove("MaxPool")
    for node in proto.graph.node:
        scope = onnx_scopes(node)
        if parts.mean_shift and scope in ("sub_mean", "add_mean"):
            exclude.append(node.name)
        elif any(p.search(scope) for p in patterns):
            exclude.append(node.name)
        elif parts.residual_adds and node.op_type == "Add":
            exclude.append(node.name)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"lr": ctx.cal.lr[i : i + 1].numpy()} for i in range(len(ctx.cal))])

        def get_next(self):
            return next(self.batches, None)

    qpath = path.with_suffix(".dynamic.int8.onnx")
    quantize_static(str(dyn), str(qpath), Reader(), quant_format=fmt, per_channel="pc" in opts,
                    reduce_range="rr" in opts, activation_type=act, weight_type=wt, op_types_to_quantize=op_types,
                    nodes_to_exclude=exclude, extra_options={"ActivationSymmetric": False})
    q = onnx.load(str(qpath))
    s = ctx.args.scale
    for value, dims in ((q.graph.input[0], [1, 3, tile, tile]), (q.graph.output[0], [1, 3, s * tile, s * tile])):
        for d, n in zip(value.type.tensor_type.shape.dim, dims):
            d.ClearField("dim_param")
            d.dim_value = n
    del q.graph.value_info[:]
    for node in q.graph.node:
        del node.metadata_props[:]
    onnx.save(q, str(path))
    dyn.unlink()
    qpath.unlink()
    path.with_suffix(".json").write_text(json.dumps({"variant": v.text, "excluded_nodes": len(exclude),
                                                     "quant_format": fmt.name, "activation": act.name,
                                                     "weight": wt.name, "per_channel": "pc" in opts,
                                                     "reduce_range": "rr" in opts}))


# -------------------------------------------------------------------------------------- reading
def litert_census(path: Path) -> dict:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from hpun_edge.converters.litert_target import op_census, xnnpack_coverage

    by_op, convs = op_census(path)
    cov = xnnpack_coverage(path, by_op)
    it = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    rank = max(len(t["shape"]) for t in it.get_tensor_details())
    ops = sorted(by_op)
    return {"ops": sum(by_op.values()), "delegated": cov["delegated"], "partitions": cov["partitions"],
            "fallback": cov["fallback_counts"], "max_rank": rank, "by_op": dict(sorted(by_op.items())),
            "convolutions": convs,
            "gpu_refused_source": [op for op in ops if op not in GPU_DELEGATE_OPS],
            "gpu_not_in_doc_list": [op for op in ops if op not in GPU_DELEGATE_DOC_OPS]}


def onnx_census(path: Path) -> dict:
    import onnx
    from collections import Counter

    proto = onnx.load(str(path))
    by_op = Counter(n.op_type for n in proto.graph.node)
    return {"ops": sum(by_op.values()), "by_op": dict(sorted(by_op.items()))}


# -------------------------------------------------------------------------------------- running
def runner(ctx: Context, target: str, v: Variant, path: Path):
    """A forward NCHW torch tensor -> NCHW torch tensor at the tile, ``--threads`` threads."""
    threads = ctx.args.threads
    if target == "litert":
        from hpun_edge.converters import load_artifact

        return load_artifact(path, threads=threads)[0]
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    level = v.level or "all"
    so.graph_optimization_level = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                   "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                                   "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[level]
    if ctx.args.profile:
        so.enable_profiling = True
        so.profile_file_prefix = str(path.with_suffix("")) + f".{level}.profile"
    session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    name_in, name_out = session.get_inputs()[0].name, session.get_outputs()[0].name

    def run(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run([name_out], {name_in: np.ascontiguousarray(x.numpy())})[0])

    run.session = session
    return run


def psnr_on(forward, dataset: str, args) -> float:
    from hpun_edge.data import find_dataset
    from hpun_edge.evaluate import evaluate_dataset
    from hpun_edge.inference import InferenceOptions, upscale

    opts = InferenceOptions(tile=args.tile, overlap=16, fixed_size=True)
    with torch.no_grad():
        r = evaluate_dataset(lambda lr: upscale(forward, lr, args.scale, opts), find_dataset(dataset, None), args.scale)
    return round(float(r.psnr_y), 4)


def alternate(runs: dict, args) -> dict[str, list[float]]:
    """Each forward once per round, in turn; milliseconds per call (a tile or the whole image)."""
    from hpun_edge.app.latency import LATENCY_HW
    from hpun_edge.inference import tiled_forward

    g = torch.Generator().manual_seed(0)
    if args.image:
        x = torch.rand(1, 3, *LATENCY_HW, generator=g)

        def call(f):
            with torch.inference_mode():
                tiled_forward(f, x, args.scale, args.tile, 16, fixed_size=True)
    else:
        x = torch.rand(1, 3, args.tile, args.tile, generator=g)

        def call(f):
            f(x)
    for f in runs.values():  # warm-up
        call(f)
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(args.rounds):
        for k, f in runs.items():
            t0 = time.perf_counter()
            call(f)
            times[k].append(1000 * (time.perf_counter() - t0))
    return times


# ------------------------------------------------------------------------------------- commands
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=("build", "time", "accuracy"))
    p.add_argument("target", choices=("litert", "onnx"))
    p.add_argument("variants", nargs="+")
    p.add_argument("--model", default="hpun_s")
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--image", action="store_true", help="time a 640x360 LR image through the tiling (6 tiles)")
    p.add_argument("--datasets", nargs="+", default=["Set5"])
    p.add_argument("--ref-datasets", nargs="*", default=[],
                   help="build: also measure each int8 variant's fake-quant reference on these datasets")
    p.add_argument("--profile", action="store_true", help="onnx: write onnxruntime profiles beside the artifacts")
    p.add_argument("--out", default="out/int8_runtimes")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    ctx = Context(args)
    variants = [parse_variant(t) for t in args.variants]
    paths = {v.text: build(ctx, args.target, v) for v in variants}
    records = []
    if args.command == "build":
        census = litert_census if args.target == "litert" else onnx_census
        print("| variant | ops | delegated | partitions | max rank | outside XNNPACK | GPU delegate refuses (source) "
              "| not in the GPU doc list | size |" if args.target == "litert" else "| variant | ops | by op | size |")
        print("|---|---|---|---|---|---|---|---|---|" if args.target == "litert" else "|---|---|---|---|")
        for v in variants:
            c = census(paths[v.text])
            size = paths[v.text].stat().st_size / 1e6
            records.append({"variant": v.text, "artifact": str(paths[v.text]), "bytes": paths[v.text].stat().st_size, **c})
            if args.target == "litert":
                print(f"| {v.text} | {c['ops']} | {c['delegated']} | {c['partitions']} | {c['max_rank']} | "
                      f"{c['fallback'] or '-'} | {', '.join(c['gpu_refused_source']) or '-'} | "
                      f"{', '.join(c['gpu_not_in_doc_list']) or '-'} | {size:.2f} MB |")
            else:
                print(f"| {v.text} | {c['ops']} | {c['by_op']} | {size:.2f} MB |")
    elif args.command == "time":
        runs = {v.text: runner(ctx, args.target, v, paths[v.text]) for v in variants}
        times = alternate(runs, args)
        what = "640x360 LR through 256 tiles" if args.image else f"one {args.tile} tile"
        print(f"| variant | median ms ({what}, {args.threads} threads, {args.rounds} alternated rounds) | min | max |")
        print("|---|---|---|---|")
        for v in variants:
            t = times[v.text]
            records.append({"variant": v.text, "input": what, "threads": args.threads, "rounds": args.rounds,
                            "median_ms": round(statistics.median(t), 1), "ms": [round(x, 1) for x in t]})
            print(f"| {v.text} | {statistics.median(t):.0f} | {min(t):.0f} | {max(t):.0f} |")
        if args.profile:
            for v in variants:
                runs[v.text].session.end_profiling() if hasattr(runs[v.text], "session") else None
    else:
        print("| variant | " + " | ".join(args.datasets) + " | fake-quant reference |")
        print("|---|" + "---|" * (len(args.datasets) + 1))
        for v in variants:
            f = runner(ctx, args.target, v, paths[v.text])
            psnr = {ds: psnr_on(f, ds, args) for ds in args.datasets}
            refp = paths[v.text].with_suffix(".reference.json")
            ref = json.loads(refp.read_text()) if refp.exists() else {}
            records.append({"variant": v.text, "psnr_y": psnr, "reference_psnr_y": ref})
            print(f"| {v.text} | " + " | ".join(f"{psnr[d]:.3f}" for d in args.datasets) + f" | {ref or '-'} |")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"command": args.command, "target": args.target, "model": args.model,
                                               "scale": args.scale, "tile": args.tile, "records": records}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
