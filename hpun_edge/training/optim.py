"""Adam, the learning-rate rule and the cosine schedule, and the EMA of the weights.

* `effective_lr`: the configured `lr` is the rate at batch `lr_batch` (16, the paper's); a run whose
  global batch (batch_size x processes) differs scales it by `lr_rule`: "sqrt" (the default; the
  usual rule for Adam), "linear", or "none".
* `cosine_lambda`: lr(step) / lr, a cosine from the effective lr to `min_lr` over `iterations`
  steps, in closed form (so a resumed run needs only the step).
* `Ema`: an exponential moving average of every floating-point tensor of the model (decay
  `ema_decay`, 0.999 by default), held in a second model so that it validates and saves as one.
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

from .config import TrainConfig, effective_lr  # noqa: F401 (effective_lr: the rule, in config)

# Settings whose change on resume makes the run differ from an uninterrupted one.
TRAJECTORY_KEYS = ("data", "iterations", "batch_size", "patch_size", "lr", "min_lr", "beta1", "beta2", "eps",
                   "weight_decay", "augment", "seed", "lr_rule", "lr_batch", "ema_decay")


def cosine_lambda(cfg: TrainConfig, world: int = 1):
    """lr(step) / lr: cosine from the effective lr to min_lr over `iterations` steps (closed form)."""
    floor = min(1.0, cfg.min_lr / effective_lr(cfg, world))

    def factor(step: int) -> float:
        t = min(step, cfg.iterations) / cfg.iterations
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))

    return factor


def build_optimizer(model: nn.Module, cfg: TrainConfig, world: int = 1, *, fused: bool = False,
                    capturable: bool = False):
    """Adam over the trainable parameters (MeanShift is frozen) and its cosine LambdaLR.

    `fused` selects PyTorch's fused Adam kernels; `capturable` keeps Adam's step counts on the
    device so that a CUDA graph can capture the update.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    extra = {"fused": True} if fused else {}
    if capturable:
        extra["capturable"] = True
    opt = torch.optim.Adam(params, lr=effective_lr(cfg, world), betas=(cfg.beta1, cfg.beta2), eps=cfg.eps,
                           weight_decay=cfg.weight_decay, **extra)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, cosine_lambda(cfg, world))


def apply_optimizer_settings(optimizer, scheduler, cfg: TrainConfig, step: int, world: int = 1) -> None:
    """After a resume with changed settings: the config's Adam settings and schedule from `step` on."""
    base = effective_lr(cfg, world)
    lr = base * cosine_lambda(cfg, world)(step)
    for group in optimizer.param_groups:
        group.update(betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, weight_decay=cfg.weight_decay,
                     initial_lr=base, lr=lr)
    scheduler.base_lrs = [base] * len(optimizer.param_groups)
    scheduler.lr_lambdas = [cosine_lambda(cfg, world)] * len(optimizer.param_groups)
    scheduler._last_lr = [lr] * len(optimizer.param_groups)


def keep_engine_flags(optimizer):
    """The implementation flags of `optimizer`'s groups, to put back after `load_state_dict`
    (which copies the saved run's flags: a resume may run on another engine). Restoring also puts
    Adam's step counts where these flags need them: on the parameter's device (float32) for the
    fused or capturable Adam, on the CPU otherwise."""
    saved = [{k: g[k] for k in ("fused", "capturable", "foreach") if k in g} for g in optimizer.param_groups]

    def restore() -> None:
        for g, flags in zip(optimizer.param_groups, saved):
            g.update(flags)
            on_device = bool(g.get("fused") or g.get("capturable"))
            for p in g["params"]:
                state = optimizer.state.get(p, {})
                step = state.get("step")
                if isinstance(step, torch.Tensor):
                    state["step"] = step.to(p.device, torch.float32) if on_device else step.to("cpu")

    return restore


class Ema:
    """An exponential moving average of `model`'s floating-point tensors, kept in a copy of it."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0 < decay < 1:
            raise ValueError(f"ema_decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(model).requires_grad_(False)
        self._src = [t for t in model.state_dict().values() if t.is_floating_point()]
        self._dst = [t for t in self.model.state_dict().values() if t.is_floating_point()]

    @torch.no_grad()
    def update(self) -> None:
        """ema <- ema + (1 - decay) * (weights - ema), for every tensor at once (one foreach op)."""
        torch._foreach_lerp_(self._dst, self._src, 1 - self.decay)

    @torch.no_grad()
    def reset(self) -> None:
        """ema <- the current weights."""
        torch._foreach_copy_(self._dst, self._src)
