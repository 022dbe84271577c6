"""The quiet console: what native code writes to file descriptors 1 and 2, the libraries' prints and
logging and their own warnings go to <out>/hpun-edge.log; the tool's own lines, tables and warnings
raised from the project's code stay on the terminal; -v turns the redirection off."""
from __future__ import annotations

import logging
import os
import sys
import warnings

from hpun_edge.app.console import CONSOLE, LOG_NAME, quiet


def test_runtime_chatter_goes_to_the_log_and_ours_to_the_terminal(tmp_path, capfd):
    with quiet(tmp_path, argv=["pipeline", "--out", "x"]):
        os.write(2, b"[cpuinfo_utils.cpp:71] Reading file /sys/devices/soc0/image_version\n")  # native code
        os.write(1, b"loc(fused[...]): MLIR pass dump\n")
        print("a library's print")
        logging.getLogger("absl").warning("a library's log record")
        warnings.warn_explicit("torch.export internals are changing", FutureWarning, "/site/torch/export.py", 1)
        warnings.warn_explicit("the model's tile is odd", UserWarning, sys.modules["hpun_edge.app.console"].__file__, 1)
        CONSOLE.say("[ 1 s] == hpun_s x2 onnx fp32")
        CONSOLE.print("| a | table |")
    out, err = capfd.readouterr()
    log = (tmp_path / LOG_NAME).read_text()
    for line in ("cpuinfo_utils.cpp", "MLIR pass dump", "a library's print", "a library's log record",
                 "torch.export internals"):
        assert line in log and line not in out + err, line
    assert "== hpun_s x2 onnx fp32" in err and "| a | table |" in out and "the model's tile is odd" in err
    assert "hpun-edge pipeline --out x" in log  # each run is headed by its command line
    # everything is back afterwards
    os.write(2, b"after\n")
    print("printed after")
    out, err = capfd.readouterr()
    assert "after" in err and "printed after" in out


def test_verbose_leaves_everything_on_the_terminal(tmp_path, capfd):
    with quiet(tmp_path, verbose=True):
        os.write(2, b"native line\n")
        CONSOLE.say("ours")
    _, err = capfd.readouterr()
    assert "native line" in err and "ours" in err and not (tmp_path / LOG_NAME).exists()
