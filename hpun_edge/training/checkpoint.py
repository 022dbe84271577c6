"""Training checkpoints that never unpickle: tensors in safetensors, everything else in JSON.

A checkpoint is two files in the run folder:

* ``last-<step>-<id>.safetensors``: the model state (``model.<name>``), the EMA of the weights where
  the run keeps one (``ema.<name>``), the optimizer's tensor state (``optim.<param index>.<key>``,
  e.g. ``optim.3.exp_avg``) and the torch RNG states (``rng.torch``, ``rng.cuda.<i>``, uint8).
* ``last.json``: the commit record. It names that tensor file and its sha256, and holds the step, the
  variant and scale, the optimizer's param groups and any non-tensor state, the scheduler state, the
  python and numpy RNG states, the best validation result so far, the accumulated wall time and the
  config.

Writing: the tensor file first (temp file, fsync, rename), then ``last.json`` the same way; the older
tensor file is deleted only after the new ``last.json`` is in place. A run killed at any moment leaves
``last.json`` naming a complete tensor file; a failed write (e.g. a full disk) leaves the previous
checkpoint as it was and removes what it had written.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import load_file
from safetensors.torch import save as st_save
from torch import nn

from ..weights import WeightsError, atomic_write_bytes, read_checked_state, read_metadata

FORMAT = "hpun-edge-train-checkpoint/1"
LAST = "last.json"


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed (missing, damaged, or of another variant or scale)."""


class CheckpointWriteError(RuntimeError):
    """A checkpoint or weights file that could not be written; the previous one is intact."""


def _write_bytes(path: str, data: bytes) -> None:
    """The one place checkpoint bytes reach the disk (tests replace it to simulate a full disk)."""
    with open(path, "wb") as f:
        f.write(data)


def _atomic_write(path: Path, data: bytes) -> None:
    atomic_write_bytes(path, lambda tmp: _write_bytes(tmp, data))


# ----------------------------------------------------------------------------------------- RNG
def _rng_json() -> dict[str, Any]:
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": [version, list(internal), gauss],
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
    }


def _rng_tensors() -> dict[str, torch.Tensor]:
    out = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            out[f"rng.cuda.{i}"] = state
    return out


