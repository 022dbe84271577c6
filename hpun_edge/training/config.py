"""`TrainConfig`: every training setting, with the paper's recipe as defaults.

Precedence: dataclass defaults < ``--config FILE.yaml`` < command-line flags. The config a run used
is saved as ``<run_dir>/config.yaml``. That file is written as JSON, which is valid YAML, so it reads
back with or without PyYAML. PyYAML is imported only when a config file is read; where it is not
installed, config files must be JSON.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import typing
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ..variants import check_scale, get_variant

NO_VALIDATION = ("", "none", "off")
ENGINES = ("auto", "fast", "eager")
LR_RULES = ("sqrt", "linear", "none")


def effective_lr(cfg: "TrainConfig", world: int = 1) -> float:
    """The Adam learning rate of a run of `world` processes: cfg.lr scaled by cfg.lr_rule
    (``lr`` is the rate at batch ``lr_batch``: square-root or linear in the total batch, or none)."""
    ratio = cfg.batch_size * world / cfg.lr_batch
    factor = {"none": 1.0, "sqrt": math.sqrt(ratio), "linear": ratio}[cfg.lr_rule]
    return cfg.lr * factor


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (all defaults follow the HPUN paper's recipe unless noted)."""

    model: str = "hpun_m"
    scale: int = 2
    # Folder of HR training images, searched recursively; None: <data root>/train.
    data: str | None = None
    # Data root for the default training folder and for --val-dataset names (None: $HPUN_EDGE_DATA,
    # ./data, ../shared/datasets, as `hpun-edge eval` resolves it).
    data_root: str | None = None
    # 300k iterations of batch 16 is in line with the EDSR-family recipes the paper follows.
    iterations: int = 300_000
    batch_size: int = 16  # per process; under torchrun the effective batch is batch_size * world size
    patch_size: int = 48  # LR patch side; the HR patch is patch_size * scale
    lr: float = 2e-4
    min_lr: float = 1e-7  # the cosine schedule decays lr to min_lr at `iterations`
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    augment: bool = True  # random horizontal/vertical flips and 90-degree rotations
    seed: int = 0
    run_dir: str | None = None  # None: runs/<model>_x<scale>
    ckpt_every: int = 1000
    log_every: int = 100
    val_every: int = 5000
    val_dataset: str = "Set5"  # a dataset name under the data root, a folder, or "none"
    workers: int | None = None  # None: min(4, cpu count)
    device: str = "auto"  # auto (cuda if available), cpu, cuda, cuda:N
    amp: bool = True  # bf16 autocast; CUDA only (CPU always trains in fp32)
    compile: bool = False  # torch.compile the model (CUDA)
    # auto: the fast path on one CUDA device (training pairs on the GPU, fused Adam, the whole step in
    # a CUDA graph, eager steps if capture fails), today's eager loop otherwise (CPU, torchrun);
    # fast / eager: that path wherever it runs (fast on the CPU: device-side crops, fused Adam).
    engine: str = "auto"
    # Exponential moving average of the weights, validated and saved beside them; 0 turns it off.
    ema_decay: float = 0.999
    # lr is the rate at a global batch of lr_batch; other batches scale it: sqrt, linear or none.
    lr_rule: str = "sqrt"
    lr_batch: int = 16
    init_from: str | None = None  # .safetensors weights to start from (all tensors; the tail if it fits)
    resume: bool = False  # continue from <run_dir>/last.json

    def __post_init__(self) -> None:
        check_scale(get_variant(self.model), self.scale)
        for name in ("iterations", "batch_size", "patch_size", "ckpt_every", "log_every", "val_every", "lr_batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.workers is not None and self.workers < 0:
            raise ValueError(f"workers must be 0 or more, got {self.workers}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.lr_rule not in LR_RULES:
            raise ValueError(f"lr_rule must be one of {', '.join(LR_RULES)}, got {self.lr_rule!r}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be 0 (off) or in (0, 1), got {self.ema_decay}")
        if not (self.lr > 0 and 0 <= self.min_lr <= effective_lr(self)):
            raise ValueError(f"need lr > 0 and 0 <= min_lr <= the effective lr, got lr={self.lr} "
                             f"(effective {effective_lr(self):.3g} at batch {self.batch_size}, lr_rule "
                             f"{self.lr_rule}), min_lr={self.min_lr}")

    @property
    def run_path(self) -> Path:
        return Path(self.run_dir) if self.run_dir else Path("runs") / f"{self.model}_x{self.scale}"

    @property
    def num_workers(self) -> int:
        return self.workers if self.workers is not None else min(4, os.cpu_count() or 1)

    @property
    def validates(self) -> bool:
        return self.val_dataset.strip().lower() not in NO_VALIDATION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_TYPES: dict[str, Any] | None = None


def field_types() -> dict[str, Any]:
    global _TYPES
    if _TYPES is None:
        _TYPES = typing.get_type_hints(TrainConfig)
    return _TYPES


def _coerce(name: str, value: Any, source: str) -> Any:
    """Check a value from a config file or flag against the field's type (ints accepted as floats)."""
    hint = field_types()[name]
    allowed = typing.get_args(hint) or (hint,)
    if value is None and type(None) in allowed:
        return None
    for t in allowed:
        if t is type(None):
            continue
        if t is bool:
            if isinstance(value, bool):
                return value
        elif t is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
            if isinstance(value, str):  # PyYAML (YAML 1.1) reads 2e-4, without a '.', as a string
                try:
                    return float(value)
                except ValueError:
                    pass
        elif t is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        elif isinstance(value, t):
            return value
    names = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
    raise ValueError(f"{source}: {name} must be {names}, got {value!r}")


def config_from_dict(data: dict[str, Any], base: TrainConfig | None = None, source: str = "config") -> TrainConfig:
    """`base` (default: the defaults) with the entries of `data` applied; unknown keys are errors."""
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{source}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    values = {k: _coerce(k, v, source) for k, v in data.items()}
    return dataclasses.replace(base or TrainConfig(), **values)


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """A YAML (or JSON) mapping from `path`; PyYAML is imported lazily, JSON is the fallback."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such config file")
    text = path.read_text()
    try:
        import yaml
    except ImportError:
        yaml = None
    if yaml is not None:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ValueError(f"{path}: not valid YAML ({' '.join(str(e).split())})") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(
                f"{path}: PyYAML is not installed, so config files must be JSON (valid YAML); "
                f"this one is not ({e})"
            ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config file must be a mapping of setting: value")
    return data


def load_config(path: str | os.PathLike, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults, then the file at `path`, then `overrides` (e.g. the flags given on the command line)."""
    cfg = config_from_dict(read_config_file(path), source=str(path))
    return config_from_dict(overrides or {}, cfg, source="command line")


def _value_text(v: Any) -> str:
    """JSON for one value; floats always with a '.', so that YAML 1.1 readers (PyYAML) see floats."""
    text = json.dumps(v)
    if isinstance(v, float) and "e" in text and "." not in text:
        text = text.replace("e", ".0e")
    return text


def config_text(cfg: TrainConfig) -> str:
    """The config as a JSON object, one setting per line (valid JSON and valid YAML)."""
    items = [f"  {json.dumps(k)}: {_value_text(v)}" for k, v in cfg.to_dict().items()]
    return "{\n" + ",\n".join(items) + "\n}\n"


def save_config(cfg: TrainConfig, path: str | os.PathLike) -> None:
    """Write `cfg` to `path` atomically, as JSON (a subset of YAML)."""
    from ..weights import atomic_write_bytes

    text = config_text(cfg)
    atomic_write_bytes(Path(path), lambda tmp: Path(tmp).write_text(text))
