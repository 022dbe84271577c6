"""A quiet console: the terminal shows the tool's own progress and what concerns the user's model or
data; the runtimes' chatter goes to a log file in the output folder (``<out>/hpun-edge.log``).

What is moved to the log, and why it is safe to:

* everything written to the process's file descriptors 1 and 2 by native code: ExecuTorch's
  ``cpuinfo_utils.cpp`` lines, XNNPACK and LiteRT delegate notices ("Created TensorFlow Lite XNNPACK
  delegate"), litert-torch's MLIR pass dumps and conversion progress, onnxruntime's and coremltools'
  C++ logs. None of them is about the user's input; a failure of those libraries still reaches the
  user as the one-line error (or `failed` row) the tool makes of their exception;
* Python-level output of the libraries (prints and ``logging`` records of torch, torchao,
  executorch, litert_torch, coremltools, onnxscript, absl);
* warnings raised from the libraries' own code (the DeprecationWarnings and FutureWarnings of their
  internals: torch.export's, torchao's, coremltools', executorch's, onnxscript's), which a user can do
  nothing about.

What stays on the terminal: the tool's progress lines (`say`), its tables and summaries, tqdm bars,
errors, and every warning raised from the project's own code (``hpun_edge``: those are about the
user's model, data or settings). ``-v`` / ``--verbose`` turns the redirection off (everything on the
terminal, as before). The log starts with the command line and the time, and keeps every run
(appended).
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Iterator, TextIO

import hpun_edge

LOG_NAME = "hpun-edge.log"
OWN_CODE = str(Path(hpun_edge.__file__).resolve().parent)  # the installed package: all four layers


class Console:
    """Where the user's output goes (`out`, `err`: the terminal; outside `quiet`, the current
    sys.stdout / sys.stderr), and the log file the rest goes to (None outside `quiet`)."""

    def __init__(self) -> None:
        self._out: TextIO | None = None
        self._err: TextIO | None = None
        self.log_path: Path | None = None

    @property
    def out(self) -> TextIO:
        return self._out or sys.stdout

    @property
    def err(self) -> TextIO:
        return self._err or sys.stderr

    def print(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def say(self, line: str) -> None:
        print(line, file=self.err, flush=True)


CONSOLE = Console()


def _own(filename: str) -> bool:
    """Whether a warning was raised from the project's own code (its sources, wherever installed;
    an editable install's quantization/ and converters/ sit beside hpun_edge/)."""
    path = Path(filename).resolve() if filename else Path("/")
    root = Path(OWN_CODE)
    return path.is_relative_to(root) or (path.parent.parent == root.parent and
                                         path.parent.name in ("quantization", "converters"))


def _terminal(stream: TextIO, fd: int) -> TextIO:
    """A handle on the terminal that survives redirecting `fd`: a duplicate of the descriptor when
    `stream` writes to it, else the stream itself (a test's capture object, say)."""
    try:
        if stream.fileno() == fd:
            stream.flush()
            return io.TextIOWrapper(os.fdopen(os.dup(fd), "wb", buffering=0), write_through=True)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        pass
    return stream


@contextlib.contextmanager
def quiet(log_dir: str | os.PathLike, verbose: bool = False, argv: list[str] | None = None) -> Iterator[Console]:
    """Run a command with the runtimes' chatter in ``<log_dir>/hpun-edge.log`` (see the module
    docstring); `CONSOLE.out` / `CONSOLE.err` write to the terminal meanwhile."""
    if verbose:
        yield CONSOLE
        return
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / LOG_NAME
    term_out, term_err = _terminal(sys.stdout, 1), _terminal(sys.stderr, 2)
    saved_out, saved_err = os.dup(1), os.dup(2)
    log = open(log_path, "a", buffering=1)
    log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} hpun-edge {' '.join(argv or sys.argv[1:])}\n")
    old = (sys.stdout, sys.stderr, warnings.showwarning, CONSOLE._out, CONSOLE._err, CONSOLE.log_path)
    root = logging.getLogger()
    handler = logging.StreamHandler(log)
    old_handlers = root.handlers[:]

    def showwarning(message, category, filename, lineno, file=None, line=None):
        text = warnings.formatwarning(message, category, filename, lineno, line)
        (term_err if _own(filename) else log).write(text)

    try:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        sys.stdout, sys.stderr = log, log
        CONSOLE._out, CONSOLE._err, CONSOLE.log_path = term_out, term_err, log_path
        warnings.showwarning = showwarning
        root.handlers = [handler]
        yield CONSOLE
    finally:
        sys.stdout.flush()
        log.flush()
        root.handlers = old_handlers
        sys.stdout, sys.stderr, warnings.showwarning, CONSOLE._out, CONSOLE._err, CONSOLE.log_path = old
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)
        for t in (term_out, term_err):
            if t not in old:  # a duplicate made here
                t.close()
        log.close()
