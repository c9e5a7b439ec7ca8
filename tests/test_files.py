"""Writing and reading files (gan_backends/files.py): a write replaces its target whole or not
at all, never writes through a link or into a FIFO, honours the umask, and a damaged archive is
named, not a traceback."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gan_backends.files import (
    CorruptFileError,
    WriteError,
    check_output_path,
    read_npz,
    write_atomically,
    write_json,
    write_npz,
)
from gan_backends.runs import MANIFEST, RunFolder

ROOT = Path(__file__).resolve().parent.parent


def test_a_failed_write_leaves_the_old_content_and_no_temporary_file(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, {"epoch": 1})

    def fails_halfway(file):
        file.write(b'{"epoch": ')
        raise OSError(28, "No space left on device")

    with pytest.raises(WriteError, match=f"could not write {target}: No space left on device"):
        write_atomically(target, fails_halfway)
    assert json.loads(target.read_text()) == {"epoch": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_a_link_or_a_fifo_is_never_replaced_or_written_through(tmp_path):
    (tmp_path / "theirs.json").write_text("theirs")
    (tmp_path / "link.json").symlink_to(tmp_path / "theirs.json")
    os.mkfifo(tmp_path / "pipe.json")
    for name, kind in (("link.json", "a symbolic link"), ("pipe.json", "a FIFO")):
        with pytest.raises(WriteError, match=f"it is {kind}, which is never replaced"):
            write_json(tmp_path / name, {})
        with pytest.raises(WriteError, match=f"--out {tmp_path / name} is {kind}"):
            check_output_path(tmp_path / name, "--out")
    assert (tmp_path / "theirs.json").read_text() == "theirs"
    assert (tmp_path / "link.json").is_symlink()
    assert stat.S_ISFIFO((tmp_path / "pipe.json").lstat().st_mode)


def test_archives_read_back_exactly_and_a_damaged_one_is_named(tmp_path):
    arrays = {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3), "step": np.array(3)}
    path = write_npz(tmp_path / "weights.npz", arrays)
    read = read_npz(path, "weights file")
    assert read.keys() == arrays.keys()
    for name, value in arrays.items():
        np.testing.assert_array_equal(read[name], value)
        assert read[name].dtype == value.dtype
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(CorruptFileError, match=rf"{path} is a damaged weights file \(truncated"):
        read_npz(path, "weights file")


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_files_and_folders_honour_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        with RunFolder(tmp_path / "run") as folder:
            written = write_json(folder.path / "metrics.json", {})
    finally:
        os.umask(previous)
    assert stat.S_IMODE(written.stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(folder.path.stat().st_mode) == 0o777 & ~umask
    assert stat.S_IMODE((folder.path / MANIFEST).stat().st_mode) == 0o666 & ~umask


FULL_DISK = """import resource, signal, sys
import numpy as np
from gan_backends.files import WriteError, write_npz
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))  # writes past 20 kB fail: EFBIG
try:
    write_npz(sys.argv[1], {"weights": np.zeros(100000)})
except WriteError as error:
    print(error)
"""


def test_a_checkpoint_that_does_not_fit_on_the_disk_is_one_line_and_no_noise(tmp_path):
    checkpoint = tmp_path / "checkpoint.npz"
    result = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(checkpoint)], cwd=ROOT, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert (result.stdout, result.stderr) == (f"could not write {checkpoint}: File too large\n", "")
    assert list(tmp_path.iterdir()) == []
