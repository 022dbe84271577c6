"""Training HPUN (issue 3): config, patch data, the loop, checkpoints.

    from hpun_edge.training import TrainConfig, train
    best_weights = train(TrainConfig(model="hpun_s", scale=2, iterations=1000, run_dir="runs/try"))

Modules: `config` (TrainConfig, config files), `patches` (in-memory data, per-index sampling),
`device_data` (the pairs on the device, cropped there), `steps` (the eager and fast step engines,
CUDA graphs), `optim` (Adam, lr rule, cosine, EMA), `checkpoint` (safetensors + JSON checkpoints,
init-from), `history` (cycles in model cards), `loop` (the loop, DDP, runs together), `runlog`
(logs, validation), `probe` (throughput), `campaign` and `carry` (warm-restart campaigns on a lent
GPU), `zoo` (plans), `cli` (`hpun-edge train`, `train-zoo`, `train-campaign`); docs/training.md.
Needs only torch, numpy, pillow, safetensors and tqdm; PyYAML and tensorboard are used when installed.
"""
from __future__ import annotations

__all__ = ["TrainConfig", "train"]


def __getattr__(name: str):
    if name == "TrainConfig":
        from .config import TrainConfig

        return TrainConfig
    if name == "train":
        from .loop import train

        return train
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
