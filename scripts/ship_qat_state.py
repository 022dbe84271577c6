"""Ship a pipeline run's finished QAT as the state beside the shipped weights (`quantization.shipped`).

    python scripts/ship_qat_state.py OUT TARGET

OUT is a `hpun-edge pipeline` output folder that made TARGET's int8 QAT artifact from the shipped
weights (e.g. `hpun-edge pipeline --targets executorch --precisions int8 --methods qat
--qat-steps 1000 --qat-state fine-tune --out OUT`). The script finds that artifact's QAT checkpoint
under OUT/qat, writes it (without the optimizer's moments) to hpun_edge/weights/qat/ with a card
holding what it was made from and with, the command (from OUT's log) and the figures the run
measured for the artifact (PSNR-Y per dataset and its difference to PyTorch fp32).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hpun_edge.converters import get_target, read_sidecar
from hpun_edge.quantization.finetune import checkpoint_paths
from hpun_edge.quantization.shipped import ship_state, state_path
from hpun_edge.zoo import pretrained_path
from hpun_edge.converters.sidecar import file_sha256


def last_command(log: Path) -> str:
    """The command line of the last run logged in OUT/hpun-edge.log ("==== <date> <time> <command>")."""
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.startswith("==== ")]
    if not lines:
        raise SystemExit(f"{log}: no run header in the log")
    return lines[-1].split(" ", 3)[3]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("target")
    args = ap.parse_args(argv)
    summary = json.loads((args.out / "results.json").read_text())
    cfg = summary["config"]
    weights = pretrained_path(cfg["model"], cfg["scale"])
    if summary["weights_sha256"] != file_sha256(weights):
        raise SystemExit(f"{args.out}: made from other weights than the shipped {weights}")
    rows = [r for r in summary["records"] if r["target"] == args.target and r["precision"] == "int8"
            and r["method"] == "qat" and r["status"] == "ok"]
    if not rows:
        raise SystemExit(f"{args.out}/results.json: no ok int8 QAT row of {args.target}")
    quant = read_sidecar(args.out / rows[0]["artifact"]).quantization
    target = get_target(args.target)
    family = target.quantizer
    stem = f"{cfg['model']}_x{cfg['scale']}_{family}_"
    found = [d for d in sorted((args.out / "qat").glob(stem + "*"))
             if checkpoint_paths(d)[1].is_file()
             and json.loads(checkpoint_paths(d)[1].read_text())["config"] == quant["qat"]]
    if len(found) != 1:
        raise SystemExit(f"{args.out}/qat: {len(found)} checkpoints of {family} with the artifact's QAT settings, not 1")
    measured = {r["dataset"]: {"psnr_y": round(r["psnr_y"], 4), "vs_pytorch_fp32_db": round(r["psnr_delta_vs_torch_fp32"], 4)}
                for r in rows}
    card = ship_state(found[0], state_path(cfg["model"], cfg["scale"], family), weights_sha256=summary["weights_sha256"],
                      family=family, settings=quant, command=last_command(args.out / "hpun-edge.log"),
                      notes={"measured": {"artifact": args.target, "tile": cfg["tile"], "overlap": cfg["overlap"],
                                          "datasets": measured}})
    print(f"wrote {card} and its state: {json.dumps(measured)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
