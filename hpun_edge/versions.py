"""Installed package versions, as sidecars, artifact build keys and shipped QAT states record them."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def tool_versions(packages: tuple[str, ...]) -> dict[str, str]:
    """torch's version and each of `packages`' ("not installed" for a missing one)."""
    out = {}
    for name in ("torch", *packages):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out
