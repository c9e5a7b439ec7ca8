"""A run folder belongs to one run at a time, and to one run's results.

:class:`RunFolder` claims an output folder before a run writes anything into it:

- it refuses a path that is a file, or a folder that cannot be created or written, in one line;
- it takes an exclusive lock (``fcntl.flock`` on ``.gan_backends.lock``), so a second process
  cannot train into the same folder; the operating system releases the lock when its holder
  exits or is killed, so a dead run never blocks the folder;
- it refuses a folder that already holds another run's results unless the caller resumes that
  run or asks to overwrite it; overwriting removes only the files a run writes
  (:data:`RESULT_FILES`, ``samples_epoch*.png``), never anything else in the folder;
- it removes temporary files that a killed run left behind (safe: the lock is held).
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from types import TracebackType

LOCK_FILE = ".gan_backends.lock"
RESULT_FILES = ("checkpoint.npz", "metrics.json", "losses.png", "samples.png")
SAMPLE_GRIDS = "samples_epoch*.png"


class RunFolderError(RuntimeError):
    """The output folder cannot be used for this run; the message says why and what to do."""


class RunFolder:
    """The claimed output folder of one run; use as a context manager to release the lock."""

    def __init__(self, path: str | os.PathLike, resume: bool = False, overwrite: bool = False):
        if resume and overwrite:
            raise RunFolderError("--resume and --overwrite exclude each other; choose one")
        self.path = Path(path)
        self.resume, self.overwrite = resume, overwrite
        self._lock = self._claim()
        self.previous_results = self.results()
        if self.previous_results and not (resume or overwrite):
            self.release()
            raise RunFolderError(
                f"{self.path} already holds a run ({_describe(self.previous_results)}); "
                "continue it with --resume, replace it with --overwrite, or choose another --out"
            )

    def _claim(self) -> int:
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"--out {self.path} is a file; give the path of a folder")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            lock = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise RunFolderError(
                f"cannot use --out {self.path}: {error.strerror}; choose a writable folder"
            ) from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = os.read(lock, 32).decode(errors="replace").strip() or "unknown"
            os.close(lock)
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunFolderError(f"cannot lock {self.path}: {error.strerror}") from None
            raise RunFolderError(
                f"{self.path} is in use by another run (process {holder}); wait for it to "
                "finish, or choose another --out"
            ) from None
        os.ftruncate(lock, 0)
        os.write(lock, f"{os.getpid()}\n".encode())
        for leftover in self.path.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)
        return lock

    def results(self) -> list[Path]:
        """The files of a run in this folder, in a stable order."""
        found = [self.path / name for name in RESULT_FILES if (self.path / name).exists()]
        return found + sorted(self.path.glob(SAMPLE_GRIDS))

    def clear_previous_results(self) -> None:
        """Remove the previous run's files (with ``overwrite``); nothing else is touched."""
        if self.overwrite:
            for path in self.previous_results:
                path.unlink(missing_ok=True)
            self.previous_results = []

    def release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the flock
            self._lock = None

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _describe(results: list[Path]) -> str:
    grids = sum(1 for path in results if path.match(SAMPLE_GRIDS))
    names = [path.name for path in results if not path.match(SAMPLE_GRIDS)]
    if grids:
        names.append(f"{grids} sample grid{'s' if grids > 1 else ''}")
    return ", ".join(names)
