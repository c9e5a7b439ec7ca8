"""d2l's Pokemon data, downloaded once: the real download code against a server on 127.0.0.1
that the tests start, including a wrong checksum, an interrupted transfer and no network."""

import hashlib
import http.server
import io
import os
import stat
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan_backends import datasets, download
from gan_backends.download import DownloadError

ROOT = Path(__file__).resolve().parent.parent


class Server(http.server.ThreadingHTTPServer):
    """Serves ``payload`` at every path, honouring Range; ``cut_once`` bytes into the first
    response it closes the connection, as a dropped transfer does."""

    def __init__(self, payload: bytes, cut_once: int | None = None):
        super().__init__(("127.0.0.1", 0), Handler)
        self.payload, self.cut_once = payload, cut_once
        self.ranges: list[str | None] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/pokemon.zip"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        server = self.server
        requested = self.headers.get("Range")
        server.ranges.append(requested)
        start = int(requested.split("=")[1].rstrip("-")) if requested else 0
        body = server.payload[start:]
        self.send_response(206 if requested else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if server.cut_once is not None:
            body, server.cut_once = body[: server.cut_once], None
        self.wfile.write(body)

    def log_message(self, *arguments):
        pass


@pytest.fixture
def serve():
    servers = []

    def start(payload: bytes, cut_once: int | None = None) -> Server:
        server = Server(payload, cut_once)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


PAYLOAD = os.urandom(3 << 20)


def test_a_file_is_downloaded_once_and_verified(serve, tmp_path):
    server = serve(PAYLOAD)
    path = download.fetch(server.url, sha1(PAYLOAD), tmp_path, progress=False)
    assert path == tmp_path / "pokemon.zip" and path.read_bytes() == PAYLOAD
    assert download.fetch(server.url, sha1(PAYLOAD), tmp_path, progress=False) == path
    assert server.ranges == [None]  # the second call found the file


def test_an_interrupted_download_resumes_where_it_stopped(serve, tmp_path):
    server = serve(PAYLOAD, cut_once=len(PAYLOAD) // 3)
    with pytest.raises(DownloadError, match="partial download is kept and resumes next time"):
        download.fetch(server.url, sha1(PAYLOAD), tmp_path, progress=False)
    assert (tmp_path / "pokemon.zip.part").stat().st_size == len(PAYLOAD) // 3
    path = download.fetch(server.url, sha1(PAYLOAD), tmp_path, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert server.ranges == [None, f"bytes={len(PAYLOAD) // 3}-"]
    assert not (tmp_path / "pokemon.zip.part").exists()


def test_a_wrong_checksum_removes_the_file_and_says_so(serve, tmp_path):
    server = serve(PAYLOAD)
    expected = "0" * 40
    with pytest.raises(DownloadError) as failed:
        download.fetch(server.url, expected, tmp_path, progress=False)
    assert str(failed.value) == (
        f"{server.url} downloaded with SHA-1 {sha1(PAYLOAD)}, not the expected {expected}; the "
        f"file was removed: try again, or download it yourself and place it at "
        f"{tmp_path / 'pokemon.zip'}"
    )
    assert list(tmp_path.iterdir()) == []


def test_without_a_network_the_message_says_where_to_place_the_file(tmp_path):
    closed = Server(b"")  # bound, then closed: nothing listens on its port
    url = closed.url
    closed.server_close()
    with pytest.raises(DownloadError) as failed:
        download.fetch(url, "a" * 40, tmp_path, progress=False)
    message = str(failed.value)
    assert message.startswith(f"could not download {url} (")
    assert message.endswith(
        f"Or download it yourself and place it at {tmp_path / 'pokemon.zip'} (SHA-1 {'a' * 40})"
    )


def pokemon_zip() -> bytes:
    """d2l's layout in small: pokemon/<class>/<sprite>.png, non-square sprites included."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, (name, size) in enumerate([("1", (40, 40)), ("2", (50, 46)), ("3", (30, 60))]):
            sprite = io.BytesIO()
            Image.new("RGBA", size, (index * 80, 100, 200, 255)).save(sprite, format="PNG")
            archive.writestr(f"pokemon/{name}/{index}.png", sprite.getvalue())
    return buffer.getvalue()


def test_pokemon_is_downloaded_extracted_and_read_as_d2l_reads_it(serve, tmp_path, monkeypatch):
    archive = pokemon_zip()
    server = serve(archive)
    monkeypatch.setenv(datasets.POKEMON_URL_VARIABLE, server.url)
    monkeypatch.setattr(datasets, "POKEMON_SHA1", sha1(archive))
    images = datasets.pokemon(16, root=tmp_path)
    assert images.shape == (3, 3, 16, 16) and images.dtype == np.uint8
    assert (tmp_path / "pokemon" / "pokemon" / "2" / "1.png").is_file()
    np.testing.assert_array_equal(
        images[:, :, 8, 8], [[0, 100, 200], [80, 100, 200], [160, 100, 200]]
    )
    np.testing.assert_array_equal(datasets.pokemon(16, root=tmp_path), images)
    assert server.ranges == [None]


def test_a_damaged_archive_leaves_no_half_extracted_folder(tmp_path):
    (tmp_path / "pokemon.zip").write_bytes(pokemon_zip()[:100])
    with pytest.raises(DownloadError, match="could not extract"):
        download.extract(tmp_path / "pokemon.zip", tmp_path / "pokemon")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pokemon.zip"]


def test_the_command_says_in_one_line_when_the_data_cannot_be_fetched(tmp_path):
    closed = Server(b"")
    url = closed.url
    closed.server_close()
    environment = dict(os.environ, GAN_BACKENDS_DATA=str(tmp_path / "cache"))
    environment[datasets.POKEMON_URL_VARIABLE] = url
    result = subprocess.run(
        [sys.executable, "-m", "gan_backends.cli", "train", "dcgan", "--dataset", "pokemon",
         "--out", str(tmp_path / "run")],
        cwd=ROOT, capture_output=True, text=True, env=environment, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"gan-backends: error: could not download {url} (")
    assert str(tmp_path / "cache" / "pokemon.zip") in result.stderr


def test_extracting_names_members_outside_the_archive_and_honours_the_umask(tmp_path):
    archive = tmp_path / "pokemon.zip"
    with zipfile.ZipFile(archive, "w") as contents:
        contents.writestr("pokemon/1/1.png", b"inside")
        contents.writestr("../../escaped.png", b"outside")
        contents.writestr("/etc/absolute.png", b"outside")
    previous = os.umask(0o022)
    try:
        with pytest.warns(UserWarning) as caught:
            extracted = download.extract(archive, tmp_path / "pokemon")
    finally:
        os.umask(previous)
    assert [str(warning.message) for warning in caught] == [
        f"skipped 2 members of {archive} outside the archive's root: ../../escaped.png, "
        "/etc/absolute.png"
    ]
    assert (extracted / "pokemon" / "1" / "1.png").read_bytes() == b"inside"
    assert sorted(p.name for p in extracted.rglob("*")) == ["1", "1.png", "pokemon"]
    assert stat.S_IMODE(extracted.stat().st_mode) == 0o755
