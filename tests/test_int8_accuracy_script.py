"""scripts/int8_accuracy.py's summary table (the README's int8 accuracy table is printed by it from the
measured JSON lines): losses against the fp32 row of the same model, scale and dataset, only the
rows with the asked settings, 'not measured' where there is none. No measurement runs here."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "int8_accuracy.py"


def load():
    spec = importlib.util.spec_from_file_location("int8_accuracy", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def row(method, psnr, ds="Set5", parts=("residual_adds",), qat=None, model="hpun_s"):
    r = {"model": model, "scale": 2, "method": method, "dataset": ds, "psnr_y": psnr, "ssim_y": 0.9,
         "fp32_parts": [] if method == "fp32" else list(parts)}
    if method != "fp32":
        r.update(rewrites=["srdsc_fold"], calibration=[64, 48], qat=qat)
    return r


def test_summary_table_pairs_each_row_with_its_fp32_and_settings():
    m = load()
    qat = {"steps": 300, "lr": 1e-4, "loss": "l1"}
    rows = [row("fp32", 36.0), row("ptq", 35.9), row("qat", 35.97, qat=qat),
            row("qat", 35.5, qat={"steps": 100, "lr": 1e-4, "loss": "l1"}),  # other QAT settings: not this table
            row("ptq", 30.0, parts=()),  # other fp32 parts: not this table
            row("fp32", 32.0, ds="Set14"), row("ptq", 31.97, ds="Set14"),
            row("fp32", 37.0, model="hpun_m")]  # no int8 row: no line
    text = m.summary_table(rows, ["residual_adds"], ["srdsc_fold"], (300, 1e-4, "l1"))
    lines = text.splitlines()[2:]
    assert len(lines) == 2
    assert lines[0] == "| hpun_s | x2 | Set5 | 36.000 / 0.9000 | 35.900 / 0.9000 (-0.100) | 35.970 / 0.9000 (**-0.030**) |"
    assert lines[1] == "| hpun_s | x2 | Set14 | 32.000 / 0.9000 | 31.970 / 0.9000 (**-0.030**) | not measured |"


def test_weight_only_summary_has_no_qat_column_to_fill():
    m = load()
    rows = [row("fp32", 36.0), row("ptq", 35.99, parts=()) | {"rewrites": []}]
    lines = m.summary_table(rows, [], [], (300, 1e-4, "l1"), weight_only=True).splitlines()[2:]
    assert lines == ["| hpun_s | x2 | Set5 | 36.000 / 0.9000 | 35.990 / 0.9000 (**-0.010**) | n/a (weight-only int8) |"]


def test_weight_only_target_refuses_qat(capsys):
    m = load()
    with pytest.raises(SystemExit) as e:
        m.main(["--target", "coreml", "--methods", "qat", "--summary"])
    assert e.value.code == 2
    assert "--target coreml (coreml-weights: int8 weights (per-channel symmetric), fp16 activations and compute) " \
        "has ptq, not qat" in capsys.readouterr().err


def test_qat_checkpoints_are_one_folder_per_quantization(tmp_path):
    m = load()
    a = m.qat_ckpt_dir(tmp_path, "hpun_l", 3, "executorch", ["residual_adds"], ["srdsc_fold"], (64, 48))
    assert a == m.qat_ckpt_dir(tmp_path, "hpun_l", 3, "executorch", ["residual_adds"], ["srdsc_fold"], (64, 48))
    others = {m.qat_ckpt_dir(tmp_path, "hpun_l", 3, "executorch", [], ["srdsc_fold"], (64, 48)),
              m.qat_ckpt_dir(tmp_path, "hpun_l", 3, "executorch", ["residual_adds"], [], (64, 48)),
              m.qat_ckpt_dir(tmp_path, "hpun_l", 3, "executorch", ["residual_adds"], ["srdsc_fold"], (32, 48)),
              m.qat_ckpt_dir(tmp_path, "hpun_l", 4, "executorch", ["residual_adds"], ["srdsc_fold"], (64, 48)),
              m.qat_ckpt_dir(tmp_path, "hpun_l", 3, "litert", ["residual_adds"], ["srdsc_fold"], (64, 48))}
    assert a not in others and len(others) == 5 and a.parent == tmp_path


def test_fused_target_takes_ptq_and_qat():
    """The own kernels' scheme has QAT (quantization/fused_int8.FakeQuantHPUN), so the script measures both;
    the methods come from the quantizer registry, which the script's check reads."""
    from hpun_edge.converters import TARGETS
    from hpun_edge.quantization import get_quantizer

    assert get_quantizer(TARGETS["executorch-fused"].quantizer).methods == ("ptq", "qat")


def test_fused_target_summary_reads_the_schemes_rows(tmp_path, capsys):
    """--target executorch-fused: the rows of quantization/fused_int8's scheme (its fp32-parts words and
    rewrites), not the PT2E ones of the same model and dataset."""
    import json

    from hpun_edge.quantization.fused_int8 import scheme_settings

    m = load()
    scheme = scheme_settings(None)["fp32_parts"]
    rows = [row("fp32", 36.0), row("ptq", 35.98, parts=scheme), row("ptq", 35.5)]  # the last: PT2E default parts
    out = tmp_path / "rows.jsonl"
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert m.main(["--target", "executorch-fused", "--out", str(out), "--summary"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "| hpun_s | x2 | Set5 | 36.000 / 0.9000 | 35.980 / 0.9000 (**-0.020**) | not measured |" in lines
