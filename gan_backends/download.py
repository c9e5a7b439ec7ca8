"""Downloading a data archive once: resumable, verified by its SHA-1, extracted atomically.

Files go to the cache folder, ``$GAN_BACKENDS_DATA`` or else ``~/.cache/gan_backends``. A
download is written to ``NAME.part`` and resumed from there (an HTTP ``Range`` request) after an
interruption; only a complete file whose SHA-1 matches is renamed to ``NAME``. An archive is
extracted into a temporary folder beside its destination and renamed into place, so a folder
that exists is always complete. Nothing here runs unless a data set that needs it is asked for.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from pathlib import Path

from tqdm import tqdm

from gan_backends.files import current_umask

CACHE_VARIABLE = "GAN_BACKENDS_DATA"
CHUNK_BYTES = 1 << 20
TIMEOUT_SECONDS = 30


class DownloadError(OSError):
    """A download failed or its file is not what was expected; the message says what to do."""


def cache_folder() -> Path:
    """Where downloads and decoded data sets are kept."""
    configured = os.environ.get(CACHE_VARIABLE)
    return Path(configured) if configured else Path.home() / ".cache" / "gan_backends"


def sha1_of(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(url: str, sha1: str, folder: Path | None = None, progress: bool = True) -> Path:
    """The file at ``url`` in ``folder`` (the cache by default), downloaded if it is not there.

    Raises DownloadError when the server cannot be reached (saying where to put the file by
    hand) or when the file's SHA-1 is not ``sha1`` (the bad file is removed).
    """
    folder = folder or cache_folder()
    target = folder / url.rsplit("/", 1)[-1]
    if target.is_file() and sha1_of(target) == sha1:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        _download(url, partial, progress)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", None) or error
        raise DownloadError(
            f"could not download {url} ({reason}); the partial download is kept and resumes "
            f"next time. Or download it yourself and place it at {target} (SHA-1 {sha1})"
        ) from None
    found = sha1_of(partial)
    if found != sha1:
        partial.unlink()
        raise DownloadError(
            f"{url} downloaded with SHA-1 {found}, not the expected {sha1}; the file was "
            "removed: try again, or download it yourself and place it at "
            f"{target}"
        )
    os.replace(partial, target)
    return target


def _download(url: str, partial: Path, progress: bool) -> None:
    """Append the rest of ``url`` to ``partial`` (all of it when the server ignores Range)."""
    done = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={done}-"} if done else {})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)
    except urllib.error.HTTPError as error:
        if error.code != 416:  # Range Not Satisfiable: the part is complete already
            raise
        return
    with response:
        resumed = response.status == 206
        length = int(response.headers.get("Content-Length", 0)) or None
        total = (done if resumed else 0) + length if length else None
        with (
            partial.open("ab" if resumed else "wb") as file,
            tqdm(
                total=total, initial=done if resumed else 0, unit="B", unit_scale=True,
                desc=partial.name.removesuffix(".part"), disable=not progress, file=sys.stderr,
            ) as bar,
        ):  # fmt: skip
            while chunk := response.read(CHUNK_BYTES):
                file.write(chunk)
                bar.update(len(chunk))
        if total is not None and partial.stat().st_size < total:
            raise DownloadError(f"the connection closed after {partial.stat().st_size} bytes")


def climbs_out(name: str) -> bool:
    """Whether an archive member's name leads outside the archive's root (``../``, ``/``)."""
    return name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/")


def extract(archive: Path, destination: Path) -> Path:
    """``archive`` (a zip file) extracted to ``destination``, which appears complete or not
    at all."""
    if destination.is_dir():
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        temporary.chmod(0o777 & ~current_umask())  # mkdtemp's folder is private: 0700
        with zipfile.ZipFile(archive) as contents:
            members = contents.namelist()
            outside = [name for name in members if climbs_out(name)]
            if outside:
                warnings.warn(
                    f"skipped {len(outside)} member{'s' if len(outside) > 1 else ''} of "
                    f"{archive} outside the archive's root: {', '.join(outside[:5])}"
                    + (", ..." if len(outside) > 5 else ""),
                    stacklevel=2,
                )
            contents.extractall(temporary, [name for name in members if not climbs_out(name)])
        os.replace(temporary, destination)
    except (zipfile.BadZipFile, OSError) as error:
        raise DownloadError(f"could not extract {archive} ({error}); delete it and retry") from None
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return destination
