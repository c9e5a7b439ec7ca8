"""The fake backend has no distributed engine: every entry point says so."""

import contextlib

__all__ = ["all_mean", "join", "launch", "leave", "scope"]


def _unsupported(what):
    return NotImplementedError(f"distributed {what} is not supported with fake")


def launch(nproc, command, environment):
    raise _unsupported("launch")


def join():
    raise _unsupported("join")


def all_mean(cluster, arrays):
    raise _unsupported("all_mean")


def scope(cluster):
    if cluster is not None:
        raise _unsupported("scope")
    return contextlib.nullcontext()


def leave(cluster):
    raise _unsupported("leave")
