"""What a run reports: log.csv, train.log (details for the record, not the console), TensorBoard
(when installed), validation, and the hardware string."""
from __future__ import annotations

import csv
import math
import platform
import time
from pathlib import Path

import torch
from torch import nn

from ..weights import atomic_write_bytes

CSV_FIELDS = ("step", "loss", "lr", "it_s", "val_psnr_y", "val_ssim_y", "ema_psnr_y", "ema_ssim_y")


def hardware_string(device: torch.device, world: int = 1) -> str:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        return f"{world} x {name}" if world > 1 else name
    cpu = platform.processor() or platform.machine() or "CPU"
    procs = f"{world} processes x " if world > 1 else ""
    return f"{cpu}, {procs}{torch.get_num_threads()} threads (torch {torch.__version__})"


class RunLog:
    """log.csv (always) and TensorBoard scalars (if `tensorboard` is installed); rank 0 only.

    On resume, rows and events after the resumed step (written by the run that was killed) are dropped
    so that the logs follow one trajectory.
    """

    def __init__(self, run_dir: Path, start_step: int, say=print):
        self.path, self.say, self.failed = run_dir / "log.csv", say, False
        self._truncate_after(start_step)
        new = not self.path.exists()
        self._file = open(self.path, "a", newline="")
        self._csv = csv.writer(self._file)
        if new:
            self._csv.writerow(CSV_FIELDS)
            self._file.flush()
        self.tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            say("tensorboard is not installed: logging to log.csv only (pip install tensorboard for TensorBoard logs)")
        else:
            self.tb = SummaryWriter(str(run_dir / "tb"), purge_step=start_step + 1 if start_step else None)

    def _truncate_after(self, step: int) -> None:
        if not self.path.exists():
            return
        with open(self.path, newline="") as f:
            rows = list(csv.reader(f))
        if not rows:
            return
        keep = [rows[0]] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= step]
        if len(keep) != len(rows):
            text = "".join(",".join(r) + "\r\n" for r in keep)
            atomic_write_bytes(self.path, lambda tmp: Path(tmp).write_text(text, newline=""))

    def row(self, step: int, loss: float | None = None, lr: float | None = None, it_s: float | None = None,
            psnr: float | None = None, ssim: float | None = None, ema_psnr: float | None = None,
            ema_ssim: float | None = None) -> None:
        def fmt(v, spec):
            return "" if v is None else format(v, spec)

        if not self.failed:
            try:
                self._csv.writerow([step, fmt(loss, ".6f"), fmt(lr, ".4e"), fmt(it_s, ".3f"), fmt(psnr, ".4f"),
                                    fmt(ssim, ".5f"), fmt(ema_psnr, ".4f"), fmt(ema_ssim, ".5f")])
                self._file.flush()
            except OSError as e:  # not fatal: checkpoints say the same thing if the disk is full
                self.failed = True
                self.say(f"could not append to {self.path} ({e.strerror or e}); CSV logging stopped")
        if self.tb is not None:
            for tag, v in (("train/loss", loss), ("train/lr", lr), ("train/it_per_s", it_s),
                           ("val/psnr_y", psnr), ("val/ssim_y", ssim), ("val/ema_psnr_y", ema_psnr),
                           ("val/ema_ssim_y", ema_ssim)):
                if v is not None and math.isfinite(v):
                    self.tb.add_scalar(tag, v, step)

    def note(self, line: str) -> None:
        """Append a timestamped line to train.log (what the record needs and the console does not)."""
        try:
            with open(self.path.parent / "train.log", "a") as f:
                f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
        except OSError:
            pass  # the log is a convenience; checkpoints and log.csv are the record

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass
        if self.tb is not None:
            self.tb.close()


class DeviceForward(nn.Module):
    """Validation forward of a model living on `device`: CPU tensor in, fp32 CPU tensor out."""

    def __init__(self, model: nn.Module, device: torch.device):
        super().__init__()
        self.model, self.device = model, device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device)
        if self.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model(x).float().cpu()


def validate(model: nn.Module, device: torch.device, dataset, scale: int) -> tuple[float, float, list[str]]:
    """Set5-style PSNR/SSIM (Y) of `model` with the project's evaluation; the model is left in train mode."""
    from ..evaluate import evaluate_dataset, model_upscaler

    try:
        result = evaluate_dataset(model_upscaler(DeviceForward(model, device), scale), dataset, scale)
    finally:
        model.train()
    return result.psnr_y, result.ssim_y, [s["error"] for s in result.skipped]