def _set_rng(rng: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    version, internal, gauss = rng["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = rng["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[f"rng.cuda.{i}"] for i in range(sum(k.startswith("rng.cuda.") for k in tensors))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


# ---------------------------------------------------------------------------------------- save
def _state_tensors(model: nn.Module, optimizer: torch.optim.Optimizer,
                   ema_model: nn.Module | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    tensors = {f"model.{k}": v.detach() for k, v in model.state_dict().items()}
    if ema_model is not None:
        tensors.update({f"ema.{k}": v.detach() for k, v in ema_model.state_dict().items()})
    opt = optimizer.state_dict()
    other: dict[str, dict[str, Any]] = {}
    for idx, state in opt["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{idx}.{key}"] = value.detach()
            else:
                other.setdefault(str(idx), {})[key] = value
    tensors.update(_rng_tensors())
    tensors = {k: v.cpu().contiguous() for k, v in tensors.items()}
    return tensors, {"param_groups": opt["param_groups"], "state_other": other}


def checkpoint_record(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The committed `last.json` of a run folder, or None if there is none."""
    path = Path(run_dir) / LAST
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: unreadable checkpoint record ({e})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an hpun-edge training checkpoint (format {FORMAT})")
    return record


def save_checkpoint(
    run_dir: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    *,
    step: int,
    config: dict[str, Any],
    train_state: dict[str, Any],
    ema_model: nn.Module | None = None,
) -> Path:
    """Write the checkpoint of `step` (see the module docstring); returns the `last.json` path.

    Raises CheckpointWriteError (one line) if the disk refuses it; the previous checkpoint stays valid.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    previous = _committed_tensors(run_dir)
    tensors, opt_json = _state_tensors(model, optimizer, ema_model)
    spec = model.spec
    blob = st_save(tensors, metadata={"format": FORMAT, "model": spec.name, "scale": str(model.scale)})
    name = f"last-{step:08d}-{uuid.uuid4().hex[:8]}.safetensors"
    record = {
        "format": FORMAT,
        "model": spec.name,
        "scale": model.scale,
        "step": step,
        "tensors": name,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "optimizer": opt_json,
        "scheduler": scheduler.state_dict(),
        "rng": _rng_json(),
        "train": train_state,
        "config": config,
        "torch_version": torch.__version__,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    text = json.dumps(record, indent=1, allow_nan=True) + "\n"
    try:
        _atomic_write(run_dir / name, blob)
        try:
            _atomic_write(run_dir / LAST, text.encode())
        except BaseException:
            (run_dir / name).unlink(missing_ok=True)
            raise
    except OSError as e:
        kept = f"the previous checkpoint ({previous}) is intact" if previous else "no checkpoint was kept"
        raise CheckpointWriteError(
            f"could not write the step-{step} checkpoint in {run_dir}: {_oserror_text(e)}; {kept}"
        ) from None
    _fsync_dir(run_dir)  # the renames themselves survive a power cut
    for stale in run_dir.glob("last-*.safetensors"):
        if stale.name != name:
            stale.unlink(missing_ok=True)
    for tmp in run_dir.glob(".last*.tmp"):  # left by a run killed in the middle of a write
        tmp.unlink(missing_ok=True)
    return run_dir / LAST


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the files themselves are synced
    finally:
        os.close(fd)


def _committed_tensors(run_dir: Path) -> str | None:
    try:
        record = checkpoint_record(run_dir)
    except CheckpointError:
        return None
    return f"step {record['step']}" if record else None


def _oserror_text(e: OSError) -> str:
    if e.errno == errno.ENOSPC:
        return "no space left on device (ENOSPC)"
    return f"{e.strerror or e}" + (f" ({errno.errorcode.get(e.errno, e.errno)})" if e.errno else "")


def write_guarded(what: str, write) -> None:
    """Run write(); an OSError becomes a one-line CheckpointWriteError naming `what`."""
    try:
        write()
    except OSError as e:
        raise CheckpointWriteError(f"could not write {what}: {_oserror_text(e)}") from None


# ---------------------------------------------------------------------------------------- load
def check_identity(record: dict[str, Any], model: str, scale: int, where: Path) -> None:
    """CheckpointError unless the checkpoint `record` is of variant `model` at `scale`."""
    if record.get("model") != model or record.get("scale") != scale:
        raise CheckpointError(
            f"{where}: the checkpoint is {record.get('model')} x{record.get('scale')}, "
            f"this run is {model} x{scale}; use another --run-dir or the same --model/--scale"
        )


def load_checkpoint(
    run_dir: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    ema_model: nn.Module | None = None,
) -> dict[str, Any]:
    """Restore model, optimizer, scheduler and RNG states (and `ema_model` from the EMA tensors, where
    the checkpoint has them) from `run_dir`; returns the record, with ``ema_loaded`` set.

    Refuses (CheckpointError, one line) a missing or damaged checkpoint and one of another variant
    or scale than `model`.
    """
    run_dir = Path(run_dir)
    record = checkpoint_record(run_dir)
    where = run_dir / LAST
    if record is None:
        raise CheckpointError(f"{run_dir}: nothing to resume ({LAST} not found)")
    check_identity(record, model.spec.name, model.scale, where)
    path = run_dir / record["tensors"]
    try:
        blob = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"{path}: checkpoint tensors unreadable ({e.strerror or e})") from None
    if hashlib.sha256(blob).hexdigest() != record.get("sha256"):
        raise CheckpointError(f"{path}: checkpoint tensors do not match the sha256 in {where} (damaged)")
    try:
        tensors = st_load(blob)
    except (SafetensorError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None

    model.load_state_dict(_prefixed_state(tensors, "model.", model, path))
    ema_state = {k: v for k, v in tensors.items() if k.startswith("ema.")}
    record["ema_loaded"] = bool(ema_model is not None and ema_state)
    if record["ema_loaded"]:
        ema_model.load_state_dict(_prefixed_state(ema_state, "ema.", ema_model, path))

    opt = record["optimizer"]
    state: dict[int, dict[str, Any]] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, idx, key = k.split(".", 2)
            state.setdefault(int(idx), {})[key] = v
    for idx, extra in opt.get("state_other", {}).items():
        state.setdefault(int(idx), {}).update(extra)
    groups = [dict(g, betas=tuple(g["betas"])) if "betas" in g else g for g in opt["param_groups"]]
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError) as e:
        raise CheckpointError(f"{where}: optimizer state does not fit this run ({e})") from None
    _match_param_layout(optimizer)
    scheduler.load_state_dict(record["scheduler"])
    _set_rng(record["rng"], tensors)
    return record


def _match_param_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give each restored state tensor (Adam's moments) its parameter's memory layout.

    The checkpoint stores them contiguous (NCHW); the parameters are channels_last. The fused Adam
    pairs elements by memory position, so moments in another layout than their parameter would
    update the wrong weights (the op-by-op Adam follows strides and is unaffected).
    """
    for group in optimizer.param_groups:
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            for key, value in state.items():
                if isinstance(value, torch.Tensor) and value.shape == p.shape and value.stride() != p.stride():
                    state[key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def _prefixed_state(tensors: dict[str, torch.Tensor], prefix: str, model: nn.Module, path: Path) -> dict:
    """The `prefix`ed tensors as a state dict for `model`; CheckpointError if one is missing or misshapen."""
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    for k, v in model.state_dict().items():
        if k not in state:
            raise CheckpointError(f"{path}: tensor {prefix}{k} is missing")
        if state[k].shape != v.shape:
            raise CheckpointError(
                f"{path}: {prefix}{k} has shape {tuple(state[k].shape)}, the model needs {tuple(v.shape)}"
            )
    return state


# ------------------------------------------------------------------------------------ init-from
TAIL = ("tail.weight", "tail.bias")


def load_init_weights(model: nn.Module, path: str | os.PathLike) -> str:
    """Start `model` from weights of the same variant, any scale: every tensor but the tail must fit.

    The tail (whose shape depends on the scale) is loaded only when it fits, i.e. at the same scale;
    otherwise it keeps its fresh initialisation. Returns a one-line description of what was loaded.
    """
    path = Path(path)
    spec = model.spec
    state = read_checked_state(path, model, check_scale=False, label="--init-from weights")
    meta = read_metadata(path)
    expected = model.state_dict()
    unexpected = sorted(set(state) - set(expected))
    if unexpected:
        raise WeightsError(f"{path}: tensor {unexpected[0]} does not exist in {spec.name}")
    load, fresh = {}, []
    for name, tensor in expected.items():
        if name not in state:
            if name in TAIL:
                fresh.append(name)
                continue
            raise WeightsError(f"{path}: tensor {name} is missing (--init-from needs all but the tail)")
        if state[name].shape != tensor.shape:
            if name in TAIL:
                fresh.append(name)
                continue
            raise WeightsError(
                f"{path}: tensor {name} has shape {tuple(state[name].shape)}, "
                f"{spec.name} x{model.scale} needs {tuple(tensor.shape)}"
            )
        load[name] = state[name]
    model.load_state_dict(load, strict=False)
    src = f"x{meta['scale']} " if "scale" in meta else ""
    kept = f"; {', '.join(fresh)} left freshly initialised" if fresh else " (tail included)"
    return f"initialised {len(load)} of {len(expected)} tensors from {src}weights {path}{kept}"
