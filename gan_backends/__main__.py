"""``python -m gan_backends``: the gan-backends command (what torchrun and MXNet's launch.py
run in each worker)."""

import sys

from gan_backends.cli import main

sys.exit(main())
