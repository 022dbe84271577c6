"""The main job's settings (`PipelineConfig`) and the jobs they ask for, derived from the target registry.

One job is one artifact: a target, a precision and, for int8, a method (PTQ or QAT). Which
precisions and methods a target has is its `TargetSpec`'s (and its quantizer's) business; nothing
here names a target.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from hpun_edge.converters import TARGETS, get_target
from hpun_edge.converters.base import PRECISIONS
from hpun_edge.quantization import DEFAULT_FP32_PARTS, FloatParts, QATConfig, get_quantizer
from hpun_edge.quantization.quantizers import METHODS
from hpun_edge.quantization.shipped import QAT_STATE_CHOICES
from hpun_edge.variants import check_scale, get_variant

DEFAULT_TARGETS = tuple(TARGETS)  # every registered target


@dataclass
class PipelineConfig:
    model: str = "hpun_s"
    scale: int = 2
    weights: str | None = None  # None: the shipped pretrained weights
    targets: tuple[str, ...] = DEFAULT_TARGETS
    precisions: tuple[str, ...] = PRECISIONS
    methods: tuple[str, ...] = ()  # for int8: qat and/or ptq; none: each quantizer's main_method
    tile: int = 256  # LR; a 640x360 image is 6 tiles, a B100 image (x2) 1
    overlap: int = 16
    datasets: tuple[str, ...] = ("Set5", "Set14", "B100")
    data_root: str | None = None
    calib_data: str | None = None  # folder of HR images or calibration .safetensors; None: <data root>/train
    calib_count: int = 64
    # QAT: one fine-tuning per quantizer (XNNPACK's graph serves ExecuTorch and ONNX; LiteRT's and the
    # own kernels' have their own), shipped for the shipped weights (quantization.shipped). 300 steps of L1 to HR at lr 1e-4 is the
    # measured setting (HPUN-S x2 Set5/Set14 -0.013/-0.012 dB, PTQ -0.052/-0.033); 120 steps distilled
    # (distill_mse) measured -0.058/-0.036 in make run, no better than PTQ (docs/quantization.md)
    qat_steps: int = 300
    qat_lr: float = 1e-4
    qat_batch: int = 8
    qat_loss: str = "l1"  # quantization.finetune.QAT_LOSSES: l1 (to HR), distill_l1 / distill_mse (to the fp32 model)
    # shipped: the QAT state shipped beside the shipped weights where it matches (quantization.shipped),
    # else fine-tune here with the settings above; fine-tune: always fine-tune here
    qat_state: str = "shipped"
    # int8 mixed precision (quantization.mixed.FloatParts words): what stays fp32 in PT2E int8 artifacts
    int8_fp32_parts: tuple[str, ...] = DEFAULT_FP32_PARTS
    threads: int = 2
    latency_runs: int = 10
    latency_warmup: int = 3
    latency_budget_s: float = 6.0  # per measurement: a slow artifact gets fewer timed runs (the record says how many)
    latency_min_runs: int = 2  # ... but at least this many
    out: str = "out"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Job:
    target: str
    precision: str
    method: str  # fp32 / fp16 / ptq / qat

    @property
    def name(self) -> str:
        return self.precision if self.precision != "int8" else f"int8-{self.method}"


def int8_methods(target: str, asked: tuple[str, ...]) -> tuple[str, ...]:
    """The int8 methods a target's artifacts are made with: those asked that its quantizer has,
    none asked: its quantizer's `main_method`; a quantizer with one method (weight-only int8:
    nothing to fine-tune) uses that one."""
    spec = get_quantizer(get_target(target).quantizer)
    if len(spec.methods) == 1:
        return spec.methods
    if not asked:
        return (spec.main_method,)
    return tuple(m for m in asked if m in spec.methods)


def plan_jobs(cfg: PipelineConfig) -> list[Job]:
    jobs = []
    for target in cfg.targets:
        spec = get_target(target)
        for precision in cfg.precisions:
            if precision not in spec.precisions:
                continue
            if precision != "int8":
                jobs.append(Job(spec.name, precision, precision))
            else:
                jobs.extend(Job(spec.name, precision, m) for m in int8_methods(spec.name, cfg.methods))
    return jobs


def qat_config(cfg: PipelineConfig) -> QATConfig:
    """The QAT settings a pipeline config asks for, as the QATConfig that runs them (a QuantError
    names a bad one). The pipeline and `hpun-edge bench` both take them from here, so an artifact
    one of them made is the one the other looks for."""
    return QATConfig(steps=cfg.qat_steps, lr=cfg.qat_lr, batch_size=cfg.qat_batch, loss=cfg.qat_loss)


def check_config(cfg: PipelineConfig) -> PipelineConfig:
    """Every setting checked (one line naming a bad one) before any work; target aliases resolved."""
    cfg.targets = tuple(dict.fromkeys(get_target(t).name for t in cfg.targets))
    check_scale(get_variant(cfg.model), cfg.scale)
    for p in cfg.precisions:
        if p not in PRECISIONS:
            raise ValueError(f"unknown precision {p!r}; valid: {', '.join(PRECISIONS)}")
    for m in cfg.methods:
        if m not in METHODS:
            raise ValueError(f"unknown method {m!r}; valid: {', '.join(METHODS)}")
    if not plan_jobs(cfg):
        raise ValueError(f"none of the targets {', '.join(cfg.targets)} has precision(s) {', '.join(cfg.precisions)}")
    qat_config(cfg)
    if cfg.qat_state not in QAT_STATE_CHOICES:
        raise ValueError(f"unknown QAT state {cfg.qat_state!r}; valid: {', '.join(QAT_STATE_CHOICES)}")
    FloatParts.from_names(cfg.int8_fp32_parts)  # a QuantError (ValueError) naming a bad word
    if cfg.tile % 2 or cfg.tile <= 2 * cfg.overlap:
        raise ValueError(f"tile {cfg.tile} must be even and exceed twice the overlap {cfg.overlap}")
    if cfg.threads < 1 or cfg.latency_runs < 1 or cfg.latency_warmup < 0:
        raise ValueError("threads and latency runs must be at least 1, warm-up runs at least 0")
    return cfg


__all__ = ["DEFAULT_TARGETS", "TARGETS", "Job", "PipelineConfig", "check_config", "int8_methods", "plan_jobs",
           "qat_config"]
