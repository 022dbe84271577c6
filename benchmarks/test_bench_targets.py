"""Per-target latency of HPUN-S/M x2 artifacts: one tile, and a 640x360 LR image through the tiling.

The same measurements as the pipeline's report (`hpun_edge.app.latency`), as pytest-benchmark cases
so that commits can be compared (`make bench`, or `--benchmark-save` / `--benchmark-compare`).
The artifacts are the pipeline's (`hpun_edge.app.artifacts.ArtifactMaker`), made once per session
in a temp folder; int8 is PTQ on 32 training patches (latency does not depend on how the int8
weights were found). Every target whose runtime runs here. Threads: 2, stated in extra_info.
"""
from __future__ import annotations

import pytest
import torch

from hpun_edge.app.latency import LATENCY_HW
from hpun_edge.converters import TARGETS
from hpun_edge.inference import tiled_forward

THREADS = 2
TILE = 256
OVERLAP = 16
CASES = [(m, t.name, p) for m in ("hpun_s", "hpun_m") for t in TARGETS.values() if t.runs_here()
         for p in ("fp32", "int8") if p in t.precisions]


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory, data_root):
    return {"dir": tmp_path_factory.mktemp("bench_artifacts"), "cache": {}, "data_root": data_root}


def artifact(artifacts, model_name, target, precision):
    from hpun_edge.app.config import Job, PipelineConfig, int8_methods
    from hpun_edge.app.pipeline import artifact_maker, load_network
    from hpun_edge.converters import load_artifact

    key = (model_name, target, precision)
    if key not in artifacts["cache"]:
        cfg = PipelineConfig(model=model_name, scale=2, tile=TILE, overlap=OVERLAP, methods=("ptq",), calib_count=32,
                             data_root=str(artifacts["data_root"]), out=str(artifacts["dir"]))
        maker = artifact_maker(cfg, *load_network(cfg))
        method = int8_methods(target, cfg.methods)[0] if precision == "int8" else precision
        path = maker.artifact(Job(target, precision, method))
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
