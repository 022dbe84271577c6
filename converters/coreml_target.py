"""Core ML (.mlpackage, ML Program): coremltools ``ct.convert`` of the torch.export'ed program.

Input shapes: enumerated (the tile, half and twice it; the tile is the default); ``compute_precision`` FLOAT32 or
FLOAT16 (I/O stay float32 multi-arrays either way). Conversion runs anywhere; prediction needs
macOS, so off macOS `load` returns a runner that raises "converted, not run (needs macOS)". The
sidecar records the MIL op list (from the saved spec), the input/output description and the size
on disk. The package is built in a temp directory beside the destination and renamed into place.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from .base import ArtifactError, TargetSpec, conv_census, conv_group_problems, read_head, sniff

MINIMUM_DEPLOYMENT_TARGET = "iOS16"
EXPORTER = (
    "coremltools.convert(torch.export.export(...).run_decompositions({}), convert_to='mlprogram', "
    f"compute_precision=..., minimum_deployment_target=ct.target.{MINIMUM_DEPLOYMENT_TARGET})"
)


def convert(module, sample, spec):
    import coremltools as ct
    import numpy as np
    import torch

    # Enumerated input shapes (not a range), so that the Neural Engine stays usable: the tile (the
    # default, what the sidecar and the apps use), half of it and twice it.
    from torch.export import Dim

    half_h, half_w = Dim("half_h", min=4, max=4096), Dim("half_w", min=4, max=4096)
    exported = torch.export.export(module, (sample,), dynamic_shapes={"lr": {2: 2 * half_h, 3: 2 * half_w}},
                                   strict=False).run_decompositions({})
    shapes = ct.EnumeratedShapes(shapes=[[1, 3, t, t] for t in enumerated_tiles(spec.tile)],
                                 default=list(spec.input_shape))
    precision = ct.precision.FLOAT32 if spec.precision == "fp32" else ct.precision.FLOAT16
    mlmodel = ct.convert(
        exported,
        convert_to="mlprogram",
        compute_precision=precision,
        minimum_deployment_target=getattr(ct.target, MINIMUM_DEPLOYMENT_TARGET),
        # float32 I/O at either precision (fp16 would otherwise make the I/O float16 too)
        inputs=[ct.TensorType(name="lr", shape=shapes, dtype=np.float32)],
        outputs=[ct.TensorType(name="sr", dtype=np.float32)],
        skip_model_load=True,  # no compilation/loading here: impossible off macOS, not needed on it
    )
    if spec.precision == "int8":  # weight-only: see hpun_edge.quantization.quantizers for why not W8A8
        from coremltools.optimize.coreml import OpLinearQuantizerConfig, OptimizationConfig, linear_quantize_weights

        config = OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8", granularity="per_channel",
                                         weight_threshold=0)
        mlmodel = linear_quantize_weights(mlmodel, OptimizationConfig(global_config=config))
    return mlmodel


def enumerated_tiles(tile: int) -> list[int]:
    return sorted({t for t in (tile // 2, tile, tile * 2) if t % 2 == 0 and t >= 8})


def write(mlmodel, path: Path) -> None:
    mlmodel.save(str(path))


def _feature(f) -> dict:
    arr = f.type.multiArrayType
    from coremltools.proto import FeatureTypes_pb2

    return {
        "name": f.name,
        "shape": [int(d) for d in arr.shape],
        "dtype": FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name(arr.dataType),
    }


def mil_ops(spec) -> tuple[Counter, list[int]]:
    """Op type counts of the ML Program (consts included) and the `groups` of every conv."""
    consts, by_op, groups = {}, Counter(), []
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            for op in block.operations:
                by_op[op.type] += 1
                if op.type == "const":
                    consts[op.outputs[0].name] = op.attributes["val"]
            for op in block.operations:
                if op.type == "conv":
                    g = op.inputs["groups"].arguments[0].name if "groups" in op.inputs else None
                    value = consts.get(g)
                    groups.append(int(value.immediateValue.tensor.ints.values[0]) if value is not None else 1)
    return by_op, groups


def describe(mlmodel, path: Path, spec, model) -> dict:
    from coremltools.models.utils import load_spec

    ml_spec = load_spec(str(path))
    by_op, groups = mil_ops(ml_spec)
    problems = conv_group_problems(groups, model, "conv ops")
    grouped = sum(g > 1 for g in groups)
    constants = by_op.pop("const", 0)
    return {
        # which compute unit runs each op is decided on the device (not known off macOS)
        "ops": {"total": sum(by_op.values()), "delegated": None, "fallback": [], "by_op": dict(sorted(by_op.items())),
                "const": constants},
        "problems": problems,
        "details": {
            "spec_version": ml_spec.specificationVersion,
            "enumerated_input_tiles": enumerated_tiles(spec.tile),
            "compute_precision": "FLOAT32" if spec.precision == "fp32" else "FLOAT16",
            "weights": "int8 per-channel symmetric (linear_quantize_weights)" if spec.precision == "int8" else spec.precision,
            "inputs": [_feature(f) for f in ml_spec.description.input],
            "outputs": [_feature(f) for f in ml_spec.description.output],
            "conv_groups>1": grouped,
            "model_convolutions": conv_census(model),
            "run_checked": False,  # numerics are checked on macOS only
        },
    }


def check_format(path: Path) -> str | None:
    if path.is_dir():
        if not (path / "Manifest.json").is_file():
            return "not an ML package: no Manifest.json in the directory"
        return None
    head = read_head(path)
    return f"not an ML package (a directory): {sniff(head)}"


def load(path: Path, sidecar, threads: int | None):
    import torch

    if not SPEC.runs_here():

        def refuse(x: torch.Tensor) -> torch.Tensor:
            raise ArtifactError(f"{path}: Core ML model {SPEC.not_here}")

        return refuse

    import coremltools as ct

    mlmodel = ct.models.MLModel(str(path), compute_units=ct.ComputeUnit.CPU_ONLY)

    def run(x: torch.Tensor) -> torch.Tensor:
        out = mlmodel.predict({sidecar.input_name: x.numpy()})[sidecar.output_name]
        return torch.from_numpy(out.astype("float32", copy=False))

    return run


SPEC = TargetSpec(
    name="coreml", title="Core ML (ML Program)", runtime="coreml", suffix=".mlpackage", aliases=("mlpackage",),
    # int8: int8 weights (per-channel symmetric), fp16 compute
    precisions=("fp32", "fp16", "int8"), packages=("coremltools",), extra="coreml", exporter=EXPORTER,
    convert=convert, write=write, describe=describe, check_format=check_format, load=load,
    quantizer="coreml-weights", directory=True, platforms=("darwin",),
)
