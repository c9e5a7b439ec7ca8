"""Keeping the frameworks' native start-up chatter off the user's terminal.

Some frameworks write to the process's standard error from C++ while they are imported, where
no Python setting reaches. ``GAN_VERBOSE=1`` (``--verbose`` on the command line) lets it through.
"""

import contextlib
import os
import sys
from collections.abc import Iterator

VERBOSE_VARIABLE = "GAN_VERBOSE"


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to the null device for the block, unless GAN_VERBOSE is set."""
    if os.environ.get(VERBOSE_VARIABLE):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
