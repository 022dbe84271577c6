"""QAT's fine-tuning: a fake-quantized module trained on training patches, checkpointed, resumable.

Shared by the PT2E quantizers (`pt2e`: the prepared graph) and the project's kernels' own scheme
(`fused_int8`: its fake-quant model). The recipe is the training's (`hpun_edge.training`: patches
that are a pure function of (seed, i), Adam) at a short budget: a cosine learning rate to 0 over
``steps``, L1 to HR or distillation from the fp32 model. The state (tensors in safetensors, the step
and settings in JSON) is written atomically every ``ckpt_every`` steps; a run with other settings
in the same folder is refused.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from hpun_edge.files import atomic_write_bytes
from hpun_edge.training.patches import PatchDataset

from .calibration import train_images
from .errors import QuantError

# What QAT fine-tunes the fake-quantized graph towards:
#   l1           the training recipe: L1 to the ground-truth HR patch;
#   distill_l1   L1 to the fp32 model's own output on the same LR patch;
#   distill_mse  MSE to the fp32 model's output: the quantity a "loss against fp32" in dB measures.
QAT_LOSSES = ("l1", "distill_l1", "distill_mse")


@dataclass
class QATConfig:
    """The fine-tuning budget; the defaults are a short CPU budget (the pipeline's)."""

    steps: int = 200
    batch_size: int = 8
    patch_size: int = 48
    lr: float = 2e-5
    seed: int = 1
    device: str = "auto"  # auto: CUDA when present
    ckpt_every: int = 50
    log_every: int = 25
    freeze_activation_ranges: bool = True  # keep the calibrated activation ranges; weights' ranges follow
    loss: str = "l1"  # see QAT_LOSSES

    def __post_init__(self) -> None:
        if self.loss not in QAT_LOSSES:
            raise QuantError(f"unknown QAT loss {self.loss!r}; valid: {', '.join(QAT_LOSSES)}")
        for name in ("steps", "batch_size", "patch_size", "ckpt_every", "log_every"):
            if getattr(self, name) <= 0:
                raise QuantError(f"QAT setting {name} must be positive, got {getattr(self, name)}")
        if self.patch_size % 2:
            raise QuantError(f"QAT patch_size must be even (pixel_unshuffle), got {self.patch_size}")


# ----------------------------------------------------------------------------------------- QAT
def device(cfg: QATConfig) -> torch.device:
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(cfg.device)


def checkpoint_paths(ckpt_dir: Path) -> tuple[Path, Path]:
    return ckpt_dir / "qat_state.safetensors", ckpt_dir / "qat_state.json"


def _save_state(ckpt_dir: Path, prepared, opt, step: int, cfg: QATConfig) -> None:
    from safetensors.torch import save

    # cloned: a fake-quant shared by two ops (a SharedQuantizationSpec) is in the state under both
    # names, and safetensors refuses tensors that share memory
    tensors = {f"model.{k}": v.detach().cpu().clone(memory_format=torch.contiguous_format)
               for k, v in prepared.state_dict().items()}
    for i, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"opt.{i}.{k}"] = v.detach().cpu().contiguous()
    data = save(tensors)
    st_path, js_path = checkpoint_paths(ckpt_dir)
    atomic_write_bytes(st_path, lambda tmp: Path(tmp).write_bytes(data))
    text = json.dumps({"step": step, "config": asdict(cfg)}, indent=2)
    atomic_write_bytes(js_path, lambda tmp: Path(tmp).write_text(text))


