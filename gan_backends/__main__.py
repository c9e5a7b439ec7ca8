"""``python -m gan_backends``: the gan-backends command (what torchrun and MXNet's launch.py
run in each worker)."""

import sys

try:  # Ctrl-C while the command's modules load (even ``signal``, which builds an enum)
    import os
    import signal

    if os.environ.get("GAN_LAUNCHER_PID"):  # distributed.LAUNCHER_VARIABLE: a `launch` worker
        # Its launcher stops it with the Ctrl-C it caught (torch's agent passes SIGINT on) or
        # with SIGTERM, and says what happened in one line: the worker ends at once, silently.
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    from gan_backends.cli import main
except KeyboardInterrupt:
    print("gan-backends: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
