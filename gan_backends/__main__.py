"""``python -m gan_backends``: the gan-backends command (what torchrun and MXNet's launch.py
run in each worker)."""

import sys

try:
    from gan_backends.cli import main
except KeyboardInterrupt:  # Ctrl-C while the command's modules load
    print("gan-backends: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
