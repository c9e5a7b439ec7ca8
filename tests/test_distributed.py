"""Data-parallel training on each framework's own engine, 2 workers over loopback: the same
training as one process on the same global batch, identical weights on every worker, exact
resumption with any number of workers, and a clean stop when a worker dies."""

import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from gan_backends.checkpoints import load_checkpoint
from gan_backends.distributed import Cluster, free_ports
from gan_backends.runs import LOCK_FILE

ROOT = Path(__file__).resolve().parent.parent
GAN = ["train", "gan", "--limit", "128", "--no-progress"]
DCGAN = ["train", "dcgan", "--dataset", "shapes", "--image-size", "16", "--width", "8",
         "--latent-dim", "8", "--batch-size", "16", "--limit", "64", "--no-progress"]  # fmt: skip


def gan_backends(*arguments, nproc=1):
    launcher = ["launch", "--nproc", str(nproc)] if nproc > 1 else []
    return [sys.executable, "-m", "gan_backends", *launcher, *arguments]


def on_nodes(*arguments, nnodes=2):
    """The same launch command for every node of a run on 127.0.0.1, one worker each."""
    master = f"127.0.0.1:{free_ports(1)[0]}"
    return [
        [sys.executable, "-m", "gan_backends", "launch", "--nnodes", str(nnodes), "--node-rank",
         str(rank), "--master", master, "--nproc", "1", *arguments]
        for rank in range(nnodes)
    ]  # fmt: skip


ENVIRONMENT = {k: v for k, v in os.environ.items() if k != "GAN_BACKEND"}


def run(command, timeout=240):
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=ENVIRONMENT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def start(command):
    """``command`` started in a session of its own (as a shell starts a foreground job)."""
    return subprocess.Popen(
        command, cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=ENVIRONMENT, start_new_session=True,
    )  # fmt: skip


def run_together(commands, timeout=240):
    """Run the commands at once (the nodes of one run); their results when all have ended."""
    processes = [start(command) for command in commands]
    try:
        results = [process.communicate(timeout=timeout) for process in processes]
    finally:
        for process in processes:
            process.kill()
    for process, (_, stderr) in zip(processes, results, strict=True):
        assert process.returncode == 0, stderr[-3000:]
    return results


