"""Data-parallel training on each framework's own distributed engine.

The engines: PyTorch's ``torch.distributed`` (gloo on the CPU, NCCL on GPUs) with its launcher
``torchrun``; TensorFlow's ``tf.distribute.MultiWorkerMirroredStrategy`` configured by
``TF_CONFIG``; MXNet's KVStore ``dist_sync`` (a scheduler, servers and workers configured by
``DMLC_*`` variables); ``jax.distributed`` (a coordinator at ``JAX_COORDINATOR_ADDRESS``,
collectives over gloo on the CPU). Each backend's ``distributed`` module starts local workers
through its engine (:func:`launch`) and, inside a worker, joins the cluster its launcher
described (:func:`join`); the same ``gan-backends train`` command therefore runs under
``gan-backends launch``, under ``torchrun``, under a cluster manager that sets ``TF_CONFIG``,
under MXNet's ``launch.py``, or with the ``JAX_*`` variables set on each machine.

One semantic on every backend:

- the global batch (``--batch-size``) is split evenly across the workers: every worker draws
  the same NumPy permutation and noise and takes its own contiguous part of each batch, so the
  data and the noise do not depend on the number of workers;
- each worker computes the mean losses over its part; the engine's all-reduce (parameter
  server: push and pull) sums the gradients, which are divided by the number of workers: the
  gradient of the mean over the global batch;
- batch norm normalises with each worker's own batch statistics (as PyTorch's
  DistributedDataParallel does by default) and, after every step, the engine averages the
  moving statistics across workers, so every worker holds identical weights and statistics;
- the epoch's losses are averaged across workers, so they are the global batch's means;
- worker 0, the chief, alone claims the run folder and writes samples, metrics and the
  checkpoint; ``--resume`` reads the checkpoint on every worker (a multi-machine run needs the
  folder on a shared file system), whatever number of workers wrote it.

A worker that exits with an error stops the local run: :func:`supervise` ends the other
processes and says which one failed and where the last checkpoint is.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from gan_backends import selection
from gan_backends.backends import BACKENDS

#: Seconds between looks for an exited process of a local run (and for Ctrl-C).
POLL_SECONDS = 0.2
#: Seconds a process gets to end after SIGTERM before SIGKILL.
GRACE_SECONDS = 5.0


class DistributedError(RuntimeError):
    """A distributed run cannot start or a worker failed; the message says which and why."""


@dataclass(frozen=True)
class Cluster:
    """This process's place in a distributed run."""

    rank: int
    size: int
    engine: Any = field(default=None, compare=False)
    """The backend's handle on its engine (a process group, a strategy, a KVStore)."""

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    def shard(self, global_batch: int) -> slice:
        """This worker's part of every batch of ``global_batch`` examples."""
        if global_batch % self.size:
            raise ValueError(
                f"--batch-size {global_batch} does not split evenly over {self.size} workers; "
                f"use a multiple of {self.size}"
            )
        part = global_batch // self.size
        return slice(self.rank * part, (self.rank + 1) * part)


_current: Cluster | None = None


def current() -> Cluster | None:
    """The cluster this process joined, or None in a one-process run."""
    return _current


def join(backend: str) -> Cluster | None:
    """Join the cluster that a launcher described in the environment, if any.

    Raises DistributedError where the environment describes another framework's cluster.
    """
    global _current
    for name, info in DETECTED_BY.items():
        if name != backend and any(variable in os.environ for variable in info):
            raise DistributedError(
                f"this process was started as a {name} worker ({', '.join(info)} set) but the "
                f"backend is {backend}; launch it with: gan-backends launch --nproc N train ... "
                f"--backend {backend}"
            )
    if not any(variable in os.environ for variable in DETECTED_BY[backend]):
        return None
    _current = selection.load(backend).distributed.join()
    return _current


#: The variables by which each framework's launcher tells a worker its place (its facts).
DETECTED_BY = {name: facts.launcher_variables for name, facts in BACKENDS.items()}


def launch(backend: str, nproc: int, arguments: Sequence[str]) -> int:
    """Run ``gan-backends ARGUMENTS`` in ``nproc`` local workers through ``backend``'s engine."""
    if nproc < 1:
        raise ValueError(f"--nproc must be an integer >= 1; got {nproc}")
    command = [sys.executable, "-m", "gan_backends", *arguments]
    threads = str(max(1, (os.cpu_count() or 1) // nproc))
    environment = {"OMP_NUM_THREADS": threads} | dict(os.environ)
    return selection.load(backend).distributed.launch(nproc, command, environment)


def free_ports(count: int) -> list[int]:
    """``count`` TCP ports on 127.0.0.1 that nothing listens on now."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for server in sockets:
            server.bind(("127.0.0.1", 0))
        return [server.getsockname()[1] for server in sockets]


@dataclass
class Process:
    """One process of a local run: its name in messages, its command and environment."""

    name: str
    command: list[str]
    environment: dict[str, str]
    required: bool = True
    """Whether the run fails when this process fails (a worker; not a parameter server)."""


def supervise(processes: Sequence[Process]) -> int:
    """Start the processes and wait until every required one has exited.

    The first one to fail (or Ctrl-C) ends all the others, SIGTERM then SIGKILL after
    ``GRACE_SECONDS``; raises DistributedError naming it. Returns 0 when all succeeded.
    Each process is waited for in a thread of its own, so that exits are seen in the order
    they happen: a worker whose peer died may abort milliseconds later (JAX 0.4 does).
    """
    running = [
        (process, subprocess.Popen(process.command, env=process.environment))
        for process in processes
    ]
    exits: queue.SimpleQueue[tuple[Process, int]] = queue.SimpleQueue()
    for process, popen in running:
        waiter = threading.Thread(
            target=lambda process=process, popen=popen: exits.put((process, popen.wait())),
            daemon=True,
        )
        waiter.start()
    try:
        waiting = sum(process.required for process in processes)
        while waiting:
            with contextlib.suppress(queue.Empty):
                process, code = exits.get(timeout=POLL_SECONDS)
                if code != 0 and process.required:
                    raise DistributedError(failure(process.name, code))
                waiting -= process.required
        return 0
    finally:
        _stop([popen for _, popen in running])


def failure(name: str, code: int) -> str:
    """What to say of a process that ended with exit status ``code``."""
    if code < 0:
        how = f"was killed by {signal.Signals(-code).name}"
    else:
        how = f"exited with status {code}"
    return f"{name} {how}; the other processes were stopped"


def _stop(popens: list[subprocess.Popen]) -> None:
    alive = [popen for popen in popens if popen.poll() is None]
    for popen in alive:
        popen.terminate()
    deadline = time.monotonic() + GRACE_SECONDS
    for popen in alive:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(max(0.0, deadline - time.monotonic()))
        if popen.poll() is None:
            popen.kill()
            popen.wait()


def leave() -> None:
    """End this worker's part in the run, once its run succeeded. On PyTorch this ends the
    process: gloo's threads can abort an interpreter's teardown."""
    cluster = current()
    if cluster is not None:
        selection.current().distributed.leave(cluster)


@contextlib.contextmanager
def scope() -> Iterator[None]:
    """Where networks and optimizers are made, when the engine needs them made in its scope
    (TensorFlow's strategy); elsewhere nothing."""
    cluster = current()
    if cluster is None:
        yield
        return
    with selection.current().distributed.scope(cluster):
        yield
