"""The artifacts of one network: made once, reused while what determines them is unchanged.

`ArtifactMaker` is the one place that quantizes and exports: the pipeline asks it for every
artifact it measures, and so does the bench (the same code path, the same cache). An artifact is
reused when its sidecar's ``build_key`` equals the key of the request and its bytes are the ones
the sidecar records. The key hashes everything that determines the artifact:

* the network (name, scale), its weights' sha256 (a peer's: its state's), the fixed tile or size;
* the target, precision, and for int8 the quantization settings (quantizer, method, exact rewrites,
  fp32 parts, calibration count, the QAT budget);
* the versions of torch and of the target's packages;
* the code that makes artifacts (`code_fingerprint`: the core, quantization and converters sources),
  and for a target whose programs call the project's kernels, the kernel sources' sha256.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import Callable

import torch
from torch import nn

import hpun_edge
from hpun_edge import converters as converters_pkg
from hpun_edge import quantization as quantization_pkg
from hpun_edge.converters import ExportSpec, export, get_target, read_sidecar
from hpun_edge.converters.base import ArtifactError
from hpun_edge.converters.kernels import sources_sha256
from hpun_edge.converters.sidecar import artifact_digest, file_sha256, tool_versions
from hpun_edge.quantization import CalibrationData, FloatParts, QuantError, get_quantizer, load_calibration, quantize
from hpun_edge.quantization.calibration import calibration_source
from hpun_edge.quantization.fused_int8 import (
    SCHEME as OWN_KERNELS, int8_module, parts_from_settings, ranges_from_settings, scheme_settings,
)
from hpun_edge.quantization.finetune import QATConfig
from hpun_edge.quantization.shipped import ShippedQAT, find_shipped, seed_checkpoint

from .config import Job, PipelineConfig, qat_config


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 of the sources that make artifacts: the core modules (not training), quantization, converters."""
    h = hashlib.sha256()
    folders = [Path(hpun_edge.__file__).parent, Path(quantization_pkg.__file__).parent,
               Path(converters_pkg.__file__).parent]
    for folder in folders:
        for f in sorted(folder.glob("*.py")):  # top level only: not app/, training/
            h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def state_sha256(module: nn.Module) -> str:
    """sha256 of a module's tensors (a peer network has no weights file)."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode() + b"\0" + t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def is_hpun(network: nn.Module) -> bool:
    return hasattr(network, "forward_features")


class ArtifactMaker:
    """Artifacts of `network` (an HPUN, or a bench peer) under `folder`, named ``<stem>_<target>_<job>``.

    ``weights``: the .safetensors the network was loaded from (None: a peer, seeded weights);
    ``hw``: the input size (LR height, width) of a whole-frame artifact, a peer's or an HPUN's
    exported at exactly one image size (default: the config's square tile)."""

    def __init__(self, network: nn.Module, cfg: PipelineConfig, *, weights: Path | None, folder: Path, stem: str,
                 hw: tuple[int, int] | None = None, say: Callable[[str], None] = lambda line: None):
        self.network, self.cfg, self.weights = network.eval(), cfg, weights
        self.folder, self.stem, self.hw, self.say = Path(folder), stem, hw, say
        self.weights_sha = file_sha256(weights) if weights is not None else state_sha256(network)
        self._quantized: dict = {}
        self._shipped: dict[tuple[str, str], ShippedQAT | None] = {}

    # -------------------------------------------------------------------------------- naming
    @property
    def name(self) -> str:
        return self.network.spec.name

    def path(self, job: Job) -> Path:
        return self.folder / f"{self.stem}_{job.target}_{job.name}{get_target(job.target).suffix}"

    def spec(self, job: Job) -> ExportSpec:
        return ExportSpec(job.target, self.name, self.network.scale, self.hw[0] if self.hw else self.cfg.tile,
                          job.precision, str(self.weights) if self.weights is not None else None,
                          getattr(self.network.spec, "in_channels", 3), self.hw)

    # ------------------------------------------------------------------------- freshness
    def quant_settings(self, job: Job) -> dict | None:
        """The settings that make an int8 artifact (None for other precisions); a QAT's budget is
        the shipped state's where one applies (`shipped_qat`), else the config's."""
        if job.precision != "int8":
            return None
        settings = self._settings_without_qat(job)
        if job.method == "qat":
            shipped = self.shipped_qat(job)
            settings["qat"] = asdict(shipped.qat if shipped else qat_config(self.cfg))
            settings["qat_source"] = shipped.source() if shipped else "fine-tuned here"
        return settings

    def _settings_without_qat(self, job: Job) -> dict:
        target = get_target(job.target)
        if target.quantizer == OWN_KERNELS:
            return scheme_settings(self.cfg.calib_count, job.method)
        weight_only = get_quantizer(target.quantizer).weight_only
        return {"family": target.quantizer, "method": job.method,
                "rewrites": [] if weight_only else list(target.int8_rewrites),
                "fp32_parts": [] if weight_only else self.fp32_parts().names(),
                "calib_count": self.cfg.calib_count, "qat": None}

    def qat_family(self, job: Job) -> str:
        return get_target(job.target).quantizer

    def shipped_qat(self, job: Job) -> ShippedQAT | None:
        """The QAT state shipped beside the weights that this job's QAT is (`quantization.shipped`),
        or None: it fine-tunes here (``--qat-state fine-tune``, a peer, other weights or settings)."""
        if job.method != "qat" or self.cfg.qat_state != "shipped" or self.weights is None or not is_hpun(self.network):
            return None
        family, settings = self.qat_family(job), self._settings_without_qat(job)
        key = (family, json.dumps(settings, sort_keys=True))
        if key not in self._shipped:
            shipped, why = find_shipped(self.name, self.network.scale, family, self.weights_sha, settings)
            if why:
                self.say(f"   the shipped {family} QAT state does not apply here ({why}): fine-tuning here")
            self._shipped[key] = shipped
        return self._shipped[key]

    def fp32_parts(self) -> FloatParts:
        """What stays fp32 in a PT2E int8 artifact: the config's parts for HPUN; a peer is int8 throughout."""
        return FloatParts.from_names(self.cfg.int8_fp32_parts) if is_hpun(self.network) else FloatParts()

    def build_key(self, job: Job) -> str:
        target = get_target(job.target)
        spec = self.spec(job)
        key = {"network": self.name, "scale": self.network.scale, "weights_sha256": self.weights_sha,
               "target": target.name, "precision": job.precision, "input_shape": spec.input_shape,
               "quantization": self.quant_settings(job), "tools": tool_versions(target.packages),
               "code": code_fingerprint(), "kernels": sources_sha256() if target.kernels else None}
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()

    def up_to_date(self, job: Job) -> bool:
        path = self.path(job)
        if not path.exists():
            return False
        try:
            sidecar = read_sidecar(path)
        except ArtifactError:
            return False
        return sidecar.build_key == self.build_key(job) and artifact_digest(path)[0] == sidecar.artifact_sha256

    # ----------------------------------------------------------------------------- making
    def artifact(self, job: Job) -> Path:
        """The artifact of `job`: reused when up to date, else quantized (int8) and exported."""
        path = self.path(job)
        if self.up_to_date(job):
            self.say(f"   up to date: {path}")
            return path
        quantized = self.quantized(job) if job.precision == "int8" else None
        self.say(f"   export {path}")
        export(self.network, self.spec(job), path, quantized=quantized, build_key=self.build_key(job))
        return path

    def check_inputs(self, jobs: list[Job]) -> None:
        """What the jobs will read, checked before any long work (one line naming the file): the
        calibration data of int8 jobs, a folder of training images for QAT."""
        int8 = [j for j in jobs if j.precision == "int8"]
        if not int8 or getattr(self.network.spec, "calibration", "patches") == "random":
            return
        source = calibration_source(self.cfg.calib_data, self.network.scale, self.cfg.data_root)
        if any(j.method == "qat" for j in int8) and not source.is_dir():
            raise QuantError(f"{source}: QAT fine-tunes on a folder of HR training images, not a calibration file "
                             "(--calib-data FOLDER, or --methods ptq)")

    def calibration(self) -> CalibrationData:
        """Calibration patches: the training images' (HPUN, IMDN), or random inputs (a conv peer)."""
        if getattr(self.network.spec, "calibration", "patches") == "random":
            c, n = self.network.spec.in_channels, self.cfg.calib_count
            g = torch.Generator().manual_seed(1)
            lr = torch.rand(n, c, 48, 48, generator=g)
            return CalibrationData(lr, lr, self.network.scale, "random inputs in [0, 1]")
        return load_calibration(self.cfg.calib_data, self.network.scale, count=self.cfg.calib_count,
                                data_root=self.cfg.data_root)

    def quantized(self, job: Job):
        """The int8 quantization of `job`'s target (one per quantizer, method and rewrites: shared
        by the targets that lower the same graph); QAT checkpoints under ``<out>/qat`` and resumes."""
        target = get_target(job.target)
        settings = self.quant_settings(job)
        key = json.dumps(settings, sort_keys=True)
        if key not in self._quantized:
            cal = self.calibration()
            self.say(f"   quantize ({job.method}, {target.quantizer} quantizer"
                     + (f", rewrites: {', '.join(settings['rewrites']) or 'none'})" if "rewrites" in settings else ")"))
            shipped = self.shipped_qat(job)
            ckpt_dir = self.qat_dir(job, settings)
            if shipped is not None:
                self.say(f"   QAT state shipped with the weights: {shipped.label} (--qat-state fine-tune: fine-tune here)")
                seed_checkpoint(shipped, ckpt_dir)
            common = dict(qat=QATConfig(**settings["qat"]) if job.method == "qat" else None,
                          train_folder=cal.source if Path(cal.source).is_dir() else None, ckpt_dir=ckpt_dir,
                          say=lambda line: self.say(f"   {line}"))
            if target.quantizer == OWN_KERNELS:  # the scheme fixes its own rewrites and fp32 parts
                q = quantize(self.network, target.quantizer, job.method, cal, **common)
            else:
                q = quantize(self.network, target.quantizer, job.method, cal, rewrites=tuple(settings["rewrites"]),
                             fp32_parts=self.fp32_parts(), **common)
            q.qat_source = settings.get("qat_source")  # the sidecar says where its QAT state comes from
            self._quantized[key] = q
        return self._quantized[key]

    def qat_dir(self, job: Job, settings: dict) -> Path:
        """Where a QAT checkpoints (and resumes): one folder per fine-tuning of these weights, shared
        by the targets that lower the same quantizer's graph (ExecuTorch's and ONNX's int8)."""
        family = self.qat_family(job)
        key = json.dumps({**settings, "family": family, "weights_sha256": self.weights_sha}, sort_keys=True)
        return Path(self.cfg.out) / "qat" / f"{self.stem}_{family}_{hashlib.sha256(key.encode()).hexdigest()[:12]}"

    def reference_id(self, job: Job) -> tuple[str, str]:
        """(a record name, a key) of `job`'s fake-quant reference: the same for every target that
        shares the quantization (ExecuTorch's and ONNX's int8: the XNNPACK quantizer's graph)."""
        target = get_target(job.target)
        key = {"network": self.name, "scale": self.network.scale, "weights_sha256": self.weights_sha,
               "quantizer": target.quantizer, "quantization": self.quant_settings(job),
               "tools": tool_versions(("torchao",)), "code": code_fingerprint()}
        return (f"{self.stem}_{target.quantizer}_{job.name}.reference",
                hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest())

    def reference(self, job: Job, sidecar) -> nn.Module:
        """The fake-quant reference of an int8 artifact (own kernels' PTQ: rebuilt from its sidecar's
        ranges, no calibration; otherwise the quantization's, a QAT resumed from its last checkpoint)."""
        if get_target(job.target).quantizer == OWN_KERNELS and job.method == "ptq":
            return int8_module(self.network, *ranges_from_settings(sidecar.quantization),
                               parts_from_settings(sidecar.quantization))
        return self.quantized(job).reference
