"""Writing files so that a crash, a kill or a full disk never leaves a half-written one, and
reading ``.npz`` archives so that a damaged one is named, not a traceback.

Every write goes to a temporary file with a unique name in the target's folder, is flushed to
disk, and then renamed over the target: at any moment the target holds either its old or its
new content, and concurrent writers never share a temporary file. A failed write removes its
temporary file and raises :class:`WriteError`, which names the file and the cause.

:func:`read_npz` loads every array eagerly (so the archive's CRC-32 checksums are verified) and
never unpickles; anything wrong with the file raises :class:`CorruptFileError`.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

ZIP_MAGIC = b"PK\x03\x04"


class WriteError(OSError):
    """A file could not be written; the previous version of it, if any, is intact."""


class CorruptFileError(ValueError):
    """A file exists but is not what it should be: truncated, damaged or of another kind."""


def write_atomically(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(file)`` on a temporary file, then rename it to ``path``."""
    path = Path(path)
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
        )
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as error:
        raise WriteError(f"could not write {path}: {error.strerror or error}") from None
    finally:
        if temporary is not None and os.path.exists(temporary):
            os.unlink(temporary)
    return path


def write_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write ``arrays`` as an uncompressed ``.npz`` archive, atomically."""
    return write_atomically(path, lambda file: np.savez(file, **arrays))


def write_json(path: str | os.PathLike, value: Any) -> Path:
    """Write ``value`` as indented JSON, atomically."""
    text = json.dumps(value, indent=2) + "\n"
    return write_atomically(path, lambda file: file.write(text.encode()))


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
