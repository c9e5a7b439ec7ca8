"""Data-parallel training on each framework's own engine, 2 workers over loopback: the same
training as one process on the same global batch, identical weights on every worker, exact
resumption with any number of workers, and a clean stop when a worker dies."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gan_backends.checkpoints import load_checkpoint
from gan_backends.distributed import Cluster

ROOT = Path(__file__).resolve().parent.parent
GAN = ["train", "gan", "--limit", "256", "--no-progress"]
DCGAN = ["train", "dcgan", "--dataset", "shapes", "--image-size", "16", "--width", "8",
         "--latent-dim", "8", "--batch-size", "16", "--limit", "64", "--no-progress"]  # fmt: skip


def gan_backends(*arguments, nproc=1):
    launcher = ["launch", "--nproc", str(nproc)] if nproc > 1 else []
    return [sys.executable, "-m", "gan_backends", *launcher, *arguments]


def run(command, timeout=240):
    environment = {k: v for k, v in os.environ.items() if k != "GAN_BACKEND"}
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=environment
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def assert_same_checkpoints(first: Path, second: Path, atol: float) -> None:
    a, b = load_checkpoint(first), load_checkpoint(second)
    assert a.epoch == b.epoch
    np.testing.assert_allclose(a.history["loss_D"], b.history["loss_D"], atol=atol, rtol=0)
    np.testing.assert_allclose(a.history["loss_G"], b.history["loss_G"], atol=atol, rtol=0)
    for group in ("generator", "discriminator", "optimizer"):
        for name, value in getattr(a, group).items():
            np.testing.assert_allclose(
                getattr(b, group)[name], value, atol=atol, rtol=0, err_msg=f"{group} {name}"
            )


def test_two_workers_train_the_gan_as_one_process_on_the_same_global_batch(backend, tmp_path):
    flags = [*GAN, "--backend", backend]
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    run(gan_backends(*flags, "--epochs", "2", "--out", one))
    result = run(gan_backends(*flags, "--epochs", "1", "--out", two, nproc=2))
    assert result.stdout.startswith(f"{backend} (2 workers): results in {two}")
    run(gan_backends(*flags, "--epochs", "2", "--out", two, "--resume"))  # now in one process
    assert_same_checkpoints(tmp_path / "one/checkpoint.npz", tmp_path / "two/checkpoint.npz", 1e-5)
    history = load_checkpoint(tmp_path / "two/checkpoint.npz").history
    assert history["workers"] == [2, 1] and history["worker_spread"] == [0.0, None]


def test_dcgan_workers_agree_exactly_and_a_resumed_run_equals_an_uninterrupted_one(
    backend, tmp_path
):
    flags = [*DCGAN, "--backend", backend, "--eager"]  # the dead-worker test compiles
    run(gan_backends(*flags, "--epochs", "2", "--out", str(tmp_path / "straight"), nproc=2))
    straight = load_checkpoint(tmp_path / "straight/checkpoint.npz")
    assert straight.history["worker_spread"] == [0.0, 0.0]  # identical weights on both workers
    resumed = str(tmp_path / "resumed")
    run(gan_backends(*flags, "--epochs", "1", "--out", resumed, nproc=2))
    run(gan_backends(*flags, "--epochs", "2", "--out", resumed, "--resume", nproc=2))
    assert_same_checkpoints(
        tmp_path / "straight/checkpoint.npz", tmp_path / "resumed/checkpoint.npz", 1e-5
    )


def test_a_dead_worker_ends_the_run_with_one_line_and_the_checkpoint_intact(backend, tmp_path):
    out = tmp_path / "run"
    command = gan_backends(*DCGAN, "--backend", backend, "--epochs", "1000", "--out", str(out),
                           nproc=2)  # fmt: skip
    environment = {k: v for k, v in os.environ.items() if k != "GAN_BACKEND"}
    launcher = subprocess.Popen(
        command, cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=environment,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while not (out / "metrics.json").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (out / "metrics.json").exists(), "no epoch finished"
        workers = worker_processes_of(launcher.pid)
        os.kill(workers[1], signal.SIGKILL)
        killed = time.monotonic()
        _, stderr = launcher.communicate(timeout=60)
    finally:
        launcher.kill()
    assert time.monotonic() - killed < 30
    assert launcher.returncode == 2
    epoch = load_checkpoint(out / "checkpoint.npz").epoch
    assert stderr.strip().splitlines()[-1] == (
        f"gan-backends: error: worker 1 was killed by SIGKILL; the other processes were "
        f"stopped; the last checkpoint, {out / 'checkpoint.npz'}, holds epoch {epoch} and is "
        "intact: continue with the same command and --resume"
    )


def worker_processes_of(launcher: int) -> dict[int, int]:
    """{rank: pid} of the training workers descending from the launcher's process."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    workers, pending = {}, [launcher]
    while pending:
        pid = pending.pop()
        pending += children.get(pid, [])
        try:
            environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        variables = dict(item.split(b"=", 1) for item in environment if b"=" in item)
        rank = variables.get(b"RANK") or variables.get(b"GAN_WORKER_INDEX")  # torchrun's, ours
        if rank is not None and b"DMLC_ROLE=server" not in environment:
            workers[int(rank)] = pid
    return workers


def test_a_batch_that_does_not_split_evenly_is_refused():
    with pytest.raises(ValueError, match="--batch-size 10 does not split evenly over 3 workers"):
        Cluster(rank=0, size=3).shard(10)
    assert Cluster(rank=1, size=4).shard(64) == slice(16, 32)


def test_compare_runs_each_backend_on_its_own_engine(backend, tmp_path):
    flags = ["--model", "gan", "--backends", backend, "--nproc", "2", "--epochs", "1"]
    result = run(gan_backends("compare", *flags, "--limit", "256", "--out", str(tmp_path)))
    assert f"| {backend} |" in result.stdout and " x 2 workers) |" in result.stdout
    checkpoint = load_checkpoint(tmp_path / backend / "checkpoint.npz")
    assert checkpoint.history["workers"] == [2] and checkpoint.history["worker_spread"] == [0.0]
