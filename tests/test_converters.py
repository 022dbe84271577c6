"""Converters: each installed target exports hpun_s x2 at tile 32 and its runtime matches torch to
1e-4; op coverage is recorded (XNNPACK takes every conv, LiteRT keeps grouped/depthwise convs
native); Core ML converts (runs on macOS only); artifacts are trusted only through their sidecar;
a failed export leaves nothing behind; `hpun-edge eval` runs an artifact through tiling."""
from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import dataclasses

from hpun_edge.converters import (
    TARGETS, ArtifactError, ExportSpec, Sidecar, export, load_artifact, read_sidecar, sidecar_path,
)
from hpun_edge.converters.sidecar import UNTRAINED, file_sha256
from hpun_edge import create_model
from hpun_edge.app.cli import main
from hpun_edge.inference import InferenceOptions, upscale
from hpun_edge.weights import ModelCard, save_weights

TILE = 32
TOL = 1e-4
HEAVY = ("executorch", "coremltools", "litert_torch", "ai_edge_litert", "onnxruntime")


def _have(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


def _target(name, suffix, *modules):
    return pytest.param(name, suffix, id=name, marks=pytest.mark.skipif(
        not _have(*modules), reason=f"{name} target not installed ({', '.join(modules)})"))


RUNNABLE = [
    _target("onnx", ".onnx", "onnx", "onnxscript", "onnxruntime"),
    _target("executorch", ".pte", "executorch"),
    _target("litert", ".tflite", "litert_torch", "ai_edge_litert"),
]
needs = {
    "onnx": pytest.mark.skipif(not _have("onnx", "onnxscript", "onnxruntime"), reason="onnx target not installed"),
    "executorch": pytest.mark.skipif(not _have("executorch"), reason="executorch not installed"),
    "litert": pytest.mark.skipif(not _have("litert_torch", "ai_edge_litert"), reason="litert not installed"),
    "coreml": pytest.mark.skipif(not _have("coremltools"), reason="coremltools not installed"),
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: the 2 cores here are shared with a training job (OpenMP barriers crawl)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model("hpun_s", 2)


@pytest.fixture(scope="module")
def weights(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "s2.safetensors"
    save_weights(model, path, ModelCard(model="hpun_s", scale=2, bias_policy=model.spec.bias_policy))
    return path


@pytest.fixture(scope="module")
def artifact(model, weights, tmp_path_factory):
    """artifact(target, suffix) -> path, exported once per module from the saved weights."""
    folder = tmp_path_factory.mktemp("artifacts")
    cache = {}

    def get(target: str, suffix: str):
        if target not in cache:
            path = folder / f"hpun_s_x2_t{TILE}{suffix}"
            export(model, ExportSpec.for_model(model, target, TILE, weights=weights), path)
            cache[target] = path
        return cache[target]

    return get


def _one_line_naming(excinfo, path) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg and str(path) in msg, msg
    return msg


def _image(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# ------------------------------------------------------------------------------ runtimes vs torch
@pytest.mark.parametrize("target,suffix", RUNNABLE)
def test_runtime_matches_torch(target, suffix, model, weights, artifact):
    path = artifact(target, suffix)
    runner, sidecar = load_artifact(path, threads=1)
    assert sidecar.problems == [], sidecar.problems
    assert (sidecar.input_shape, sidecar.output_shape) == ([1, 3, TILE, TILE], [1, 3, 2 * TILE, 2 * TILE])
    assert sidecar.source == str(weights) and sidecar.source_sha256 == file_sha256(weights)
    assert set(sidecar.tool_versions) >= {"torch"} and len(sidecar.tool_versions) >= 2
    x = torch.rand(1, 3, TILE, TILE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = model.forward_even(x)
    diff = (runner(x) - ref).abs().max().item()
    print(f"{target}: max abs diff {diff:.3g}, {sidecar.artifact_bytes} bytes")
    assert diff <= TOL
    # plugged into tiling (slices, inference-mode tensors, edge padding to the tile)
    opts = InferenceOptions(tile=TILE, overlap=8, fixed_size=True)
    for img in (_image(40, 36), _image(20, 14, seed=2)):
        a, b = upscale(runner, img, 2, opts), upscale(model, img, 2, opts)
        assert a.shape == b.shape == (2 * img.shape[0], 2 * img.shape[1], 3)
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    with pytest.raises(ValueError, match=r"takes exactly \(1, 3, 32, 32\)"):
        runner(torch.rand(1, 3, 30, 32))


@needs["executorch"]
def test_executorch_delegates_every_conv(artifact):
    sc = read_sidecar(artifact("executorch", ".pte"))
    ops = sc.ops
    assert ops["delegated"] == ops["total"] > 0 and ops["fallback"] == []
    assert not any("conv" in name for name in ops["fallback"])
    convs = sc.details["convolutions"]
    assert convs["fallback"] == {}
    assert convs["delegated"] == {"dense": 3, "depthwise": 16, "grouped": 16, "pointwise": 34}


@needs["litert"]
def test_litert_keeps_grouped_and_depthwise_convs_native(artifact):
    sc = read_sidecar(artifact("litert", ".tflite"))
    assert sc.ops["by_op"]["DEPTHWISE_CONV_2D"] == 16
    assert sc.details["convolutions"] == {"CONV_2D": 37, "CONV_2D grouped": 16, "DEPTHWISE_CONV_2D": 16}
    assert not any(op.startswith(("Flex", "CUSTOM")) for op in sc.ops["by_op"])
    assert sc.details["tflite_inputs"] == {"lr": [1, 3, TILE, TILE]}  # litert-torch keeps NCHW I/O


def _qdq_conv_1x1(cin: int, cout: int):
    """x -> Q/DQ (int8, scale 1/127, zero point -128) -> 1x1 Conv with int8 per-channel weights ->
    Q/DQ: the pattern onnxruntime fuses into QLinearConv. Near-full-range activations (2.0 -> 126)
    and weights (+-127) make each VPMADDUBSW pair sum 2 * 254 * 127, past int16."""
    from onnx import TensorProto, helper, numpy_helper

    w = np.full((cout, cin, 1, 1), 127, np.int8)
    w[1], w[2, ::2] = -127, 50
    consts = {"sa": np.float32(1 / 127), "za": np.int8(-128), "wq": w, "sw": np.full(cout, 1 / 127, np.float32),
              "zw": np.zeros(cout, np.int8), "so": np.float32(0.5), "zo": np.int8(0)}
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "sa", "za"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "sa", "za"], ["xd"]),
        helper.make_node("DequantizeLinear", ["wq", "sw", "zw"], ["wd"], axis=0),
        helper.make_node("Conv", ["xd", "wd"], ["y"]),
        helper.make_node("QuantizeLinear", ["y", "so", "zo"], ["yq"]),
        helper.make_node("DequantizeLinear", ["yq", "so", "zo"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes, "qdq_conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, 4, 4])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, cout, 4, 4])],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


@needs["onnx"]
def test_uint8_qdq_is_exact_and_its_fused_kernel_does_not_saturate():
    """`as_uint8_qdq` changes no number (onnxruntime's unfused Q/DQ/Conv reference gives bit-equal
    outputs), and onnxruntime's fused QLinearConv on the uint8 graph matches that reference. On an
    x86 CPU without VNNI the int8 graph's fused kernel saturates here (32 comes out 16.5)."""
    import onnxruntime as ort

    from hpun_edge.converters.onnx_target import as_uint8_qdq

    x = np.full((1, 16, 4, 4), 2.0, np.float32)
    x[..., 0, 0] = 0.3

    def run(proto, level):
        opts = ort.SessionOptions()
        opts.graph_optimization_level = level
        session = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        return session.run(None, {"x": x})[0]

    int8, uint8 = _qdq_conv_1x1(16, 4), _qdq_conv_1x1(16, 4)
    assert as_uint8_qdq(uint8) == 4  # three zero points and the weights
    reference = run(int8, ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    np.testing.assert_array_equal(reference[0, :, 1, 1], [32.0, -32.0, 22.5, 32.0])
    np.testing.assert_array_equal(run(uint8, ort.GraphOptimizationLevel.ORT_DISABLE_ALL), reference)
    np.testing.assert_array_equal(run(uint8, ort.GraphOptimizationLevel.ORT_ENABLE_ALL), reference)
    assert as_uint8_qdq(uint8) == 0  # nothing int8 is left


@needs["coreml"]
def test_coreml_converts_here_and_runs_only_on_macos(model, tmp_path):
    path = tmp_path / "s2.mlpackage"
    sc = export(model, ExportSpec.for_model(model, "coreml", TILE), path)
    assert path.is_dir() and (path / "Manifest.json").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert sc.source == UNTRAINED and sc.source_sha256 is None
    assert sc.ops["by_op"]["conv"] == 69 and sc.ops["by_op"]["upsample_bilinear"] == 16
    assert sc.details["inputs"] == [{"name": "lr", "shape": [1, 3, TILE, TILE], "dtype": "FLOAT32"}]
    assert sc.details["outputs"][0]["name"] == "sr" and sc.artifact_bytes > 100_000
    assert sc.problems == []
    runner, _ = load_artifact(path)
    if sys.platform != "darwin":
        with pytest.raises(ArtifactError, match=r"converted, not run \(needs macOS\)"):
            runner(torch.rand(1, 3, TILE, TILE))
    half = export(model, ExportSpec.for_model(model, "coreml", TILE, precision="fp16"), tmp_path / "h.mlpackage")
    assert half.details["compute_precision"] == "FLOAT16" and half.problems == []
    assert half.details["inputs"][0]["dtype"] == half.details["outputs"][0]["dtype"] == "FLOAT32"
    assert half.ops["by_op"]["cast"] == 2 and half.artifact_bytes < sc.artifact_bytes


# ------------------------------------------------------------------------------------- sidecar
@needs["onnx"]
def test_sidecar_round_trip(artifact, weights):
    path = artifact("onnx", ".onnx")
    text = sidecar_path(path).read_text()
    assert sidecar_path(path).name == path.name + ".json"
    sc = read_sidecar(path)
    assert Sidecar.from_json(sc.to_json()) == sc and json.loads(sc.to_json()) == json.loads(text)
    assert (sc.target, sc.model, sc.scale, sc.precision, sc.tile) == ("onnx", "hpun_s", 2, "fp32", TILE)
    assert (sc.input_name, sc.output_name, sc.layout, sc.value_range) == ("lr", "sr", "NCHW", [0.0, 1.0])
    assert sc.artifact_sha256 == file_sha256(path) and sc.artifact_bytes == path.stat().st_size
    assert sc.exported_at and sc.ops["by_op"]["Conv"] == 69
    # the onnx target's fp32 module is pud_dilated's: no pixel_unshuffle Reshape/Transpose, a reflect Pad per PUD
    assert not {"Reshape", "Transpose"} & set(sc.ops["by_op"]) and sc.ops["by_op"]["Pad"] == 16


def _copy(path, dest_dir, name):
    dest = dest_dir / name
    shutil.copyfile(path, dest)
    shutil.copyfile(sidecar_path(path), sidecar_path(dest))
    return dest


@pytest.mark.parametrize("target,suffix", [p for p in RUNNABLE if p.id in ("onnx", "executorch")])
def test_truncated_or_modified_artifact_is_refused(target, suffix, artifact, tmp_path):
    src = artifact(target, suffix)
    data = src.read_bytes()
    cut = _copy(src, tmp_path, "cut" + suffix)
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError) as e:
        load_artifact(cut)
    assert "truncated" in _one_line_naming(e, cut)
    flipped = _copy(src, tmp_path, "flip" + suffix)
    mid = len(data) // 2
    flipped.write_bytes(data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1 :])
    with pytest.raises(ArtifactError) as e:
        load_artifact(flipped)
    assert "differ from the exported file" in _one_line_naming(e, flipped)
    alone = tmp_path / ("alone" + suffix)
    shutil.copyfile(src, alone)
    with pytest.raises(ArtifactError) as e:
        load_artifact(alone)
    assert "no sidecar" in _one_line_naming(e, alone)


@pytest.mark.parametrize("suffix", [".pte", ".tflite", ".onnx", ".mlpackage"])
def test_foreign_file_is_refused(suffix, tmp_path):
    fake = tmp_path / f"photo{suffix}"
    Image.fromarray(_image(8, 8)).save(fake, format="PNG")
    with pytest.raises(ArtifactError) as e:
        load_artifact(fake)
    assert "PNG image" in _one_line_naming(e, fake)


@needs["executorch"]
def test_foreign_file_with_a_stolen_sidecar_is_refused(artifact, tmp_path):
    # a .pte that is not the exported one, beside the real sidecar
    real = artifact("executorch", ".pte")
    other = tmp_path / "other.pte"
    data = bytearray(real.read_bytes())
    data[-1] ^= 0xFF
    other.write_bytes(bytes(data))
    shutil.copyfile(sidecar_path(real), sidecar_path(other))
    with pytest.raises(ArtifactError) as e:
        load_artifact(other)
    _one_line_naming(e, other)


def test_unknown_suffix_and_bad_spec_are_refused(model, tmp_path):
    with pytest.raises(ArtifactError, match="not an artifact"):
        load_artifact(tmp_path / "m.bin")
    with pytest.raises(ValueError, match="even"):
        ExportSpec("onnx", "hpun_s", 2, 31)
    with pytest.raises(ValueError, match="unknown target"):
        export(model, ExportSpec("tensorrt", "hpun_s", 2, 32), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="must end in .onnx"):
        export(model, ExportSpec.for_model(model, "onnx", 32), tmp_path / "m.pte")
    with pytest.raises(ValueError, match="supports fp32, int8, not fp16"):
        export(model, ExportSpec.for_model(model, "onnx", 32, precision="fp16"), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="spec says hpun_s x3"):
        export(model, ExportSpec("onnx", "hpun_s", 3, 32), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


# -------------------------------------------------------------------------------- failed export
def patch_target(monkeypatch, name: str, **changes) -> None:
    """The registry's spec of `name` with some of its functions replaced, for this test."""
    monkeypatch.setitem(TARGETS, name, dataclasses.replace(TARGETS[name], **changes))


@needs["onnx"]
def test_export_failing_midway_leaves_nothing(model, tmp_path, monkeypatch):
    real_write = TARGETS["onnx"].write

    def half_then_fail(handle, path):
        real_write(handle, path)
        path.write_bytes(path.read_bytes()[:1000])
        raise OSError("disk full")

    patch_target(monkeypatch, "onnx", write=half_then_fail)
    dest = tmp_path / "out" / "m.onnx"
    with pytest.raises(OSError, match="disk full"):
        export(model, ExportSpec.for_model(model, "onnx", TILE), dest)
    assert list((tmp_path / "out").iterdir()) == []


def test_conversion_error_is_one_line_and_leaves_nothing(model, tmp_path, monkeypatch):
    def crash(module, sample, spec):
        raise RuntimeError("unsupported op\n  long converter traceback")

    patch_target(monkeypatch, "onnx", convert=crash)
    dest = tmp_path / "m.onnx"
    with pytest.raises(ArtifactError) as e:
        export(model, ExportSpec.for_model(model, "onnx", TILE), dest)
    assert "onnx conversion failed: RuntimeError: unsupported op" in _one_line_naming(e, dest)
    assert list(tmp_path.iterdir()) == []


def test_directory_export_failing_midway_leaves_nothing(model, tmp_path, monkeypatch):
    def partial_package(handle, path):
        (path / "Data").mkdir(parents=True)
        (path / "Data" / "weight.bin").write_bytes(b"\0" * 100)
        raise RuntimeError("converter crashed")

    patch_target(monkeypatch, "coreml", convert=lambda module, sample, spec: object(), write=partial_package)
    with pytest.raises(RuntimeError, match="converter crashed"):
        export(model, ExportSpec.for_model(model, "coreml", TILE), tmp_path / "m.mlpackage")
    assert list(tmp_path.iterdir()) == []


def test_sidecar_failing_removes_the_artifact(model, tmp_path, monkeypatch):
    def package(handle, path):
        (path / "Data").mkdir(parents=True)
        (path / "Manifest.json").write_text("{}")

    patch_target(monkeypatch, "coreml", convert=lambda module, sample, spec: object(), write=package,
                 describe=lambda *a: {"ops": {"x": object()}})
    with pytest.raises(TypeError):  # the sidecar cannot be serialised
        export(model, ExportSpec.for_model(model, "coreml", TILE), tmp_path / "m.mlpackage")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------ eval
def _dataset(tmp_path):
    hr = tmp_path / "DS" / "HR"
    hr.mkdir(parents=True)
    for i, (h, w) in enumerate([(80, 72), (72, 84)]):  # LR 40x36 and 36x42: 2x2 tiles of 32
        Image.fromarray(_image(h, w, seed=10 + i)).save(hr / f"im{i}.png")
    return tmp_path / "DS"


@needs["onnx"]
def test_eval_of_an_onnx_artifact_matches_the_torch_model(artifact, weights, tmp_path, capsys):
    ds, onnx_path = _dataset(tmp_path), artifact("onnx", ".onnx")
    common = ["--scale", "2", "--dataset", str(ds), "--overlap", "8"]
    assert main(["eval", "--model", str(onnx_path), *common, "--json", str(tmp_path / "a.json")]) == 0
    assert main(["eval", "--model", str(weights), *common, "--tile", str(TILE),
                 "--json", str(tmp_path / "t.json")]) == 0
    (a,) = json.loads((tmp_path / "a.json").read_text())["results"]
    (t,) = json.loads((tmp_path / "t.json").read_text())["results"]
    assert len(a["images"]) == 2 and a["model"] == str(onnx_path)
    assert abs(a["psnr_y"] - t["psnr_y"]) <= 0.01
    for x, y in zip(a["images"], t["images"]):
        assert abs(x["psnr_y"] - y["psnr_y"]) <= 0.01
    capsys.readouterr()
    assert main(["eval", "--model", str(onnx_path), "--scale", "3", "--dataset", str(ds), "--overlap", "8"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "artifact is for x2, evaluation asked for x3" in err and str(onnx_path) in err


# ---------------------------------------------------------------------------------- light import
def test_import_converters_pulls_in_no_runtime():
    code = (
        "import sys, hpun_edge, hpun_edge.converters, hpun_edge.quantization, hpun_edge.app.pipeline, "
        "hpun_edge.app.bench, hpun_edge.evaluate; "
        f"print([m for m in sys.modules if m.split('.')[0] in {HEAVY!r}])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent).stdout
    assert out.strip() == "[]"