def wait_for(path: Path, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert path.exists(), f"no {path.name} after {seconds} s"


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def gone_within(pids, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not any(alive(pid) for pid in pids)


def lock_is_free(out: Path, seconds: float = 10) -> bool:
    """Whether the run's lock is free, or becomes free within ``seconds`` (the processes a
    killed worker forked, such as the image decoders, exit as they notice it)."""
    deadline = time.monotonic() + seconds
    with open(out / LOCK_FILE, "rb") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.1)
                continue
            fcntl.flock(lock, fcntl.LOCK_UN)
            return True


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
    # Two machines (here two launchers on 127.0.0.1), one worker each: the same run.
    nodes = str(tmp_path / "nodes")
    results = run_together(on_nodes(*flags, "--epochs", "2", "--out", nodes))
    # The worker of global rank 0 reports; MXNet's scheduler ranks workers as they arrive.
    assert any(out.startswith(f"{backend} (2 workers): results in {nodes}") for out, _ in results)
    by_nodes = load_checkpoint(tmp_path / "nodes/checkpoint.npz").history
    assert by_nodes["workers"] == [2, 2] and by_nodes["worker_spread"] == [0.0, 0.0]
    assert_same_checkpoints(
        tmp_path / "one/checkpoint.npz", tmp_path / "nodes/checkpoint.npz", 1e-5
    )
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


def descendants_of(launcher: int) -> list[int]:
    """Every process descending from the launcher's process, the launcher included."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [launcher]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending += children.get(pid, [])
    return found


def worker_processes_of(launcher: int) -> dict[int, int]:
    """{rank: pid} of the training workers descending from the launcher's process."""
    workers = {}
    for pid in descendants_of(launcher):
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


def test_a_node_that_dies_ends_the_run_on_every_node_with_one_line_and_resume_continues(
    backend, tmp_path
):
    out = tmp_path / "run"
    flags = [*DCGAN, "--backend", backend, "--epochs", "1000", "--out", str(out)]
    first, second = (start(command) for command in on_nodes(*flags))
    try:
        wait_for(out / "metrics.json")  # the DCGAN trains on two nodes
        os.kill(second.pid, signal.SIGKILL)  # node 1's launcher: its worker follows it
        _, stderr = first.communicate(timeout=60)
    finally:
        first.kill()
        second.kill()
    assert first.returncode == 2
    assert gone_within(descendants_of(first.pid), 10)
    epoch = load_checkpoint(out / "checkpoint.npz").epoch
    assert stderr.strip().splitlines()[-1] == (
        "gan-backends: error: node 1 (127.0.0.1) left the run before it finished; the workers "
        f"here were stopped; the last checkpoint, {out / 'checkpoint.npz'}, holds epoch {epoch} "
        "and is intact: continue with the same command and --resume"
    )
    resumes_for_one_more_epoch(backend, out)


def launched_dcgan_after_an_epoch(backend: str, out: Path) -> subprocess.Popen:
    """A launcher of a long 2-worker DCGAN run into ``out`` that has finished an epoch (eager:
    what these tests stop is the processes, not the compiled step)."""
    launcher = start(gan_backends(*DCGAN, "--eager", "--backend", backend, "--epochs", "1000",
                                  "--out", str(out), nproc=2))  # fmt: skip
    try:
        wait_for(out / "metrics.json")
    except BaseException:
        launcher.kill()
        raise
    return launcher


def resumes_for_one_more_epoch(backend: str, out: Path) -> None:
    epoch = load_checkpoint(out / "checkpoint.npz").epoch
    resume = [*DCGAN, "--backend", backend, "--epochs", str(epoch + 1), "--out", str(out)]
    run(gan_backends(*resume, "--resume"))
    assert load_checkpoint(out / "checkpoint.npz").epoch == epoch + 1


def test_killing_the_launcher_ends_its_workers_and_frees_the_run(backend, tmp_path):
    out = tmp_path / "run"
    launcher = launched_dcgan_after_an_epoch(backend, out)
    try:
        processes = descendants_of(launcher.pid)
        assert len(worker_processes_of(launcher.pid)) == 2
        launcher.send_signal(signal.SIGKILL)
        launcher.wait()
        assert gone_within(processes, 5), "a worker outlived its launcher"
    finally:
        launcher.kill()
    assert lock_is_free(out)
    resumes_for_one_more_epoch(backend, out)


def stopped_after_an_epoch(
    backend: str, out: Path, stop: Callable[[subprocess.Popen], None]
) -> tuple[subprocess.Popen, str, list]:
    """A launched 2-worker DCGAN run into ``out``, stopped by ``stop(launcher)`` after an epoch:
    the launcher, what it printed on stderr, and the processes it had."""
    launcher = launched_dcgan_after_an_epoch(backend, out)
    try:
        processes = descendants_of(launcher.pid)
        stop(launcher)
        _, stderr = launcher.communicate(timeout=60)
    finally:
        launcher.kill()
    return launcher, stderr, processes


def test_sigterm_stops_the_launcher_with_one_line_and_a_resumable_run(backend, tmp_path):
    out = tmp_path / "run"
    launcher, stderr, processes = stopped_after_an_epoch(
        backend, out, lambda launcher: launcher.send_signal(signal.SIGTERM)
    )
    assert launcher.returncode == 128 + signal.SIGTERM
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith("gan-backends: stopped by SIGTERM; the workers were stopped")
    assert gone_within(processes, 5)
    resumes_for_one_more_epoch(backend, out)


def test_ctrl_c_in_the_terminal_stops_launcher_and_workers_with_one_line(backend, tmp_path):
    """A terminal sends Ctrl-C's SIGINT to the launcher's whole process group."""
    out = tmp_path / "run"
    launcher, stderr, processes = stopped_after_an_epoch(
        backend, out, lambda launcher: os.killpg(launcher.pid, signal.SIGINT)
    )
    assert launcher.returncode == 128 + signal.SIGINT
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith("gan-backends: interrupted; the workers were stopped; the last")
    assert gone_within(processes, 5)
    assert load_checkpoint(out / "checkpoint.npz").epoch >= 1
