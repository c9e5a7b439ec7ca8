"""Keeping the frameworks' native start-up chatter off the user's terminal.

Some frameworks write to the process's standard error or output from C++ (while they are
imported, or connect workers), where no Python setting reaches. ``GAN_VERBOSE=1``
(``--verbose`` on the command line) lets it through.
"""

import contextlib
import os
import sys
from collections.abc import Iterator

VERBOSE_VARIABLE = "GAN_VERBOSE"


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to the null device for the block, unless GAN_VERBOSE is set."""
    with _silenced(2):
        yield


@contextlib.contextmanager
def native_stdout_silenced() -> Iterator[None]:
    """Send file descriptor 1 to the null device for the block, unless GAN_VERBOSE is set."""
    with _silenced(1):
        yield


@contextlib.contextmanager
def _silenced(descriptor: int) -> Iterator[None]:
    if os.environ.get(VERBOSE_VARIABLE):
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(descriptor)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, descriptor)
    try:
        yield
    finally:
        os.dup2(saved, descriptor)
        os.close(saved)
        os.close(null)
