"""A synthetic pipeline summary and real pictures for the report tests: records as the pipeline writes
them (no export, no runtime), pictures made by `write_pictures` from a tiny HPUN and stand-in artifacts."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from hpun_edge.app.config import PipelineConfig
from hpun_edge.data import find_dataset, write_image
from hpun_edge.model import HPUN, EvenForward
from hpun_edge.variants import VARIANTS, VariantSpec

DATASETS = ("Set5", "Set14")
TORCH = {"Set5": (36.630, 0.9543), "Set14": (32.330, 0.9058)}
BICUBIC = {"Set5": (33.674, 0.9303), "Set14": (30.232, 0.8691)}
# (target, precision, method, 640x360 ms, PSNR delta per dataset, status, reason)
ARTIFACTS = [
    ("executorch", "fp32", "fp32", 400.0, (0.0, 0.001), "ok", None),
    ("executorch", "int8", "qat", 150.0, (-0.02, -0.04), "ok", None),
    ("executorch-fused", "fp32", "fp32", 300.0, (0.0, 0.0), "ok", None),
    ("executorch-fused", "int8", "ptq", 90.0, (-0.03, -0.07), "ok", None),  # Set14 just outside 0.05 dB
    ("litert", "fp32", "fp32", 500.0, (0.0, 0.0), "ok", None),
    ("litert", "int8", "qat", 60.0, (-0.2, -0.15), "ok", None),
    ("onnx", "int8", "qat", 200.0, (-0.09, -0.12), "ok", None),
    ("coreml", "fp32", "fp32", None, (None, None), "skipped", "converted, not run (needs macOS)"),
]


def artifact_name(target: str, precision: str, method: str) -> str:
    suffix = {"executorch": ".pte", "executorch-fused": ".pte", "litert": ".tflite", "onnx": ".onnx",
              "coreml": ".mlpackage"}[target]
    return f"hpun_s_x2_{target}_{precision if precision != 'int8' else 'int8-' + method}{suffix}"


def record(target, precision, method, dataset, psnr, ssim, delta, latency, status="ok", reason=None, artifact=None):
    return {"model": "hpun_s", "scale": 2, "target": target, "precision": precision, "method": method,
            "artifact": artifact, "size_bytes": 250_000 if artifact else None, "dataset": dataset,
            "psnr_y": psnr, "ssim_y": ssim, "psnr_delta_vs_torch_fp32": delta, "psnr_y_fake_quant": None,
            "psnr_delta_vs_fake_quant": None,
            "latency_ms": None if latency is None else {"median": latency, "p90": latency * 1.1,
                                                        "input_hw": [360, 640], "threads": 2},
            "latency_tile_ms": None, "ops": None, "problems": [], "status": status, "reason": reason,
            "tile": 64, "overlap": 8}


def synthetic_records(artifacts=ARTIFACTS, folder: str = "artifacts") -> list[dict]:
    rows = []
    for d in DATASETS:
        rows.append(record("pytorch", "fp32", "fp32", d, *TORCH[d], 0.0, None))
    for d in DATASETS:
        rows.append(record("bicubic", "fp64", "bicubic", d, *BICUBIC[d], BICUBIC[d][0] - TORCH[d][0], None))
    for target, precision, method, ms, deltas, status, reason in artifacts:
        for d, delta in zip(DATASETS, deltas):
            psnr = None if delta is None else TORCH[d][0] + delta
            rows.append(record(target, precision, method, d, psnr, None if psnr is None else 0.95, delta, ms, status,
                               reason, f"{folder}/{artifact_name(target, precision, method)}"))
    return rows


def synthetic_summary(records=None, pictures=None) -> dict:
    cfg = PipelineConfig(datasets=DATASETS, tile=64, overlap=8).to_dict()
    return {"config": cfg, "weights": "hpun_edge/weights/hpun_s_x2.safetensors", "weights_sha256": "ab" * 32,
            "seconds": 12.0, "records": records if records is not None else synthetic_records(),
            **({"pictures": pictures} if pictures is not None else {})}


# ------------------------------------------------------------------------------------- pictures
def tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    spec = VariantSpec("tiny", "tiny", blocks=1, dense_front=False, paper=VARIANTS["hpun_s"].paper, channels=8)
    return EvenForward(HPUN(spec, 2)).eval()


def write_datasets(root: Path) -> list:
    """Set5 and Set14 stand-ins: textured RGB images and one gray image (Set14's bridge is gray)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:72, 0:88]
    for name, n in (("Set5", 2), ("Set14", 2)):
        for i in range(n):
            base = 127 + 90 * np.sin(xx / (5 + 2 * i))[..., None] * np.cos(yy / (9 + i))[..., None]
            img = np.clip(base + rng.normal(0, 6, (72, 88, 3)), 0, 255).astype(np.uint8)
            if name == "Set14" and i == 1:
                img = img[..., 1]  # gray
            write_image(root / name / "HR" / f"{name.lower()}_{i}.png", img)
    return [find_dataset(str(root / name)) for name in DATASETS]


def int8_like(forward):
    """A stand-in int8 artifact: the model's output on a 1/32 grid plus a faint 4-pixel banding."""
    def run(t):
        y = forward(t)
        band = (torch.arange(y.shape[-1]) % 4 == 0).float() * 0.01
        return (torch.round(y * 32) / 32 + band).clamp(0, 1)
    return run


def fake_artifacts(monkeypatch, model, loads: list, shas: dict | None = None):
    """read_sidecar / load_artifact of hpun_edge.app.pictures answered without files: an fp32 artifact
    runs the model, an int8 one `int8_like(model)`; every load is appended to `loads`."""
    import hpun_edge.app.pictures as pictures

    shas = shas if shas is not None else {}

    def read_sidecar(path):
        return SimpleNamespace(artifact_sha256=shas.get(Path(path).name, "sha-" + Path(path).name))

    def load_artifact(path, threads=1):
        loads.append(Path(path).name)
        return (int8_like(model) if "int8" in Path(path).name else model), None

    monkeypatch.setattr(pictures, "read_sidecar", read_sidecar)
    monkeypatch.setattr(pictures, "load_artifact", load_artifact)
    return shas


def picture_config(out: Path) -> PipelineConfig:
    return PipelineConfig(datasets=DATASETS, tile=24, overlap=4, threads=1, out=str(out))


CROP = 16  # LR pixels: the tests' crops (the report's are 48)


@contextmanager
def one_thread():
    """torch on one thread for a while (the shared machine is loaded: two threads only fight)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def single_thread():
    with one_thread():
        yield


@pytest.fixture
def report_with_pictures(tmp_path, monkeypatch):
    """(out folder, summary): a synthetic run's report written with real pictures."""
    from hpun_edge.app.pictures import write_pictures
    from hpun_edge.app.report import write_reports

    out = tmp_path / "out"
    datasets = write_datasets(tmp_path / "data")
    model = tiny_model()
    fake_artifacts(monkeypatch, model, [])
    records = synthetic_records()
    with one_thread():
        pictures = write_pictures(out, picture_config(out), model, datasets, records, "ab" * 32, size=CROP)
    summary = synthetic_summary(records, pictures)
    write_reports(summary, out)
    return out, summary
