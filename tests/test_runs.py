"""A run folder belongs to one run: nothing a user made is lost to a rerun, a second process,
a kill, Ctrl-C or a full disk, and each of them ends in one line that says what to do."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from gan_backends import cli as cli_module
from gan_backends import experiments, outputs
from gan_backends.checkpoints import load_checkpoint
from gan_backends.experiments import Config
from gan_backends.files import WriteError, write_json
from gan_backends.runs import LOCK_FILE, MANIFEST, RunFolder, RunFolderError
from tests.conftest import per_backend

ROOT = Path(__file__).resolve().parent.parent
SHORT_GAN = Config.for_model("gan", epochs=2, limit=64, compiled=False)
SHORT_DCGAN = Config.for_model(
    "dcgan", epochs=2, batch_size=16, dataset="shapes", image_size=16, width=8, latent_dim=8,
    limit=64, compiled=False,
)  # fmt: skip


def cli(*arguments, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-m", "gan_backends.cli", *arguments], cwd=ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs,
    )  # fmt: skip


def finish(process, timeout=300):
    stdout, stderr = process.communicate(timeout=timeout)
    return process.returncode, stdout, stderr


def test_a_new_run_refuses_a_folder_that_holds_another_run(selected, tmp_path):
    experiments.run(SHORT_GAN, tmp_path)
    before = (tmp_path / "checkpoint.npz").read_bytes()
    with pytest.raises(RunFolderError) as refused:
        experiments.run(SHORT_GAN, tmp_path)
    assert str(refused.value) == (
        f"{tmp_path} already holds a run (checkpoint.npz, metrics.json, losses.png, "
        "quality.png, samples.png); continue it with --resume, replace it with --overwrite, or "
        "choose another --out"
    )
    assert (tmp_path / "checkpoint.npz").read_bytes() == before


def test_overwrite_replaces_the_old_runs_files_and_nothing_else(selected, tmp_path):
    experiments.run(replace(SHORT_DCGAN, epochs=3), tmp_path)
    mine = ["notes.txt", "samples_epoch_best_keep.png", ".notes.tmp"]
    for name in mine:
        (tmp_path / name).write_text("mine")
    experiments.run(replace(SHORT_DCGAN, epochs=1), tmp_path, overwrite=True)
    assert sorted(p.name for p in tmp_path.glob("samples_epoch*.png")) == [
        "samples_epoch001.png", "samples_epoch_best_keep.png",
    ]  # fmt: skip
    assert load_checkpoint(tmp_path / "checkpoint.npz").epoch == 1
    assert [(tmp_path / name).read_text() for name in mine] == ["mine"] * 3


def test_overwrite_keeps_the_old_run_when_the_new_one_cannot_start(selected, tmp_path):
    experiments.run(SHORT_GAN, tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(ValueError, match="--batch-size 100"):
        experiments.run(replace(SHORT_GAN, batch_size=100), tmp_path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_second_process_cannot_train_into_a_folder_in_use(selected, tmp_path):
    with RunFolder(tmp_path):
        process = cli("train", "gan", "--epochs", "1", "--out", str(tmp_path), "--eager")
        code, _, stderr = finish(process)
    assert code == 2
    assert stderr == (
        f"gan-backends: error: {tmp_path} is in use by another run (process {os.getpid()}); "
        "wait for it to finish, or choose another --out\n"
    )
    assert not (tmp_path / "metrics.json").exists()


def test_the_lock_of_a_killed_run_does_not_block_the_folder(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom gan_backends.runs import RunFolder\n"
         f"folder = RunFolder({str(tmp_path)!r})\nprint('locked', flush=True)\ntime.sleep(600)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline() == "locked\n"
    with pytest.raises(RunFolderError, match=f"in use by another run \\(process {holder.pid}\\)"):
        RunFolder(tmp_path)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (tmp_path / LOCK_FILE).exists()
    with RunFolder(tmp_path) as folder:
        assert folder.path == tmp_path


def test_a_killed_runs_temporary_files_are_cleaned_up_and_no_one_elses(tmp_path):
    writer = subprocess.Popen(
        [sys.executable, "-c", "import tempfile, time\nfrom gan_backends.runs import RunFolder\n"
         f"folder = RunFolder({str(tmp_path)!r})\n"
         "_, half = tempfile.mkstemp('.tmp', folder.temporary_prefix, folder.path)\n"
         "print(half, flush=True)\ntime.sleep(600)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    half_written = Path(writer.stdout.readline().strip())
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    users = [tmp_path / ".notes.tmp", tmp_path / ".checkpoint.npz.k2j4x.tmp"]
    for path in users:
        path.write_text("mine")
    assert half_written.exists()
    with RunFolder(tmp_path, resume=True) as folder:
        assert not half_written.exists()
        assert folder.temporary_prefix not in half_written.name
    assert [path.read_text() for path in users] == ["mine", "mine"]


def test_what_a_run_writes_is_named_in_its_manifest_before_it_is_in_place(selected, tmp_path):
    experiments.run(replace(SHORT_DCGAN, epochs=1), tmp_path)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert sorted(manifest["written"]) == [
        "checkpoint.npz", "losses.png", "metrics.json", "quality.png", "samples.png",
        "samples_epoch001.png",
    ]  # fmt: skip
    assert [prefix.startswith(".gan_backends-") for prefix in manifest["temporary_prefixes"]] == [
        True
    ]


def test_a_file_no_run_wrote_is_never_replaced(tmp_path):
    (tmp_path / "samples.png").write_text("my picture")
    (tmp_path / "samples_epoch_best_keep.png").write_text("mine too")
    with pytest.raises(RunFolderError) as refused:
        RunFolder(tmp_path)
    assert str(refused.value) == (
        f"{tmp_path} holds samples.png, which no run wrote there, and a run would replace them: "
        "move them away, or choose another --out"
    )
    with pytest.raises(RunFolderError, match=r"holds samples\.png, which no run wrote"):
        RunFolder(tmp_path, overwrite=True)
    (tmp_path / "samples.png").unlink()
    with RunFolder(tmp_path) as folder:
        (tmp_path / "metrics.json").write_text("made meanwhile by someone else")
        with pytest.raises(WriteError, match=r"did not write it .* so it is not replaced"):
            write_json(tmp_path / "metrics.json", {})
        assert folder.written == []
    assert (tmp_path / "metrics.json").read_text() == "made meanwhile by someone else"
    assert (tmp_path / "samples_epoch_best_keep.png").read_text() == "mine too"


def test_a_damaged_manifest_is_named_and_left_alone(tmp_path):
    (tmp_path / MANIFEST).write_text("{not json")
    with pytest.raises(RunFolderError) as refused:
        RunFolder(tmp_path, resume=True)
    assert str(refused.value).startswith(f"{tmp_path / MANIFEST} is damaged (")
    assert str(refused.value).endswith(
        f"it lists what the runs in {tmp_path} wrote: delete it only if no run's files are "
        "there, or choose another --out"
    )
    assert (tmp_path / MANIFEST).read_text() == "{not json"


def test_a_run_that_cannot_start_leaves_no_folder_behind(selected, tmp_path):
    with pytest.raises(ValueError, match="--batch-size 100"):
        experiments.run(replace(SHORT_GAN, batch_size=100), tmp_path / "new")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("a_file", "--out {out} is a file; give the path of a folder"),
        ("a_file/below", "cannot use --out {out}: Not a directory; choose a writable folder"),
        ("a_fifo", "--out {out} is not a folder; give the path of a folder"),
        ("a_link_to_a_file", "--out {out} is a file; give the path of a folder"),
        ("", "--out is empty; give the path of a folder"),
    ],
)
def test_an_out_that_cannot_be_a_folder_is_named(tmp_path, out, message):
    (tmp_path / "a_file").write_text("keep me")
    os.mkfifo(tmp_path / "a_fifo")
    (tmp_path / "a_link_to_a_file").symlink_to(tmp_path / "a_file")
    if not out:
        with pytest.raises(RunFolderError, match=message):
            RunFolder("")
        return
    with pytest.raises(RunFolderError) as refused:
        RunFolder(tmp_path / out)
    assert str(refused.value) == message.format(out=tmp_path / out)
    assert (tmp_path / "a_file").read_text() == "keep me"


def test_an_out_that_links_to_a_folder_is_written_through(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    with RunFolder(tmp_path / "link") as folder:
        write_json(folder.path / "metrics.json", {})
    assert (tmp_path / "link").is_symlink()
    assert (tmp_path / "elsewhere" / "metrics.json").read_text() == "{}\n"


def test_a_read_only_folder_is_named(tmp_path, monkeypatch):
    def read_only(path, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(RunFolderError) as refused:
        RunFolder(tmp_path)
    assert str(refused.value) == (
        f"cannot use --out {tmp_path}: Read-only file system; choose a writable folder"
    )


def test_a_full_disk_leaves_the_last_checkpoint_intact_and_says_so(selected, tmp_path, monkeypatch):
    experiments.run(replace(SHORT_GAN, epochs=1), tmp_path)
    before = (tmp_path / "checkpoint.npz").read_bytes()
    savez = np.savez

    def disk_full(file, **arrays):
        savez(file, **arrays)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(WriteError) as failed:
        experiments.run(SHORT_GAN, tmp_path, resume=True)
    checkpoint = tmp_path / "checkpoint.npz"
    assert str(failed.value) == (
        f"could not write {checkpoint}: No space left on device; the last checkpoint, "
        f"{checkpoint}, holds epoch 1 and is intact: continue with the same command and --resume"
    )
    assert checkpoint.read_bytes() == before
    assert list(tmp_path.glob(".*.tmp")) == []


def test_resuming_a_finished_run_changes_nothing(selected, tmp_path, capsys):
    experiments.run(SHORT_GAN, tmp_path)
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != MANIFEST}
    metrics = experiments.run(SHORT_GAN, tmp_path, resume=True)
    assert metrics["epochs_done"] == 2
    assert "already holds 2 epochs (--epochs 2): nothing to train" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != MANIFEST} == files


def test_resuming_a_finished_run_writes_the_final_output_a_full_disk_stopped(
    selected, tmp_path, monkeypatch, capsys
):
    def disk_full(*arguments, **keywords):
        raise WriteError(f"could not write {tmp_path / 'samples.png'}: No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(outputs.plots, "plot_gaussian", disk_full)
        with pytest.raises(WriteError, match="holds epoch 1 and is intact"):
            experiments.run(replace(SHORT_GAN, epochs=1), tmp_path)
    assert not (tmp_path / "samples.png").exists()
    metrics = experiments.run(replace(SHORT_GAN, epochs=1), tmp_path, resume=True)
    assert "holds all 1 epochs, but the final outputs are incomplete" in capsys.readouterr().err
    assert (tmp_path / "samples.png").is_file()
    assert (
        json.loads((tmp_path / "metrics.json").read_text())["learned_mean"]
        == (metrics["learned_mean"])
    )


def test_a_run_resumed_on_another_backend_records_each_epochs_backend(all_backends, tmp_path):
    first, second = all_backends[:2]
    per_backend([first], lambda: experiments.run(replace(SHORT_GAN, epochs=1), tmp_path))
    metrics = per_backend([second], lambda: experiments.run(SHORT_GAN, tmp_path, resume=True))
    assert metrics[second]["backend"] == second
    assert metrics[second]["backend_per_epoch"] == [first, second]
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["backend_per_epoch"] == [first, second]


def test_ctrl_c_ends_with_one_line_naming_the_checkpoint_and_resume_continues(tmp_path):
    arguments = ["train", "dcgan", "--dataset", "shapes", "--image-size", "16", "--width", "8"]
    arguments += ["--latent-dim", "8", "--batch-size", "16", "--limit", "64", "--eager"]
    arguments += ["--no-progress", "--out", str(tmp_path)]
    process = cli(*arguments, "--epochs", "1000")
    deadline = time.monotonic() + 240
    while not (tmp_path / "metrics.json").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (tmp_path / "losses.png").is_file()  # written every epoch, before metrics.json
    process.send_signal(signal.SIGINT)
    code, _, stderr = finish(process)
    assert code == 130
    assert "Traceback" not in stderr
    checkpoint = tmp_path / "checkpoint.npz"
    epoch = load_checkpoint(checkpoint).epoch
    assert stderr.strip().splitlines()[-1] == (
        f"gan-backends: interrupted; the last checkpoint, {checkpoint}, holds epoch {epoch} "
        "and is intact: continue with the same command and --resume"
    )
    code, _, stderr = finish(cli(*arguments, "--epochs", str(epoch + 1), "--resume"))
    assert code == 0, stderr
    assert load_checkpoint(checkpoint).epoch == epoch + 1


def test_sigterm_stops_a_run_as_ctrl_c_does(tmp_path):
    process = cli("train", "gan", "--epochs", "1000", "--limit", "64", "--eager", "--no-progress",
                  "--out", str(tmp_path))  # fmt: skip
    deadline = time.monotonic() + 240
    while not (tmp_path / "metrics.json").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    code, _, stderr = finish(process)
    checkpoint = tmp_path / "checkpoint.npz"
    assert (code, stderr) == (130, (
        f"gan-backends: interrupted; the last checkpoint, {checkpoint}, holds epoch "
        f"{load_checkpoint(checkpoint).epoch} and is intact: continue with the same command "
        "and --resume\n"
    ))  # fmt: skip


def test_an_interrupt_that_framework_code_swallows_still_stops_the_run(
    selected, tmp_path, monkeypatch
):
    """Keras catches every exception in one place with a bare ``except`` (and warns instead):
    a SIGTERM landing there must stop the run all the same, at the end of its epoch."""
    plot_losses = outputs.plots.plot_losses

    def swallowing_an_interrupt(loss_D, *rest):
        if len(loss_D) == 2:
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            except BaseException:
                warnings.warn("the structure of `inputs` does not match", stacklevel=1)
        return plot_losses(loss_D, *rest)

    monkeypatch.setattr(outputs.plots, "plot_losses", swallowing_an_interrupt)
    previous = signal.signal(signal.SIGTERM, cli_module._interrupt)
    try:
        with (
            warnings.catch_warnings(record=True) as shown,
            pytest.raises(experiments.RunInterrupted),
        ):
            experiments.run(replace(SHORT_GAN, epochs=1000), tmp_path)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert load_checkpoint(tmp_path / "checkpoint.npz").epoch == 2
    assert [str(warning.message) for warning in shown] == []


# Ctrl-C while the command's modules load (it imports for seconds) lands outside main().
LOADING = "import os, signal, time\nimport gan_backends.cli\nos.kill(os.getpid(), signal.SIGINT)\n"
LOADING += "time.sleep(60)\nimport gan_backends.training"


def test_ctrl_c_while_the_command_loads_is_one_line():
    result = subprocess.run(
        [sys.executable, "-c", LOADING], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == -signal.SIGINT  # what the shell shows as 130
    assert result.stderr == "gan-backends: interrupted\n"


# JAX's garbage-collector callback is such a place: Python prints the KeyboardInterrupt raised
# there as "Exception ignored" and goes on.
IGNORED_WHILE_LOADING = "import os, signal, time\nimport gan_backends.cli\n"
IGNORED_WHILE_LOADING += "class SendsCtrlCWhenCollected:\n"
IGNORED_WHILE_LOADING += "    def __del__(self):\n        os.kill(os.getpid(), signal.SIGINT)\n"
IGNORED_WHILE_LOADING += "SendsCtrlCWhenCollected()\ntime.sleep(60)\nimport gan_backends.training"


def test_ctrl_c_that_python_ignores_in_a_finalizer_while_the_command_loads_still_stops_it():
    result = subprocess.run(
        [sys.executable, "-c", IGNORED_WHILE_LOADING], cwd=ROOT, capture_output=True, text=True,
        timeout=30,
    )  # fmt: skip
    assert result.returncode == -signal.SIGINT
    assert result.stderr == "gan-backends: interrupted\n"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("seconds", [0.1, 0.2, 0.3, 0.5, 0.8])
def test_ctrl_c_at_any_moment_of_start_up_is_at_most_one_line(tmp_path, seconds):
    """From the moment the library's first module runs (Python's own start-up, its first
    30 milliseconds or so, is Python's)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gan_backends", "train", "gan", "--epochs", "1", "--limit", "8",
         "--out", str(tmp_path)], cwd=ROOT, text=True, stderr=subprocess.PIPE,
    )  # fmt: skip
    time.sleep(seconds)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert "Traceback" not in stderr
    assert len(stderr.splitlines()) <= 1, stderr


def test_a_ctrl_c_that_python_ignores_in_a_finalizer_still_stops_the_run(
    selected, tmp_path, monkeypatch
):
    class SendsCtrlCWhenCollected:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)  # Python prints the KeyboardInterrupt, goes on

    save = outputs.save_checkpoint

    def save_then_collect(*arguments, **keywords):
        save(*arguments, **keywords)
        SendsCtrlCWhenCollected()

    monkeypatch.setattr(outputs, "save_checkpoint", save_then_collect)
    with pytest.raises(experiments.RunInterrupted, match="holds epoch 1 and is intact"):
        experiments.run(replace(SHORT_GAN, epochs=5), tmp_path)
    assert load_checkpoint(tmp_path / "checkpoint.npz").epoch == 1
