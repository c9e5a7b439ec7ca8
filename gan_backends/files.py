"""Writing files so that a crash, a kill or a full disk never leaves a half-written one, and
reading ``.npz`` archives so that a damaged one is named, not a traceback.

Every write goes to a temporary file with a unique name in the target's folder, is flushed to
disk, and then renamed over the target: at any moment the target holds either its old or its
new content, and concurrent writers never share a temporary file. A failed write removes its
temporary file and raises :class:`WriteError`, which names the file and the cause.

Only regular files are replaced: a target that is a symbolic link (never written through), a
FIFO, a device, a socket or a folder is refused before anything is written. Written files get
the permissions the umask allows (0644 under umask 022), like any file a program creates.
A :class:`WriteRecorder` registered for a folder (a run's :class:`~gan_backends.runs.RunFolder`)
names the temporary files written there and vets each target before it is replaced.

:func:`read_npz` loads every array eagerly (so the archive's CRC-32 checksums are verified) and
never unpickles; anything wrong with the file raises :class:`CorruptFileError`.
"""

from __future__ import annotations

import io
import json
import os
import stat
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np

ZIP_MAGIC = b"PK\x03\x04"
TEMPORARY_PREFIX = f".gan_backends-{os.getpid()}-"
SPECIAL_FILES = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


class WriteError(OSError):
    """A file could not be written; the previous version of it, if any, is intact."""


class CorruptFileError(ValueError):
    """A file exists but is not what it should be: truncated, damaged or of another kind."""


class WriteRecorder(Protocol):
    """Keeps the record of what is written into one folder."""

    folder: Path
    temporary_prefix: str

    def record(self, path: Path) -> None:
        """Note that ``path`` is about to be replaced; raise :class:`WriteError` to refuse."""


_recorders: list[WriteRecorder] = []


def add_recorder(recorder: WriteRecorder) -> None:
    """From now on, writes into ``recorder.folder`` go through ``recorder``."""
    _recorders.append(recorder)


def remove_recorder(recorder: WriteRecorder) -> None:
    if recorder in _recorders:
        _recorders.remove(recorder)


def check_output_path(path: str | os.PathLike, flag: str) -> Path:
    """``path`` if a command may create or replace it there; else :class:`WriteError`."""
    if not str(path):
        raise WriteError(f"{flag} is empty; give the path of the file to write")
    path = Path(path)
    kind = _special_kind(path)
    if kind:
        raise WriteError(
            f"{flag} {path} is {kind}, which is never replaced or written through; "
            "give the path of a regular file"
        )
    folder = next((p for p in (path.absolute(), *path.absolute().parents) if p.exists()), None)
    if folder is not None and not (folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)):
        raise WriteError(f"{flag} {path}: cannot write into {folder}; choose a writable folder")
    return path


def write_atomically(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(file)`` on a temporary file, then rename it to ``path``."""
    path = Path(path)
    recorder = next((r for r in _recorders if r.folder == path.parent), None)
    return replace_file(
        path, write, recorder.temporary_prefix if recorder else TEMPORARY_PREFIX,
        recorder.record if recorder else None,
    )  # fmt: skip


def replace_file(
    path: Path,
    write: Callable[[IO[bytes]], None],
    temporary_prefix: str,
    before_replacing: Callable[[Path], None] | None = None,
) -> Path:
    """:func:`write_atomically` with an explicit temporary prefix, bypassing the recorders."""
    temporary = None
    try:
        kind = _special_kind(path)
        if kind:
            raise WriteError(
                f"could not write {path}: it is {kind}, which is never replaced or written "
                "through; give the path of a regular file"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            prefix=f"{temporary_prefix}{path.name}.", suffix=".tmp", dir=path.parent
        )
        os.fchmod(handle, 0o666 & ~current_umask())
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        if before_replacing is not None:
            before_replacing(path)
        os.replace(temporary, path)
    except WriteError:
        raise
    except OSError as error:
        raise WriteError(f"could not write {path}: {error.strerror or error}") from None
    finally:
        if temporary is not None and os.path.exists(temporary):
            os.unlink(temporary)
    return path


def write_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write ``arrays`` as an uncompressed ``.npz`` archive, atomically."""

    def write(file: IO[bytes]) -> None:
        # Built in memory first: a ZipFile left open on a full disk complains when collected.
        archive = io.BytesIO()
        np.savez(archive, **arrays)
        file.write(archive.getbuffer())

    return write_atomically(path, write)


def write_json(path: str | os.PathLike, value: Any) -> Path:
    """Write ``value`` as indented JSON, atomically."""
    text = json.dumps(value, indent=2) + "\n"
    return write_atomically(path, lambda file: file.write(text.encode()))


def current_umask() -> int:
    """The process's umask, read without changing it where Linux allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _special_kind(path: Path) -> str | None:
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    return SPECIAL_FILES.get(stat.S_IFMT(mode))


def read_npz(path: str | os.PathLike, what: str) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` archive at ``path``, checksums verified.

    ``what`` names the file's role in messages ("checkpoint", "weights file").
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {what} at {path}")
    data = path.read_bytes()
    if not data.startswith(ZIP_MAGIC):
        raise CorruptFileError(
            f"{path} is not a {what}: it is not an .npz archive"
            + (" (the file is empty)" if not data else "")
        )
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except Exception as error:  # a damaged archive trips zipfile, zlib or NumPy's header parser
        raise CorruptFileError(
            f"{path} is a damaged {what} (truncated or corrupted: {_reason(error)})"
        ) from None


def _reason(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text if len(text) <= 120 else text[:117] + "..."
