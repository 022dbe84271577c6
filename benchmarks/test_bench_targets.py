"""Per-target latency of HPUN-S/M x2 artifacts: one tile, and a 640x360 LR image through the tiling.

The same measurements as the pipeline's report (`hpun_edge.benchmark`), as pytest-benchmark cases
so that commits can be compared (`make bench`, or `--benchmark-save` / `--benchmark-compare`).
Artifacts are exported once per session into a temp folder; int8 is PTQ on 32 training patches
(latency does not depend on how the int8 weights were found). Threads: 2, stated in extra_info.
"""
from __future__ import annotations

import pytest
import torch

from hpun_edge.benchmark import LATENCY_HW
from hpun_edge.inference import tiled_forward

THREADS = 2
TILE = 256
OVERLAP = 16
CASES = [(m, t, p) for m in ("hpun_s", "hpun_m") for t in ("executorch", "litert", "onnx") for p in ("fp32", "int8")]


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory, data_root):
    return {"dir": tmp_path_factory.mktemp("bench_artifacts"), "cache": {}, "data_root": data_root}


def artifact(artifacts, model_name, target, precision):
    from converters import ExportSpec, export, load_artifact
    from converters.base import SUFFIXES
    from hpun_edge.pipeline import INT8_REWRITES
    from hpun_edge.zoo import create_model, pretrained_path
    from quantization.calibration import load_calibration
    from quantization.pt2e import quantize

    key = (model_name, target, precision)
    if key not in artifacts["cache"]:
        model = create_model(model_name, 2, pretrained=True).eval()
        suffix = {v: k for k, v in SUFFIXES.items()}[target]
        path = artifacts["dir"] / f"{model_name}_{target}_{precision}{suffix}"
        q = None
        if precision == "int8":
            cal = load_calibration(None, 2, count=32, data_root=artifacts["data_root"])
            q = quantize(model, target, "ptq", cal, rewrites=INT8_REWRITES[target])
        export(model, ExportSpec(target, model_name, 2, TILE, precision, str(pretrained_path(model_name, 2))), path,
               quantized=q)
        artifacts["cache"][key] = load_artifact(path, threads=THREADS)
    return artifacts["cache"][key]


@pytest.mark.parametrize("model_name,target,precision", CASES, ids=lambda v: str(v))
def test_tile_latency(benchmark, artifacts, model_name, target, precision):
    runner, sidecar = artifact(artifacts, model_name, target, precision)
    x = torch.rand(1, 3, TILE, TILE, generator=torch.Generator().manual_seed(0))
    benchmark.extra_info.update(threads=THREADS, input_hw=[TILE, TILE], size_bytes=sidecar.artifact_bytes)
    benchmark.pedantic(runner, args=(x,), rounds=10, warmup_rounds=2)


@pytest.mark.parametrize("model_name,target,precision", CASES, ids=lambda v: str(v))
def test_640x360_latency(benchmark, artifacts, model_name, target, precision):
    runner, sidecar = artifact(artifacts, model_name, target, precision)
    x = torch.rand(1, 3, *LATENCY_HW, generator=torch.Generator().manual_seed(0))
    benchmark.extra_info.update(threads=THREADS, input_hw=list(LATENCY_HW), tile=TILE, overlap=OVERLAP)
    benchmark.pedantic(lambda: tiled_forward(runner, x, 2, TILE, OVERLAP, fixed_size=True), rounds=5,
                       warmup_rounds=1)
