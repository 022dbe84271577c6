"""Core ML's int8 reference (int8 weights, fp16 compute) two ways, on one HPUN-S x2 128-pixel tile,
one thread: `HalfCompute` (float32 kernels, every op's result rounded to fp16; what the accuracy
table uses) against torch's own fp16 CPU kernels (the grouped convs fall back to per-group im2col).
`make bench`, or `pytest benchmarks/test_bench_reference.py --benchmark-only --benchmark-enable`."""
from __future__ import annotations

import pytest
import torch

THREADS = 1
TILE = 128


@pytest.mark.parametrize("kernels", ["float32 rounded per op", "torch fp16"])
def test_coreml_reference_tile_latency(benchmark, kernels):
    from hpun_edge.zoo import create_model
    from hpun_edge.quantization.pt2e import weight_only_reference

    model = create_model("hpun_s", 2, pretrained=True).eval()
    if kernels == "torch fp16":
        half = weight_only_reference(model).half()
        forward = lambda x: half(x.half()).float()  # noqa: E731
    else:
        forward = weight_only_reference(model, compute=torch.float16)
    x = torch.rand(1, 3, TILE, TILE, generator=torch.Generator().manual_seed(0))
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        with torch.no_grad():
            benchmark.extra_info.update(threads=THREADS, input_hw=[TILE, TILE], kernels=kernels)
            benchmark.pedantic(forward, args=(x,), rounds=3, warmup_rounds=1)
    finally:
        torch.set_num_threads(before)
