"""MXNet's engine: the KVStore ``dist_sync``, a scheduler, servers and workers over ps-lite,
configured by ``DMLC_*`` variables (:func:`launch` sets them on each machine).

Pushes are summed on the servers and pulled back by every worker. Arrays cross as float32.
"""

import contextlib
import sys

import mxnet as mx
import numpy as np

from gan_backends.distributed import Cluster, Process, supervise

__all__ = ["all_mean", "join", "launch", "leave", "scope"]


def launch(command, environment, nodes):
    cluster = environment | {
        "DMLC_PS_ROOT_URI": nodes.master,
        "DMLC_PS_ROOT_PORT": str(nodes.engine_port),
        "DMLC_NUM_SERVER": "1",
        "DMLC_NUM_WORKER": str(nodes.count * nodes.nproc),
        "DMLC_NODE_HOST": nodes.host,
    }
    processes = []
    if nodes.rank == 0:
        # Importing MXNet as the scheduler or a server runs that role until the workers finish
        # (in place of MXNet's tools/launch.py, whose tracker fails on Python 3.11).
        role = [sys.executable, "-c", "import mxnet"]
        server = {"DMLC_ROLE": "server", "OMP_NUM_THREADS": "1"}
        processes += [
            Process("the scheduler", role, cluster | {"DMLC_ROLE": "scheduler"}, required=False),
            Process("the server", role, cluster | server, required=False),
        ]
    for index in range(nodes.nproc):
        worker = {"DMLC_ROLE": "worker", "GAN_WORKER_INDEX": str(nodes.global_rank(index))}
        processes.append(Process(f"worker {nodes.global_rank(index)}", command, cluster | worker))
    return supervise(processes)


def join():
    kvstore = mx.kv.create("dist_sync")
    return Cluster(kvstore.rank, kvstore.num_workers, kvstore)


_initialised = set()


def all_mean(cluster, arrays):
    flat = np.concatenate([array.ravel() for array in arrays]).astype(np.float32)
    key = f"all_mean/{flat.size}"
    values = mx.nd.array(flat)
    if key not in _initialised:
        cluster.engine.init(key, mx.nd.zeros_like(values))
        _initialised.add(key)
    cluster.engine.pushpull(key, values, out=values)
    means = np.split(values.asnumpy() / cluster.size, np.cumsum([a.size for a in arrays])[:-1])
    return [mean.reshape(a.shape).astype(a.dtype) for mean, a in zip(means, arrays, strict=True)]


def scope(cluster):
    return contextlib.nullcontext()


def leave(cluster):
    return None
