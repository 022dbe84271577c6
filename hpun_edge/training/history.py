"""What a model card says about how its weights were trained, cycle after cycle.

A warm restart (``init_from`` weights of the same variant and scale, tail included) is one more
cosine cycle of the same weights, so its card counts every step before it: ``iterations`` is the
sum over cycles and ``extra["cycles"]`` lists them (steps, batch, patch, lr, engine, hardware, wall
time). Cards written before cycles were recorded are read as what they say: one cycle, or two where
``extra["first_cycle"]`` holds the first (the H200 x2 weights).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..weights import ModelCard, card_path


def card_cycles(card: ModelCard) -> list[dict[str, Any]]:
    """The cycles that made the weights of `card`, oldest first (steps sum to card.iterations)."""
    extra = card.extra or {}
    if isinstance(extra.get("cycles"), list):
        return [dict(c) for c in extra["cycles"]]
    config = extra.get("config") or {}
    last = {"steps": card.iterations, "batch_size": config.get("batch_size"), "patch_size": config.get("patch_size"),
            "hardware": card.hardware, "wall_time_s": card.wall_time_s}
    first = extra.get("first_cycle")
    if isinstance(first, dict) and 0 < first.get("iterations", 0) < card.iterations:
        fconfig = first.get("config") or {}
        last["steps"] = card.iterations - first["iterations"]
        return [{"steps": first["iterations"], "batch_size": fconfig.get("batch_size"),
                 "patch_size": fconfig.get("patch_size"), "hardware": card.hardware,
                 "wall_time_s": first.get("wall_time_s")}, last]
    return [last] if card.iterations > 0 else []


def prior_cycles(init_from: str | None, model: str, scale: int) -> list[dict[str, Any]]:
    """The cycles behind `init_from` when it is a warm restart (same variant and scale, with a card);
    [] otherwise (training from scratch, or from another scale's weights)."""
    if not init_from:
        return []
    cp = card_path(Path(init_from))
    if not cp.is_file():
        return []
    card = ModelCard.from_json(cp.read_text())
    if card.model != model or card.scale != scale:
        return []
    return card_cycles(card)


def with_cycle(prior: list[dict[str, Any]], cycle: dict[str, Any]) -> tuple[int, float, dict[str, Any]]:
    """(cumulative steps, cumulative wall time, the card's `extra` entries) after `cycle`."""
    cycles = [*prior, cycle]
    steps = sum(int(c.get("steps") or 0) for c in cycles)
    wall = sum(float(c.get("wall_time_s") or 0.0) for c in cycles)
    return steps, round(wall, 1), {"cycles": cycles, "cycle_count": len(cycles)}
