"""`python -m hpun_edge ...` (also under `torchrun --nproc_per_node N -m hpun_edge train ...`)."""
import sys

from .app.cli import main

sys.exit(main())
