"""Where each runtime's time goes: the per-op profile of one artifact, as its target's profiler makes it.

Each target's module profiles its own runtime (``TargetSpec.profile``: ExecuTorch's ETDump with
XNNPACK's per-op events, onnxruntime's profiler, LiteRT's benchmark_model) and folds the ops into
the groups of `hpun_edge.converters.profiles.GROUPS`. Here: the entry point the bench calls, and
the profile as markdown for report.md and the bench's output.
"""
from __future__ import annotations

from pathlib import Path

from hpun_edge.converters import read_sidecar
from hpun_edge.converters.base import one_line
from hpun_edge.converters.export import artifact_target
from hpun_edge.converters.profiles import empty_profile


def profile_artifact(path: str | Path, *, threads: int | None = None, runs: int = 3, model=None,
                     benchmark_model: str | None = None) -> dict:
    """The grouped per-op profile of an exported artifact (its sidecar gives the input). A profiler
    that fails does not fail the bench: the profile says why."""
    path = Path(path)
    target = artifact_target(path)
    if target.profile is None:
        return empty_profile(target.name, "-", available=False, reason=f"no op profiler for {target.name}")
    sidecar = read_sidecar(path)
    try:
        return target.profile(path, sidecar.input_shape, threads=threads, runs=runs, model=model,
                              benchmark_model=benchmark_model)
    except Exception as e:
        return empty_profile(target.name, "profiling", available=False,
                             reason=f"profiling failed: {type(e).__name__}: {one_line(e)}")


def profile_markdown(profile: dict) -> str:
    """The profile as a markdown table (group, ms per call, share), for report.md and the bench."""
    head = [f"{profile.get('runtime', '?')}: {profile.get('tool', '')}", "",
            "| group | ms per call | share |", "|---|---|---|"]
    if not profile.get("available", True):
        return "\n".join(head + ["| (not available) | - | - |", "", f"{profile.get('reason')}"])
    total = profile.get("per_call_ms") or sum(profile.get("groups", {}).values()) or 0.0
    rows = [f"| {g} | {ms:.3f} | {100 * ms / total if total else 0:.1f}% |" for g, ms in profile["groups"].items()]
    rows.append(f"| total | {total:.3f} | 100% |")
    tail = [""] + [f"Note: {n}" for n in profile.get("notes", [])]
    if profile.get("ops"):
        tail += ["", "Top ops: " + "; ".join(f"{o['name']} ({o['group']}) {o['ms']:.3f} ms" for o in profile["ops"][:5])]
    return "\n".join(head + rows + tail).rstrip()
