"""What a target is (`TargetSpec`), what an export asks for (`ExportSpec`), and what targets share.

A target is one module ``converters/<name>_target.py`` that imports its heavy package only inside
its functions and declares ``SPEC = TargetSpec(...)``: every fact about the target lives there (its
suffix, aliases, precisions, int8 quantizer and rewrites, the packages it needs and the pip extra
that installs them, where it runs, whether it needs the project's kernel library, what module it
converts, its op-coverage check and its profiler). `hpun_edge.converters.TARGETS` lists the specs;
the pipeline, bench, report and CLI derive everything from them. The functions a spec carries:

* ``convert(module, sample, spec) -> handle``: the conversion, in memory, nothing written;
* ``write(handle, path)``: the writer; `export` hands it a temp path beside the destination;
* ``describe(handle, path, spec, census_model) -> dict`` with ``ops``, ``problems`` and ``details``;
* ``check_format(path) -> str | None``: a cheap look at the file (no heavy import): the problem, or None;
* ``load(path, sidecar, threads) -> callable``: float32 NCHW tensor of the input shape -> output,
  after checking the runtime's real input and output shapes against the sidecar;
* ``profile(path, input_shape, threads, runs, model, benchmark_model) -> dict`` (`profiles`).
"""
from __future__ import annotations

import copy
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Callable

import torch
from torch import nn

from hpun_edge.model import EvenForward

INPUT_NAME = "lr"
OUTPUT_NAME = "sr"
PRECISIONS = ("fp32", "fp16", "int8")


class ArtifactError(ValueError):
    """An artifact that cannot be exported, trusted or run; str() is one line naming the file."""


def one_line(e: BaseException | str) -> str:
    """The first non-empty line of an exception's text (runtimes raise multi-line messages)."""
    first = next((l.strip() for l in str(e).splitlines() if l.strip()), "")
    if not first and isinstance(e, BaseException):
        return type(e).__name__
    return first


def even_forward(model: nn.Module) -> nn.Module:
    """The fp32 module most targets convert: ``model.forward_even`` (no pad/crop branch)."""
    return EvenForward(model).eval()


@dataclass(frozen=True)
class TargetSpec:
    """Everything the project knows about one target (see the module docstring)."""

    name: str
    title: str  # what the report calls it: the runtime and its backend
    runtime: str  # the runtime that runs its artifacts (targets of one runtime share its dense-conv reference)
    suffix: str
    precisions: tuple[str, ...]
    packages: tuple[str, ...]  # distributions it needs; their versions go into every sidecar
    extra: str  # the pip extra that installs them
    exporter: str  # one line: the API that produced the artifact
    convert: Callable[..., Any]
    write: Callable[..., None]
    describe: Callable[..., dict]
    check_format: Callable[..., str | None]
    load: Callable[..., Callable]
    profile: Callable[..., dict] | None = None
    quantizer: str | None = None  # its int8 scheme (hpun_edge.quantization.quantizers); None: no int8
    int8_rewrites: tuple[str, ...] = ()  # exact rewrites (hpun_edge.rewrites) its int8 graph is built with
    aliases: tuple[str, ...] = ()
    directory: bool = False  # the artifact is a folder
    platforms: tuple[str, ...] = ()  # sys.platform values where its runtime runs; () = everywhere
    kernels: bool = False  # its programs call the project's kernel library (converters.kernels)
    hpun_only: bool = False  # converts HPUN models only (its rewrite needs HPUN's blocks)
    fp32_module: Callable[[nn.Module], nn.Module] = even_forward  # what is converted at fp32 / fp16

    def available(self) -> str | None:
        """None when its packages are installed, else one line naming the pip extra that fixes it."""
        for dist in self.packages:
            try:
                version(dist)
            except PackageNotFoundError:
                return f"the {self.name} target needs the Python package {dist!r} (pip install 'hpun-edge[{self.extra}]')"
        return None

    def runs_here(self) -> bool:
        return not self.platforms or sys.platform in self.platforms

    @property
    def not_here(self) -> str:
        """The row reason for an artifact converted here that its runtime cannot run here."""
        where = {"darwin": "macOS", "linux": "Linux", "win32": "Windows"}
        return f"converted, not run (needs {' or '.join(where.get(p, p) for p in self.platforms)})"


@dataclass(frozen=True)
class ExportSpec:
    """What to export: target, network name and scale, the fixed LR tile, precision, source weights.

    ``channels`` and ``hw`` describe networks other than HPUN (the bench's peers): the input is
    ``(1, channels, *hw)`` (default ``(1, 3, tile, tile)``) and the output ``scale`` times larger."""

    target: str
    model: str
    scale: int
    tile: int
    precision: str = "fp32"
    weights: str | None = None  # the .safetensors the model was loaded from; None: untrained
    channels: int = 3
    hw: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; valid: {', '.join(PRECISIONS)}")
        if not isinstance(self.tile, int) or self.tile <= 0 or self.tile % 2:
            raise ValueError(f"tile must be a positive even number of LR pixels (pixel_unshuffle), got {self.tile}")

    @classmethod
    def for_model(cls, model: nn.Module, target: str, tile: int, precision: str = "fp32",
                  weights: str | None = None) -> "ExportSpec":
        """The spec of an HPUN model (or a bench peer: anything with ``spec.name`` and ``scale``)."""
        return cls(target, model.spec.name, model.scale, tile, precision, str(weights) if weights is not None else None,
                   getattr(model.spec, "in_channels", 3))

    @property
    def input_shape(self) -> list[int]:
        return [1, self.channels, *(self.hw or (self.tile, self.tile))]

    @property
    def output_shape(self) -> list[int]:
        h, w = self.hw or (self.tile, self.tile)
        return [1, self.channels, h * self.scale, w * self.scale]


