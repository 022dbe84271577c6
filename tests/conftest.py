"""Shared fixtures. Tests that need the benchmark data skip with a reason where no data root exists,
except under CI (CI=true), where a missing data root is a failure."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _find_data_root() -> Path | None:
    for candidate in (os.environ.get("HPUN_EDGE_DATA"), REPO / "data", REPO.parent / "shared" / "datasets"):
        if candidate and (Path(candidate) / "Set5" / "HR").is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = _find_data_root()
    if root is None:
        message = "no data root with Set5/HR ($HPUN_EDGE_DATA, ./data, ../shared/datasets)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)
    return root
