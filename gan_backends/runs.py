"""A run folder belongs to one run at a time, and to one run's results.

:class:`RunFolder` claims an output folder before a run writes anything into it:

- it refuses a path that is a file, or a folder that cannot be created or written, in one line;
- it takes an exclusive lock (``fcntl.flock`` on ``.gan_backends.lock``), so a second process
  cannot train into the same folder; the operating system releases the lock when its holder
  exits or is killed, so a dead run never blocks the folder;
- it keeps a manifest (:data:`MANIFEST`, replaced atomically) of every file the runs in the
  folder wrote, recorded before the file is put in place, and of the prefix of their temporary
  files (unique to each run);
- it refuses a folder that already holds another run's results unless the caller resumes that
  run or asks to overwrite it; overwriting removes only the files the manifest names, never
  anything else in the folder;
- it removes the temporary files that a killed run left behind, those carrying a prefix the
  manifest names (safe: the lock is held), and no other;
- it refuses to replace a file the manifest does not name (a user's ``samples.png``);
- it removes the folder again when it created it and the run wrote nothing (a refused run).

A folder written before manifests existed is adopted when it holds a ``checkpoint.npz``: its
:data:`RESULT_FILES` and ``samples_epochNNN.png`` grids count as the run's.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import json
import os
import re
import secrets
from pathlib import Path
from types import TracebackType

from gan_backends import files
from gan_backends.files import WriteError

LOCK_FILE = ".gan_backends.lock"
MANIFEST = ".gan_backends.manifest.json"
MANIFEST_FORMAT = "gan_backends.manifest/1"
RESULT_FILES = ("checkpoint.npz", "metrics.json", "losses.png", "quality.png", "samples.png")
SAMPLE_GRID = re.compile(r"samples_epoch\d{3,}\.png")


class RunFolderError(RuntimeError):
    """The output folder cannot be used for this run; the message says why and what to do."""


class RunFolder:
    """The claimed output folder of one run; use as a context manager to release the lock."""

    def __init__(self, path: str | os.PathLike, resume: bool = False, overwrite: bool = False):
        if resume and overwrite:
            raise RunFolderError("--resume and --overwrite exclude each other; choose one")
        if not str(path):
            raise RunFolderError("--out is empty; give the path of a folder")
        self.path = Path(path)
        self.folder = self.path  # files.WriteRecorder: writes into this folder are recorded
        self.resume, self.overwrite = resume, overwrite
        self.created = not os.path.lexists(self.path)
        self.written: list[str] = []
        self._lock = self._claim()
        self._start_manifest()
        files.add_recorder(self)
        self.previous_results = self.results()
        foreign = [
            name for name in os.listdir(self.path)
            if (name in RESULT_FILES or SAMPLE_GRID.fullmatch(name)) and name not in self.written
        ]  # fmt: skip
        if foreign:
            self.release()
            raise RunFolderError(
                f"{self.path} holds {', '.join(sorted(foreign))}, which no run wrote there, and a "
                "run would replace them: move them away, or choose another --out"
            )
        if self.previous_results and not (resume or overwrite):
            self.release()
            raise RunFolderError(
                f"{self.path} already holds a run ({_describe(self.previous_results)}); "
                "continue it with --resume, replace it with --overwrite, or choose another --out"
            )

    def _claim(self) -> int:
        if os.path.lexists(self.path) and not self.path.is_dir():
            kind = "a file" if self.path.is_file() else "not a folder"
            raise RunFolderError(f"--out {self.path} is {kind}; give the path of a folder")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            lock = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
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
        return lock

    def _start_manifest(self) -> None:
        """Read the manifest, remove the temporaries of earlier runs, record this run's prefix."""
        manifest = self.path / MANIFEST
        if manifest.exists():
            written, prefixes = self._read_manifest(manifest)
        else:
            written, prefixes = self._adopt_an_older_run(), []
        for prefix in prefixes:
            for leftover in self.path.glob(f"{glob.escape(prefix)}*.tmp"):
                leftover.unlink(missing_ok=True)
        self.written, self.temporary_prefix = written, f".gan_backends-{secrets.token_hex(4)}-"
        try:
            self._save_manifest()
        except WriteError as error:
            self.release()
            raise RunFolderError(f"cannot use --out {self.path}: {error}") from None

    def _read_manifest(self, manifest: Path) -> tuple[list[str], list[str]]:
        try:
            content = json.loads(manifest.read_text())
            if not isinstance(content, dict) or content.get("format") != MANIFEST_FORMAT:
                raise ValueError(
                    f"format {content.get('format') if isinstance(content, dict) else None!r}"
                )
            written, prefixes = content["written"], content["temporary_prefixes"]
            names = [*written, *prefixes]
            if not all(isinstance(n, str) and n and "/" not in n and n != ".." for n in names):
                raise ValueError("a name that is not a file in this folder")
        except (OSError, ValueError, KeyError) as error:
            self.release()
            raise RunFolderError(
                f"{manifest} is damaged ({error}); it lists what the runs in {self.path} wrote: "
                "delete it only if no run's files are there, or choose another --out"
            ) from None
        return list(written), list(prefixes)

    def _adopt_an_older_run(self) -> list[str]:
        if not (self.path / "checkpoint.npz").is_file():
            return []
        grids = sorted(p.name for p in self.path.iterdir() if SAMPLE_GRID.fullmatch(p.name))
        return [name for name in RESULT_FILES if (self.path / name).is_file()] + grids

    def record(self, path: Path) -> None:
        """Note (in the manifest) that this run is about to put ``path`` in place."""
        if path.name in self.written:
            return
        if os.path.lexists(path):
            raise WriteError(
                f"could not write {path}: the runs in {self.path} did not write it (it is not in "
                f"{MANIFEST}), so it is not replaced; move it away or choose another --out"
            )
        self.written.append(path.name)
        self._save_manifest()

    def _save_manifest(self) -> None:
        content = {
            "format": MANIFEST_FORMAT,
            "written": self.written,
            "temporary_prefixes": [self.temporary_prefix],
        }
        text = json.dumps(content, indent=2) + "\n"
        files.replace_file(
            self.path / MANIFEST, lambda f: f.write(text.encode()), self.temporary_prefix
        )

    def results(self) -> list[Path]:
        """The files the runs in this folder wrote and that are still there, in a stable order."""
        order = {name: index for index, name in enumerate(RESULT_FILES)}
        names = sorted(self.written, key=lambda name: (order.get(name, len(order)), name))
        return [self.path / name for name in names if (self.path / name).exists()]

    def clear_previous_results(self) -> None:
        """Remove the previous run's files (with ``overwrite``); nothing else is touched."""
        if self.overwrite:
            for path in self.previous_results:
                path.unlink(missing_ok=True)
            self.written = [name for name in self.written if (self.path / name).exists()]
            self._save_manifest()
            self.previous_results = []

    def release(self) -> None:
        files.remove_recorder(self)
        if self._lock is not None:
            if self.created and not self.written:
                self._remove_the_empty_folder()
            os.close(self._lock)  # closing the descriptor releases the flock
            self._lock = None

    def _remove_the_empty_folder(self) -> None:
        for name in (MANIFEST, LOCK_FILE):
            (self.path / name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # something put there meanwhile stays
            self.path.rmdir()

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
    grids = sum(1 for path in results if SAMPLE_GRID.fullmatch(path.name))
    names = [path.name for path in results if not SAMPLE_GRID.fullmatch(path.name)]
    if grids:
        names.append(f"{grids} sample grid{'s' if grids > 1 else ''}")
    return ", ".join(names)
