"""Golden vectors for the demo apps' cores: the Java (android_demo) and Swift (ios_demo) tests read
them so that the apps tile, stitch, convert pixels and parse sidecars exactly as hpun_edge does.

``python scripts/golden_vectors.py [--out demo_golden] [--check]`` writes (or compares) four JSON files:

* ``tiles.json``: `hpun_edge.inference.tile_spans` for many (length, tile, overlap), errors included;
* ``stitch.json``: `hpun_edge.inference.upscale` with ``fixed_size=True`` (what the apps run) on small
  uint8 images (RGB and gray, odd sizes, smaller than a tile) through `fake_model`, a deterministic
  "upscaler" whose output depends on the position inside the tile, so wrong stitching shows;
* ``pixels.json``: uint8 -> float (``image_to_tensor``), float -> uint8 (``tensor_to_image``) and the
  gray mean of a one-channel image's three outputs;
* ``sidecars.json``: `hpun_edge.converters.Sidecar.from_json` on valid and broken sidecars (the message, or
  the fields), and the apps' artifact check (`artifact_problem`) on files that disagree with them.

Image data is hex (row-major, RGB interleaved for colour images). Floats are float32 values written
as their shortest double repr, which parses back to the same float32.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from hpun_edge.converters.sidecar import SIDECAR_FORMAT, Sidecar
from hpun_edge.inference import InferenceOptions, tile_spans, upscale

FILES = ("tiles.json", "stitch.json", "pixels.json", "sidecars.json")
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "demo_golden"


# ------------------------------------------------------------------------------------- fake model
def fake_model(scale: int):
    """(1, 3, t, t) -> (1, 3, t*s, t*s): 0.5 * nearest-neighbour upscale + ((3y + 5x + 7c) % 32) / 64.

    y, x are output pixel coordinates inside the tile: a pixel taken from the wrong tile (or the wrong
    place of the right tile) gets another pattern value. Every step is one float32 operation that
    Java's and Swift's float arithmetic reproduce bit for bit (0.5 * v is exact; the pattern is exact).
    """

    def forward(x: torch.Tensor) -> torch.Tensor:
        _, c, h, w = x.shape
        up = x.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1) * 0.5
        cc = torch.arange(c).view(1, c, 1, 1)
        yy = torch.arange(h * scale).view(1, 1, -1, 1)
        xx = torch.arange(w * scale).view(1, 1, 1, -1)
        pattern = ((yy * 3 + xx * 5 + cc * 7) % 32).to(torch.float32) / 64
        return up + pattern

    return forward


# ------------------------------------------------------------------------------------------ tiles
def _span_case(length: int, tile: int, overlap: int) -> dict:
    case = {"length": length, "tile": tile, "overlap": overlap}
    try:
        case["spans"] = [[s.start, s.stop, s.keep_start, s.keep_stop] for s in tile_spans(length, tile, overlap)]
    except ValueError as e:
        case["error"] = str(e)
    return case


def tiles_cases() -> dict:
    cases = []
    for tile, overlap in ((8, 2), (16, 4), (12, 0), (64, 16), (128, 16), (256, 115), (10, 4)):
        for length in (2, 6, 8, 10, 16, 18, 30, 64, 100, 130, 254, 256, 258, 1000, 4032):
            if length <= 50 * tile:  # a few dozen spans at most
                cases.append(_span_case(length, tile, overlap))
    for length, tile, overlap in ((64, 15, 2), (64, 0, 0), (64, 16, 8), (64, 16, -1), (63, 16, 2), (7, 8, 2)):
        cases.append(_span_case(length, tile, overlap))
    return {"spec": "hpun_edge.inference.tile_spans: [start, stop, keep_start, keep_stop] in LR pixels",
            "cases": cases}


# ----------------------------------------------------------------------------------------- stitch
STITCH = [  # h, w, gray, scale, tile, overlap
    (5, 7, False, 2, 8, 2),  # smaller than the tile, odd: padded up to it
    (12, 12, False, 3, 8, 2),
    (17, 30, False, 2, 8, 2),
    (30, 18, False, 4, 12, 3),
    (33, 41, True, 3, 16, 4),  # gray: replicated in, mean of the three outputs out
    (9, 26, False, 2, 10, 0),
    (24, 24, False, 2, 24, 4),  # exactly one tile
    (23, 50, True, 2, 8, 3),
]


def stitch_cases() -> dict:
    rng = np.random.RandomState(6)
    cases = []
    for h, w, gray, scale, tile, overlap in STITCH:
        img = rng.randint(0, 256, size=(h, w) if gray else (h, w, 3)).astype(np.uint8)
        out = upscale(fake_model(scale), img, scale, InferenceOptions(tile=tile, overlap=overlap, fixed_size=True))
        he, we = h + h % 2, w + w % 2
        H, W = max(he, tile), max(we, tile)
        cases.append({
            "height": h, "width": w, "gray": gray, "scale": scale, "tile": tile, "overlap": overlap,
            "tiles": len(tile_spans(H, tile, overlap)) * len(tile_spans(W, tile, overlap)),
            "input": img.tobytes().hex(), "output": out.tobytes().hex(),
        })
    return {"spec": "hpun_edge.inference.upscale(fake_model(scale), img, scale, "
                    "InferenceOptions(tile, overlap, fixed_size=True)); hex uint8, RGB interleaved or gray",
            "fake_model": fake_model.__doc__.strip().splitlines()[0], "cases": cases}


# ----------------------------------------------------------------------------------------- pixels
def _f32(values) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float32)]


def pixels_cases() -> dict:
    from hpun_edge.inference import image_to_tensor, tensor_to_image

    u8 = np.arange(256, dtype=np.uint8).reshape(16, 16)
    to_float = image_to_tensor(np.stack([u8, 255 - u8, u8.T], axis=-1))[0]  # (3, 16, 16)
    to_float_values = [_f32(to_float[c].flatten().numpy()) for c in range(3)]

    edges = [k / 255 + d for k in (0, 1, 127, 128, 254, 255) for d in (-0.5 / 255, -1e-7, 0, 1e-7, 0.5 / 255)]
    rng = np.random.RandomState(7)
    values = np.array([-1.0, -0.0, 0.0, 0.5, 1.0, 1.0001, 2.0, 1e-8, 0.99999, *edges,
                       *rng.uniform(-0.1, 1.1, 200)], dtype=np.float32)
    q = tensor_to_image(torch.from_numpy(np.stack([values] * 3)).view(1, 3, 1, -1))[0, :, 0]

    triples = np.concatenate([rng.uniform(-0.05, 1.05, (300, 3)), rng.randint(0, 256, (60, 3)) / 255]).astype(np.float32)
    t = torch.from_numpy(triples.T.copy()).view(1, 3, 1, -1)
    gray = tensor_to_image(t.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1))[0, :, 0]
    return {
        "to_float": {"spec": "uint8 v -> float32 v / 255 (image_to_tensor); planes: R=u, G=255-u, B=transpose",
                     "u8": list(range(256)), "planes": to_float_values},
        "to_uint8": {"spec": "float32 -> clamp(0, 1) * 255 + 0.5, floor (tensor_to_image)",
                     "values": _f32(values), "expected": [int(v) for v in q]},
        "gray_mean": {"spec": "mean of the three float32 outputs, then to_uint8 (a gray image's output)",
                      "rgb": [_f32(r) for r in triples], "expected": [int(v) for v in gray]},
    }


# --------------------------------------------------------------------------------------- sidecars
def _valid_sidecar(**over) -> dict:
    d = {
        "target": "executorch", "artifact": "hpun_s_x2.pte", "artifact_sha256": "ab" * 32,
        "artifact_bytes": 1000, "source": "hpun_edge/weights/hpun_s_x2.safetensors", "source_sha256": None,
        "model": "hpun_s", "scale": 2, "precision": "fp32", "tile": 128,
        "input_shape": [1, 3, 128, 128], "output_shape": [1, 3, 256, 256],
        "input_name": "lr", "output_name": "sr", "value_range": [0.0, 1.0], "layout": "NCHW",
        "dtype": "float32", "tool_versions": {"torch": "2.13.0"}, "exporter": "torch.export", "exported_at": "",
        "export_seconds": 1.5, "ops": {"delegated": True}, "problems": [], "details": {"nested": [1, {"a": "\u00e9\"\\"}]},
        "format": SIDECAR_FORMAT,
    }
    d.update(over)
    return d


def _without(key: str) -> dict:
    d = _valid_sidecar()
    del d[key]
    return d


def artifact_problem(sc: Sidecar, file_name: str, file_bytes: int, sha256: str | None,
                     runtime_input: list[int] | None, runtime_output: list[int] | None) -> str | None:
    """The apps' check of an artifact against its sidecar, before and after loading (None: fine).

    The reference for Java's `ArtifactCheck` and Swift's `ArtifactCheck`: the same order, the same words.
    """
    suffix = {".pte": "executorch", ".tflite": "litert", ".mlpackage": "coreml", ".onnx": "onnx"}
    target = next((t for s, t in suffix.items() if file_name.endswith(s)), None)
    if target is None:
        return f"{file_name}: not a model file (.pte, .tflite, .mlpackage)"
    if sc.target != target:
        return f"{file_name}: the sidecar is for a {sc.target} artifact, the file is {target}"
    if sc.tile <= 0 or sc.tile % 2 or sc.scale not in (2, 3, 4):
        return f"{file_name}: the sidecar's tile {sc.tile} / scale {sc.scale} is not usable"
    want_in, want_out = [1, 3, sc.tile, sc.tile], [1, 3, sc.tile * sc.scale, sc.tile * sc.scale]
    if list(sc.input_shape) != want_in or list(sc.output_shape) != want_out:
        return (f"{file_name}: the sidecar's shapes {list(sc.input_shape)} -> {list(sc.output_shape)} "
                f"disagree with its tile {sc.tile} and scale x{sc.scale}")
    if file_bytes != sc.artifact_bytes:
        what = "truncated" if file_bytes < sc.artifact_bytes else "not the exported file"
        return f"{file_name}: {what}: {file_bytes} bytes, the sidecar records {sc.artifact_bytes}"
    if sha256 is not None and sha256 != sc.artifact_sha256:
        return f"{file_name}: contents differ from the exported file (sha256 {sha256[:12]}...)"
    if runtime_input is not None and list(runtime_input) != want_in:
        return f"{file_name}: the model takes {list(runtime_input)}, the sidecar says {want_in} (tile {sc.tile})"
    if runtime_output is not None and list(runtime_output) != want_out:
        return f"{file_name}: the model returns {list(runtime_output)}, the sidecar says {want_out} (scale x{sc.scale})"
    return None


def sidecars_cases() -> dict:
    texts = {
        "valid": json.dumps(_valid_sidecar(), indent=2),
        "valid_compact_unicode": json.dumps(_valid_sidecar(model="hpun_m", scale=3, tile=64, input_shape=[1, 3, 64, 64],
                                                           output_shape=[1, 3, 192, 192]), ensure_ascii=False),
        "wrong_format": json.dumps(_valid_sidecar(format="hpun-edge-artifact/0")),
        "no_format": json.dumps(_without("format")),
        "missing_fields": json.dumps({k: v for k, v in _valid_sidecar().items() if k not in ("scale", "tile", "model")}),
        "scale_float": json.dumps(_valid_sidecar(scale=2.0)),
        "tile_string": json.dumps(_valid_sidecar(tile="128")),
        "shape_3d": json.dumps(_valid_sidecar(input_shape=[3, 128, 128])),
        "not_object": "[1, 2, 3]",
        "truncated": json.dumps(_valid_sidecar())[:200],
        "empty": "",
        "trailing_garbage": json.dumps(_valid_sidecar()) + " x",
        "exponent_number": json.dumps(_valid_sidecar()).replace('"artifact_bytes": 1000', '"artifact_bytes": 1e3'),
    }
    parse = []
    for name, text in texts.items():
        case = {"name": name, "text": text}
        try:
            sc = Sidecar.from_json(text)
            case["fields"] = {k: getattr(sc, k) for k in ("target", "artifact", "artifact_sha256", "artifact_bytes",
                                                          "model", "scale", "precision", "tile", "input_shape",
                                                          "output_shape")}
        except json.JSONDecodeError:
            case["error"] = "json"  # the wording of JSON syntax errors is each parser's own
        except ValueError as e:
            case["error"] = str(e)
        parse.append(case)

    sc = Sidecar.from_json(texts["valid"])
    t, s = sc.tile, sc.scale
    checks = [  # name, file name, bytes, sha256, runtime input, runtime output
        ("fine", "hpun_s_x2.pte", 1000, "ab" * 32, [1, 3, t, t], [1, 3, t * s, t * s]),
        ("fine_unknown_shapes", "hpun_s_x2.pte", 1000, None, None, None),
        ("not_a_model", "photo.jpg", 1000, None, None, None),
        ("wrong_target", "hpun_s_x2.tflite", 1000, None, None, None),
        ("truncated", "hpun_s_x2.pte", 999, None, None, None),
        ("bigger", "hpun_s_x2.pte", 1001, None, None, None),
        ("sha_differs", "hpun_s_x2.pte", 1000, "cd" * 32, None, None),
        ("runtime_tile_differs", "hpun_s_x2.pte", 1000, None, [1, 3, 64, 64], None),
        ("runtime_scale_differs", "hpun_s_x2.pte", 1000, None, [1, 3, t, t], [1, 3, t * 3, t * 3]),
    ]
    bad = [("sidecar_shape_disagrees", _valid_sidecar(output_shape=[1, 3, 384, 384])),
           ("sidecar_tile_odd", _valid_sidecar(tile=127, input_shape=[1, 3, 127, 127], output_shape=[1, 3, 254, 254]))]
    check_cases = []
    for name, fname, nbytes, sha, rin, rout in checks:
        check_cases.append({"name": name, "sidecar": "valid", "file": fname, "bytes": nbytes, "sha256": sha,
                            "runtime_input": rin, "runtime_output": rout,
                            "problem": artifact_problem(sc, fname, nbytes, sha, rin, rout)})
    for name, d in bad:
        text = json.dumps(d)
        parse.append({"name": name, "text": text, "fields": None})
        check_cases.append({"name": name, "sidecar": name, "file": "hpun_s_x2.pte", "bytes": 1000, "sha256": None,
                            "runtime_input": None, "runtime_output": None,
                            "problem": artifact_problem(Sidecar.from_json(text), "hpun_s_x2.pte", 1000, None, None, None)})
    for case in parse:  # the added ones parse: fill their fields
        if case.get("fields", 0) is None:
            p = Sidecar.from_json(case["text"])
            case["fields"] = {k: getattr(p, k) for k in parse[0]["fields"]}
    return {"spec": "hpun_edge.converters.Sidecar.from_json: 'fields' or 'error' (message; 'json' for syntax errors); "
                    "checks: scripts/golden_vectors.py: artifact_problem", "parse": parse, "checks": check_cases}


# ------------------------------------------------------------------------------------------- main
def build() -> dict[str, str]:
    """File name -> JSON text (deterministic)."""
    payloads = {"tiles.json": tiles_cases(), "stitch.json": stitch_cases(), "pixels.json": pixels_cases(),
                "sidecars.json": sidecars_cases()}
    return {name: json.dumps(p, indent=1, ensure_ascii=True) + "\n" for name, p in payloads.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python scripts/golden_vectors.py", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="compare with the files in --out, write nothing")
    args = ap.parse_args(argv)
    stale = []
    for name, text in build().items():
        path = args.out / name
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print("stale golden vectors (run python scripts/golden_vectors.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
