"""``python -m gan_backends``: the gan-backends command (what torchrun and MXNet's launch.py
run in each worker)."""

import os
import signal
import sys

if os.environ.get("GAN_LAUNCHER_PID"):  # distributed.LAUNCHER_VARIABLE: a worker of `launch`
    # Its launcher stops it with the Ctrl-C it caught (torch's agent passes SIGINT on) or with
    # SIGTERM, and says what happened in one line: the worker ends at once, saying nothing.
    signal.signal(signal.SIGINT, signal.SIG_DFL)

try:
    from gan_backends.cli import main
except KeyboardInterrupt:  # Ctrl-C while the command's modules load
    print("gan-backends: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
