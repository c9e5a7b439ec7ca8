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
import ctypes
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
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
    watch_launcher()
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


def launch(
    backend: str,
    nproc: int,
    arguments: Sequence[str],
    nnodes: int = 1,
    node_rank: int = 0,
    master: str | None = None,
) -> int:
    """Run ``gan-backends ARGUMENTS`` in ``nproc`` workers on each of ``nnodes`` machines through
    ``backend``'s engine; this machine is node ``node_rank``, node 0 is at ``master``
    (``HOST:PORT``, the port of this launcher's own connection between the nodes).

    SIGTERM ends the run as Ctrl-C does (:class:`Stopped`); the workers, in process groups of their
    own, end with the launcher even when it is killed (a parent-death signal and a watchdog)."""
    if nproc < 1:
        raise ValueError(f"--nproc must be an integer >= 1; got {nproc}")
    command = [sys.executable, "-m", "gan_backends", *arguments]
    threads = str(max(1, (os.cpu_count() or 1) // nproc))
    environment = {"OMP_NUM_THREADS": threads} | dict(os.environ) | {
        LAUNCHER_VARIABLE: str(os.getpid())
    }  # fmt: skip
    previous = signal.signal(signal.SIGTERM, _stop_on_signal)
    try:
        with _connected_nodes(nproc, nnodes, node_rank, master) as nodes:
            try:
                code = selection.load(backend).distributed.launch(command, environment, nodes)
            except (Stopped, DistributedError):
                if nodes.lost:
                    raise DistributedError(nodes.lost) from None
                raise
            nodes.finished()
            return code
    finally:
        signal.signal(signal.SIGTERM, previous)


#: Set by :func:`launch` in each worker's environment: the launcher's process id.
LAUNCHER_VARIABLE = "GAN_LAUNCHER_PID"
#: Seconds a node waits for the others to connect (node 0) or for node 0 to listen.
CONNECT_SECONDS = 300.0


class Stopped(KeyboardInterrupt):
    """The launcher was asked to stop (SIGTERM, Ctrl-C) or its node lost another node."""

    def __init__(self, signal_number: int = signal.SIGINT, message: str = "") -> None:
        super().__init__(message)
        self.signal_number = signal_number


def _stop_on_signal(number: int, frame: Any) -> None:
    raise Stopped(number)


@dataclass
class Nodes:
    """The machines of a run as one launcher sees them: the engines' addresses and ports.

    Ports, from the ``PORT`` of ``--master HOST:PORT`` on node 0: ``PORT`` this launcher's
    connection between the nodes, ``PORT + 1`` the engine's coordinator on node 0 (torchrun's
    rendezvous, JAX's coordination service, MXNet's scheduler), ``PORT + 2 + g`` TensorFlow's
    worker of global rank ``g`` on its node. On one machine all are free ports of 127.0.0.1."""

    rank: int
    hosts: list[str]
    """Every node's address, node 0's first (as node 0 reaches them)."""
    nproc: int
    engine_port: int
    worker_ports: list[int]
    run_id: str
    lost: str | None = None
    """Why the run ended on this node when another node left it."""
    _peers: list[socket.socket] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.hosts)

    @property
    def master(self) -> str:
        return self.hosts[0]

    @property
    def host(self) -> str:
        return self.hosts[self.rank]

    def global_rank(self, local: int) -> int:
        return self.rank * self.nproc + local

    def worker_addresses(self) -> list[str]:
        """``host:port`` of every worker by global rank (TensorFlow's cluster)."""
        return [
            f"{self.hosts[rank // self.nproc]}:{port}"
            for rank, port in enumerate(self.worker_ports)
        ]

    def finished(self) -> None:
        """Tell the other nodes that this one's workers all succeeded."""
        for peer in self._peers:
            with contextlib.suppress(OSError):
                peer.sendall(b"done\n")

    def _watch(self, peer: socket.socket, name: str) -> None:
        """Until ``peer`` says it is done: its connection closing means its node left the run,
        and ends the run here (SIGTERM to this launcher, which stops its workers)."""
        with contextlib.suppress(OSError):
            if peer.makefile("rb").readline() == b"done\n":
                return
        self.lost = f"{name} left the run before it finished; the workers here were stopped"
        os.kill(os.getpid(), signal.SIGTERM)


@contextlib.contextmanager
def _connected_nodes(nproc: int, nnodes: int, rank: int, master: str | None) -> Iterator[Nodes]:
    if nnodes < 1 or not 0 <= rank < nnodes:
        raise ValueError(f"--node-rank must be in 0..{nnodes - 1} (--nnodes {nnodes}); got {rank}")
    if nnodes == 1:
        ports = free_ports(nproc + 1)
        yield Nodes(0, ["127.0.0.1"], nproc, ports[0], ports[1:], uuid.uuid4().hex)
        return
    host, port = _address(master)
    size = nnodes * nproc
    with contextlib.ExitStack() as stack:
        if rank == 0:
            peers, hosts, run_id = _accept(stack, host, port, nnodes)
            hello = json.dumps({"hosts": hosts, "run_id": run_id}).encode() + b"\n"
            for peer in peers:
                peer.sendall(hello)
            names = [f"node {r} ({hosts[r]})" for r in range(1, nnodes)]
        else:
            peer = stack.enter_context(_connect(host, port))
            peer.sendall(f"{rank}\n".encode())
            line = peer.makefile("rb").readline()
            if not line:
                raise DistributedError(f"node 0 at --master {master} closed the connection")
            hello = json.loads(line)
            peers, hosts, run_id, names = (
                [peer],
                hello["hosts"],
                hello["run_id"],
                [f"node 0 ({master})"],
            )
        ports = list(range(port + 2, port + 2 + size))
        nodes = Nodes(rank, hosts, nproc, port + 1, ports, run_id, _peers=peers)
        for peer, name in zip(peers, names, strict=True):
            threading.Thread(target=nodes._watch, args=(peer, name), daemon=True).start()
        yield nodes


def _address(master: str | None) -> tuple[str, int]:
    host, _, port = (master or "").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536 - 2:
        raise ValueError(
            f"--master must be node 0's HOST:PORT, e.g. --master 10.0.0.1:29400; got {master!r}"
        )
    return host.strip("[]"), int(port)


def _accept(
    stack: contextlib.ExitStack, host: str, port: int, nnodes: int
) -> tuple[list[socket.socket], list[str], str]:
    """Node 0: wait for every other node's launcher; their sockets by node rank, every node's
    address as node 0 sees it, and the run's id."""
    server = stack.enter_context(socket.socket())
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind((host, port))
    except OSError as error:
        raise DistributedError(
            f"node 0 cannot listen on --master {host}:{port} ({error.strerror}): name this "
            "machine's address and a free port"
        ) from None
    server.listen(nnodes)
    server.settimeout(CONNECT_SECONDS)
    peers: dict[int, socket.socket] = {}
    hosts = {0: host}
    while len(peers) < nnodes - 1:
        try:
            peer, (address, *_) = server.accept()
        except TimeoutError:
            missing = sorted(set(range(1, nnodes)) - set(peers))
            raise DistributedError(
                f"node(s) {missing} did not connect to {host}:{port} within "
                f"{CONNECT_SECONDS:.0f} s; start the same launch command there with its "
                "--node-rank, and open the ports"
            ) from None
        stack.enter_context(peer)
        peer.settimeout(None)
        line = peer.makefile("rb").readline().strip()
        node = int(line) if line.isdigit() else 0
        if not 0 < node < nnodes or node in peers:
            raise DistributedError(f"a node at {address} connected as --node-rank {line.decode()}")
        peers[node], hosts[node] = peer, address
    return [peers[r] for r in sorted(peers)], [hosts[r] for r in range(nnodes)], uuid.uuid4().hex


@contextlib.contextmanager
def _connect(host: str, port: int) -> Iterator[socket.socket]:
    deadline = time.monotonic() + CONNECT_SECONDS
    while True:
        try:
            peer = socket.create_connection((host, port), timeout=10)
            break
        except OSError as error:
            if time.monotonic() > deadline:
                raise DistributedError(
                    f"cannot reach node 0 at --master {host}:{port} ({error}); start node 0 "
                    "first and open the port"
                ) from None
            time.sleep(POLL_SECONDS)
    peer.settimeout(None)
    with peer:
        yield peer


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
        (process, subprocess.Popen(
            process.command, env=process.environment, start_new_session=True,
            preexec_fn=die_with_parent,
        ))
        for process in processes
    ]  # fmt: skip
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
    """SIGTERM to each process's group, SIGKILL after ``GRACE_SECONDS``."""
    alive = [popen for popen in popens if popen.poll() is None]
    for popen in alive:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for popen in alive:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(max(0.0, deadline - time.monotonic()))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()


#: Linux's prctl option: the signal a process gets when the thread that started it ends.
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a child before it runs its command: SIGKILL when its parent dies (Linux)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def watch_launcher() -> None:
    """In a worker of :func:`launch`: end this process when the launcher is gone (killed with
    SIGKILL, which leaves it no time to stop its workers). A thread looks every
    ``POLL_SECONDS`` whether the parent is still the launcher (an orphan's is not)."""
    launcher = os.environ.get(LAUNCHER_VARIABLE, "")
    if not launcher.isdigit():
        return

    def watch() -> None:
        while os.getppid() == int(launcher):
            time.sleep(POLL_SECONDS)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True, name="launcher watchdog").start()


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
