"""Training HPUN (issue 3): config, patch data, the loop, checkpoints.

    from hpun_edge.training import TrainConfig, train
    best_weights = train(TrainConfig(model="hpun_s", scale=2, iterations=1000, run_dir="runs/try"))

Modules: `config` (TrainConfig, config files), `patches` (in-memory data, per-index sampling),
`checkpoint` (safetensors + JSON checkpoints, init-from), `loop` (the loop, DDP), `runlog` (logs,
validation), `cli` (`hpun-edge train`). Needs only torch, numpy, pillow, safetensors and tqdm;
PyYAML and tensorboard are used when installed.
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
