"""The project's C++ sources (`kernels/`: the ``hpun::`` ExecuTorch kernels; `runner/`: the native
runner), shipped inside the installed package as ``hpun_edge.csrc`` so that an installed toolkit can
build them (`hpun_edge.converters.kernels`). Nothing here is Python but this marker."""
from pathlib import Path

SOURCE = Path(__file__).resolve().parent

