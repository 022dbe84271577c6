"""QAT states shipped beside the weights: a fine-tuning done once, reused by every run that matches.

A QAT fine-tunes the fake-quantized network on training patches; on a 2-core CPU that is most of
the main job's time, and it is the same computation for everyone who quantizes the shipped
weights the same way. So the package ships, for the shipped weights, the finished state of such
a fine-tuning (longer than the pipeline's own budget) beside them:

    hpun_edge/weights/qat/<model>_x<scale>_<family>.safetensors   the fine-tuned module's tensors
    hpun_edge/weights/qat/<model>_x<scale>_<family>.json          its card: what it was made from
                                                                   and with, the command, the figures

A shipped state is used only when everything that determined it matches the run's: the weights'
sha256, the quantizer family whose QAT it is, the method, exact rewrites, fp32 parts, calibration
count, and the versions of torch and torchao (the state's tensor names are the prepared graph's).
Anything else fine-tunes here (`finetune.fine_tune`), as does ``--qat-state fine-tune``. The state
is handed to the QAT as a finished checkpoint, so what loads it is the resume path every QAT has.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from hpun_edge.files import atomic_write_bytes
from hpun_edge.versions import tool_versions
from hpun_edge.zoo import WEIGHTS_DIR

from .errors import QuantError
from .finetune import QATConfig, checkpoint_paths

QAT_STATES_DIR = WEIGHTS_DIR / "qat"
CARD_FORMAT = "hpun-edge-qat-state/1"
QAT_STATE_CHOICES = ("shipped", "fine-tune")
# the settings a state must match (besides the family and the weights); its own QAT budget replaces the run's
MATCHED = ("method", "rewrites", "fp32_parts", "calib_count")


def state_tools() -> dict[str, str]:
    """The versions a state's tensors depend on (torchao names the prepared graph's fake-quants)."""
    return tool_versions(("torchao",))


def state_path(model: str, scale: int, family: str) -> Path:
    return QAT_STATES_DIR / f"{model}_x{scale}_{family}.safetensors"


@dataclass(frozen=True)
class ShippedQAT:
    """A shipped QAT state and its card."""

    path: Path
    card: dict

    @property
    def qat(self) -> QATConfig:
        return QATConfig(**self.card["qat"])

    @property
    def label(self) -> str:
        q = self.card["qat"]
        return f"{self.path.name}: {q['steps']} steps of {q['loss']} at lr {q['lr']:g}"

    def source(self) -> str:
        """What the sidecar records as the QAT's origin (the file and its sha256)."""
        return f"shipped {self.path.name} sha256:{self.card['sha256']}"


def find_shipped(model: str, scale: int, family: str, weights_sha256: str, settings: dict) -> tuple[ShippedQAT | None, str | None]:
    """(the shipped state for this quantization, None), or (None, why the shipped one does not
    apply), or (None, None) where none is shipped."""
    path = state_path(model, scale, family)
    card_file = path.with_suffix(".json")
    if not (path.is_file() and card_file.is_file()):
        return None, None
    try:
        card = json.loads(card_file.read_text())
    except ValueError as e:
        return None, f"{card_file}: unreadable ({e})"
    if card.get("format") != CARD_FORMAT:
        return None, f"{card_file}: not a QAT state card (format {card.get('format')!r})"
    if card.get("weights_sha256") != weights_sha256:
        return None, "made from other weights"
    differ = [k for k in MATCHED if card.get("settings", {}).get(k) != settings.get(k)]
    if differ:
        return None, f"made with other {', '.join(differ)}"
    if card.get("tools") != state_tools():
        return None, f"made with {card.get('tools')}, here {state_tools()}"
    return ShippedQAT(path, card), None


def seed_checkpoint(shipped: ShippedQAT, ckpt_dir: Path) -> None:
    """Put the shipped state in `ckpt_dir` as a finished checkpoint of its QAT (unless one is there)."""
    st_path, js_path = checkpoint_paths(Path(ckpt_dir))
    if st_path.is_file() and js_path.is_file():
        return
    data = shipped.path.read_bytes()
    atomic_write_bytes(st_path, lambda tmp: Path(tmp).write_bytes(data))
    text = json.dumps({"step": shipped.qat.steps, "config": asdict(shipped.qat)}, indent=2)
    atomic_write_bytes(js_path, lambda tmp: Path(tmp).write_text(text))


def ship_state(ckpt_dir: Path, dest: Path, *, weights_sha256: str, family: str, settings: dict,
               command: str, notes: dict | None = None) -> Path:
    """Write a finished QAT checkpoint of `ckpt_dir` as a shipped state at `dest` (.safetensors;
    the optimizer's moments dropped) and its card beside it; returns the card's path."""
    import hashlib

    from safetensors.torch import load_file, save

    st_path, js_path = checkpoint_paths(Path(ckpt_dir))
    record = json.loads(js_path.read_text())
    qat = QATConfig(**record["config"])
    if record["step"] != qat.steps:
        raise QuantError(f"{js_path}: QAT stopped at step {record['step']} of {qat.steps}; finish it first")
    tensors = {k: v for k, v in load_file(str(st_path)).items() if k.startswith("model.")}
    data = save(tensors, metadata={"format": CARD_FORMAT})
    atomic_write_bytes(dest, lambda tmp: Path(tmp).write_bytes(data))
    card = {"format": CARD_FORMAT, "sha256": hashlib.sha256(data).hexdigest(), "weights_sha256": weights_sha256,
            "family": family, "settings": {k: settings.get(k) for k in MATCHED}, "qat": asdict(qat),
            "tools": state_tools(), "command": command, **(notes or {})}
    card_path = dest.with_suffix(".json")
    atomic_write_bytes(card_path, lambda tmp: Path(tmp).write_text(json.dumps(card, indent=2, sort_keys=True) + "\n"))
    return card_path