def _load_state(ckpt_dir: Path, prepared, opt, cfg: QATConfig) -> int:
    from safetensors.torch import load_file

    st_path, js_path = checkpoint_paths(ckpt_dir)
    if not (st_path.is_file() and js_path.is_file()):
        return 0
    record = json.loads(js_path.read_text())
    if record.get("config") != asdict(cfg):
        raise QuantError(f"{js_path}: a QAT run with other settings is there ({record.get('config')}); "
                         f"use another output folder or delete it")
    tensors = load_file(str(st_path))
    state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    prepared.load_state_dict(state)
    with torch.no_grad():  # observers' own loaders skip some buffers (HistogramObserver's eps): copy all
        for name, buf in prepared.named_buffers():
            if name in state and state[name].shape == buf.shape:
                buf.copy_(state[name])
    sd = opt.state_dict()
    for key, v in tensors.items():
        if key.startswith("opt."):
            _, i, name = key.split(".", 2)
            sd["state"].setdefault(int(i), {})[name] = v
    opt.load_state_dict(sd)
    return int(record["step"])


def fine_tune(prepared: nn.Module, cfg: QATConfig, folder, scale: int, ckpt_dir, say,
              teacher: nn.Module | None = None) -> list[dict]:
    """QAT: `cfg.loss` on training patches through the fake-quantized module (its trainable
    parameters; the caller puts it in training mode), Adam, cosine to 0, checkpointed every
    ``cfg.ckpt_every`` steps under `ckpt_dir` (a killed run resumes there).

    The distillation losses compare with `teacher` (the fp32 model that was quantized) on the same
    LR patch, so every step's gradient is the quantization error alone; with L1 to HR most of it is
    the fp32 model's own error, which a short fine-tune cannot remove."""
    dev = device(cfg)
    # channels-last: oneDNN's grouped and depthwise convolutions (forward and backward) run about
    # 1.5x faster per step here (HPUN-S x2, batch 8, 2 threads); restored before returning
    prepared.to(dev, memory_format=torch.channels_last)
    if cfg.loss != "l1":
        if teacher is None:
            raise QuantError(f"QAT loss {cfg.loss} needs the fp32 model as its teacher")
        teacher = teacher.to(dev).eval()
    params = [p for p in prepared.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    ckpt = Path(ckpt_dir) if ckpt_dir is not None else None
    start = _load_state(ckpt, prepared, opt, cfg) if ckpt is not None else 0
    if start:
        say(f"QAT: resuming at step {start} of {cfg.steps} ({ckpt})")
    if start < cfg.steps:  # a finished checkpoint (or a shipped state) needs no training images
        data = PatchDataset(train_images(str(folder), scale, cfg.patch_size), cfg.patch_size, cfg.seed)
    log: list[dict] = []
    t0, total = time.monotonic(), 0.0
    for step in range(start, cfg.steps):
        for group in opt.param_groups:
            group["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))
        pairs = [data[step * cfg.batch_size + j] for j in range(cfg.batch_size)]
        lr = torch.stack([p[0] for p in pairs]).to(dev).float().div_(255).contiguous(memory_format=torch.channels_last)
        hr = torch.stack([p[1] for p in pairs]).to(dev).float().div_(255)
        sr = prepared(lr)
        if cfg.loss == "l1":
            loss = F.l1_loss(sr, hr)
        else:
            with torch.no_grad():
                ref = teacher(lr)
            loss = F.l1_loss(sr, ref) if cfg.loss == "distill_l1" else F.mse_loss(sr, ref)
        if not torch.isfinite(loss):
            raise QuantError(f"QAT: loss became {loss.item()} at step {step}; lower --qat-lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.item()
        done = step + 1
        if done % cfg.log_every == 0 or done == cfg.steps:
            n = cfg.log_every if done % cfg.log_every == 0 else done % cfg.log_every
            log.append({"step": done, cfg.loss: round(total / n, 8), "seconds": round(time.monotonic() - t0, 1)})
            say(f"QAT step {done}/{cfg.steps}: {cfg.loss} {total / n:.3g} ({time.monotonic() - t0:.0f} s)")
            total = 0.0
        if ckpt is not None and (done % cfg.ckpt_every == 0 or done == cfg.steps):
            _save_state(ckpt, prepared, opt, done, cfg)
    prepared.to(memory_format=torch.contiguous_format)
    return log


