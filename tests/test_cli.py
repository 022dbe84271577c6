"""The hpun-edge command line: tables, JSON, one-line errors, batch runs that go on past bad files."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from hpun_edge import create_model
from hpun_edge.app.cli import main
from hpun_edge.weights import ModelCard, save_weights


def test_info_lists_all_nine_variants_beside_the_paper(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    rows = [l for l in out.splitlines() if l.startswith("| hpun_")]
    assert len(rows) == 9
    assert "| hpun_m | x2 | 492.1K | 492K | +0.03% | 106.16G | 106.2G | -0.03% |" in out
    assert "likely a typo" in out and "all convs have biases" in out


def test_eval_bicubic_writes_per_image_json(data_root, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["eval", "--model", "bicubic", "--scale", "2", "--dataset", "Set5",
                 "--data", str(data_root), "--json", str(out)]) == 0
    assert "| bicubic | x2 | Set5 | 5 | 33.67 |" in capsys.readouterr().out
    payload = json.loads(out.read_text())
    (res,) = payload["results"]
    assert len(res["images"]) == 5 and res["skipped"] == []
    assert res["psnr_y"] == pytest.approx(np.mean([i["psnr_y"] for i in res["images"]]))


def _dataset(tmp_path, n=2, size=(24, 20)):
    hr = tmp_path / "DS" / "HR"
    hr.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(hr / f"im{i}.png")
    return tmp_path / "DS"


def test_eval_a_checkpoint_skips_bad_files_and_reports_them(tmp_path, capsys):
    ds = _dataset(tmp_path)
    (ds / "HR" / "broken.png").write_bytes(b"\x89PNG garbage")
    m = create_model("hpun_s", 2)
    ckpt = tmp_path / "s2.safetensors"
    save_weights(m, ckpt, ModelCard(model="hpun_s", scale=2, bias_policy=m.spec.bias_policy))
    code = main(["eval", "--model", str(ckpt), "--scale", "2", "--dataset", str(ds), "--tile", "8", "--overlap", "2"])
    captured = capsys.readouterr()
    assert code == 1  # finished, with skipped files
    assert "| DS | 2 |" in captured.out
    assert "broken.png: not an image file" in captured.err


def test_eval_checkpoint_of_another_scale_is_refused(tmp_path, capsys):
    m = create_model("hpun_s", 3)
    ckpt = tmp_path / "s3.safetensors"
    save_weights(m, ckpt, ModelCard(model="hpun_s", scale=3, bias_policy=m.spec.bias_policy))
    assert main(["eval", "--model", str(ckpt), "--scale", "2", "--dataset", str(_dataset(tmp_path))]) == 2
    assert "weights are for x3, evaluation asked for x2" in capsys.readouterr().err


def test_degrade_writes_lr_and_reports_skipped(tmp_path, capsys):
    ds = _dataset(tmp_path)
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(ds / "HR" / "tiny.png")
    code = main(["degrade", "--scale", "3", str(ds / "HR"), str(tmp_path / "lr")])
    err = capsys.readouterr().err
    assert code == 1 and "tiny.png: image of 2x2 is smaller than the scale 3" in err
    assert sorted(p.name for p in (tmp_path / "lr").iterdir()) == ["im0.png", "im1.png"]
    assert np.asarray(Image.open(tmp_path / "lr" / "im0.png")).shape == (8, 6, 3)
    assert (tmp_path / "lr" / "im0.png").stat().st_mode & 0o044 == 0o044  # a normal file mode, not 0600


@pytest.mark.parametrize(
    "argv,message",
    [
        (["eval", "--model", "hpun_xl", "--scale", "2", "--dataset", "Set5"], "unknown model 'hpun_xl'; valid names: hpun_s, hpun_m, hpun_l"),
        (["eval", "--model", "bicubic", "--scale", "2", "--dataset", "NoSuchSet", "--data", "."], "dataset 'NoSuchSet' not found"),
        (["degrade", "--scale", "2", "/no/such/dir", "/tmp/x"], "/no/such/dir: no such folder"),
    ],
)
def test_user_errors_are_one_line_without_traceback(argv, message):
    proc = subprocess.run([sys.executable, "-m", "hpun_edge", *argv], capture_output=True, text=True)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_publish_measures_and_installs_weights_that_load_pretrained(data_root, tmp_path, monkeypatch, capsys):
    import hpun_edge.zoo as zoo

    m = create_model("hpun_s", 4)
    src = tmp_path / "run" / "best.safetensors"
    save_weights(m, src, ModelCard(model="hpun_s", scale=4, bias_policy=m.spec.bias_policy, iterations=7))
    dest = tmp_path / "weights"
    assert main(["publish", str(src), "--dest", str(dest), "--dataset", "Set5", "--data", str(data_root)]) == 0
    card = json.loads((dest / "hpun_s_x4.json").read_text())
    assert card["iterations"] == 7 and set(card["metrics"]) == {"Set5"}
    assert 5 < card["metrics"]["Set5"]["psnr_y"] < 60
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", dest)
    loaded = create_model("hpun_s", 4, pretrained=True)
    assert all(a.equal(b) for a, b in zip(loaded.state_dict().values(), m.state_dict().values()))


def test_published_weights_are_recognised_and_changed_ones_are_not(data_root, tmp_path):
    import torch

    from hpun_edge.publish import is_published, publish

    m = create_model("hpun_s", 2)
    src = tmp_path / "best.safetensors"
    save_weights(m, src, ModelCard(model="hpun_s", scale=2, bias_policy=m.spec.bias_policy))
    dest = tmp_path / "w"
    assert not is_published(src, dest, datasets=("Set5",))
    publish(src, dest, datasets=("Set5",), data_root=data_root)
    assert is_published(src, dest, datasets=("Set5",))
    assert not is_published(src, dest, datasets=("Set5", "Set14"))  # card lacks a figure
    with torch.no_grad():
        m.tail.bias += 1
    save_weights(m, src, ModelCard(model="hpun_s", scale=2, bias_policy=m.spec.bias_policy))
    assert not is_published(src, dest, datasets=("Set5",))
