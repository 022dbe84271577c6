"""`hpun-edge train` (placeholder until the training loop lands)."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    s = sub.add_parser("train", help="train an HPUN variant (not implemented yet)")
    s.set_defaults(func=_not_yet)


def _not_yet(args: argparse.Namespace) -> int:
    raise NotImplementedError("training is not implemented yet")
