"""`hpun-edge upscale` as a user runs it: a folder of photos with a broken file in it (skipped with one
line, the rest written, exit 1 listing it), an exported artifact run in its own runtime at its own tile
(the pixels the same tiling gives in Python), and the refusals (another scale, another tile), each one
line, exit 2. The photo cases themselves (EXIF, alpha, 16-bit, gray, CMYK, ICC) are tests/test_photo*.py."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hpun_edge.app.cli import main
from hpun_edge.inference import InferenceOptions, upscale


def photo(path, h, w, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 127 + 90 * np.sin(xx / 5.0)[..., None] * np.cos(yy / 7.0)[..., None]
    Image.fromarray(np.clip(base + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)).save(path)
    return path


def test_a_folder_with_a_broken_file(tmp_path, capsys):
    src = tmp_path / "photos"
    (src / "sub").mkdir(parents=True)
    photo(src / "a.png", 30, 22, 0)
    photo(src / "sub" / "b.jpg", 17, 25, 1)
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    rc = main(["upscale", str(src), "--model", "hpun_s", "--tile", "16", "--overlap", "4", "--threads", "1"])
    captured = capsys.readouterr()
    assert rc == 1
    assert Image.open(src / "upscaled" / "a.png").size == (44, 60)
    assert Image.open(src / "sub" / "upscaled" / "b.png").size == (50, 34)
    skipped = [l for l in captured.err.splitlines() if "broken.png" in l]
    assert skipped and all(l.count("\n") == 0 for l in skipped)
    assert "upscaled 2 image(s)" in captured.out and "hpun_s x2" in captured.out
    assert (src / "upscaled" / "hpun-edge.log").is_file()  # the runtimes' output, not the terminal's


@pytest.fixture(scope="module")
def onnx_artifact(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    from hpun_edge.converters import ExportSpec, export
    from hpun_edge.zoo import create_model, pretrained_path

    model = create_model("hpun_s", 2, pretrained=True)
    path = tmp_path_factory.mktemp("artifact") / "hpun_s_x2.onnx"
    export(model, ExportSpec.for_model(model, "onnx", 32, weights=pretrained_path("hpun_s", 2)), path)
    return path


@pytest.mark.slow
def test_an_artifact_runs_in_its_runtime_at_its_tile(onnx_artifact, tmp_path, capsys):
    from hpun_edge.converters import load_artifact

    img = photo(tmp_path / "p.png", 40, 52, 2)
    out = tmp_path / "out"
    assert main(["upscale", str(img), "--model", str(onnx_artifact), "--overlap", "8", "--out", str(out)]) == 0
    got = np.asarray(Image.open(out / "p.png"))
    runner, _ = load_artifact(onnx_artifact, threads=2)
    want = upscale(runner, np.asarray(Image.open(img)), 2, InferenceOptions(tile=32, overlap=8, fixed_size=True))
    assert np.array_equal(got, want)
    assert f"{onnx_artifact} x2, tile 32 overlap 8" in capsys.readouterr().out
    for argv, message in (([ "--scale", "3"], "artifact is for x2, --scale asked for x3"),
                          (["--tile", "64"], "the artifact runs tiles of 32, --tile 64 was asked")):
        assert main(["upscale", str(img), "--model", str(onnx_artifact), "--out", str(out), *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err


def test_an_output_that_would_overwrite_an_input_is_refused(tmp_path, capsys):
    img = photo(tmp_path / "x.png", 10, 10, 3)
    assert main(["upscale", str(img), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "would overwrite an input" in err