def own_dequantize_per_consumer(module: nn.Module) -> nn.Module:
    """A copy of an int8 reference graph (`hpun_edge.quantization`'s fx graph) in which every consumer
    of a `dequantize_per_tensor` has its own copy of it (the same function); a module that is no fx
    graph (an fp32 module) is returned as it is, and the module given is never changed.

    Two converters fail on a dequantize shared by two ops:

    * ExecuTorch: XNNPACK's partitioner puts a quantized op together with its dequantize inputs, so a
      shared one ties both consumers into one group; with an fp32 op between them (mixed precision:
      the head's int8 output read by the first block's add and, 40 ops later, by the global skip
      add) that group has a dependency cycle ("Invalid partition, found dependency cycles").
    * LiteRT: litert-torch 0.10's layout pass (``optimize_layout_transposes_pass.insert_t_q_dq``)
      overwrites a shared dequantize's metadata when it transposes it for one consumer (the PUD's
      pixel_unshuffle reshape, kept NCHW); the other consumer (the PUD's ``+ x``, NHWC) then has no
      shape ("Attempting to convert non-NHWC compatible node to NHWC: dequantize_per_tensor_1").
      With one dequantize per consumer the PUD converts as it is (int8 rank-4 RESHAPE/TRANSPOSE,
      MAX_POOL_2D, grouped CONV_2D, all in XNNPACK): benchmarks/measured/int8_runtimes.md.
    """
    if not isinstance(module, torch.fx.GraphModule):
        return module
    gm = copy.deepcopy(module)
    made = 0
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or "dequantize_per_tensor" not in str(node.target) or len(node.users) < 2:
            continue
        for user in list(node.users)[1:]:
            with gm.graph.inserting_before(user):
                twin = gm.graph.call_function(node.target, node.args, node.kwargs)
            twin.meta = dict(node.meta)
            user.replace_input_with(node, twin)
            made += 1
    if made:
        gm.graph.lint()
        gm.recompile()
    return gm


def conv_census(model: nn.Module) -> dict[str, int]:
    """The model's convolutions by kind: dense k x k, pointwise 1x1, depthwise, grouped."""
    census = {"dense": 0, "pointwise": 0, "depthwise": 0, "grouped": 0}
    for m in model.modules():
        kind = getattr(m, "CONV_KIND", None)  # a conv held as constants (quantization.int8_blocks)
        if kind is not None:
            census[kind] += 1
        elif isinstance(m, nn.Conv2d):
            if m.groups == 1:
                census["pointwise" if m.kernel_size == (1, 1) else "dense"] += 1
            elif m.groups == m.in_channels == m.out_channels:
                census["depthwise"] += 1
            else:
                census["grouped"] += 1
    census["total"] = sum(census.values())
    return census


def conv_group_problems(groups: list[int], model: nn.Module, what: str) -> list[str]:
    """Where an artifact's conv ops (given by their group counts) do not match the model's convs."""
    census = conv_census(model)
    problems = []
    if len(groups) != census["total"]:
        problems.append(f"{len(groups)} {what} for the model's {census['total']} convolutions")
    grouped, wanted = sum(g > 1 for g in groups), census["depthwise"] + census["grouped"]
    if grouped != wanted:
        problems.append(f"{grouped} {what} with groups > 1 for the model's {wanted} depthwise/grouped convolutions")
    return problems


def shape_problem(path, what: str, got: list[int], sidecar_shape: list[int]) -> None:
    """An ArtifactError when the runtime's real `what` shape is not the sidecar's (a sidecar that
    does not describe its artifact: edited, or another artifact's)."""
    if [int(d) for d in got] != list(sidecar_shape):
        raise ArtifactError(f"{path}: the runtime's {what} is {list(got)}, the sidecar says {list(sidecar_shape)} "
                            "(the sidecar does not describe this artifact)")


def sniff(head: bytes) -> str:
    """What a file that is not the expected artifact looks like, for the error message."""
    if len(head) == 0:
        return "an empty file"
    for magic, what in (
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"PK\x03\x04", "a ZIP archive (a PyTorch .pt checkpoint?)"),
        (b"GIF8", "a GIF image"),
        (b"{", "a JSON/text file"),
    ):
        if head.startswith(magic):
            return what
    return f"a file starting with bytes {head[:8].hex(' ')}"


def read_head(path, n: int = 8) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)
