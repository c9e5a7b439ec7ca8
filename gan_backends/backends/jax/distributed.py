"""JAX's engine: ``jax.distributed`` (a coordination service in worker 0; collectives over gloo
on the CPU, NCCL on GPUs), with one device per worker in a mesh along ``AXIS``.

JAX has no launcher of its own: :func:`launch` starts the workers with the variables
:func:`join` reads, ``JAX_COORDINATOR_ADDRESS`` (``host:port`` of worker 0), ``JAX_NUM_PROCESSES``
and ``JAX_PROCESS_ID``; under SLURM or Open MPI, ``jax.distributed.initialize`` finds the last
two itself. Each worker's computation runs inside ``shard_map``, where ``lax.pmean`` over
``AXIS`` is the all-reduce; :func:`per_worker` takes and gives back the process's own arrays.
"""

import contextlib
import functools
import os
import signal

import jax
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gan_backends.backends.quiet import native_stdout_silenced
from gan_backends.distributed import Cluster, DistributedError, Process, supervise

try:
    from jax import shard_map  # jax >= 0.6

    # Unchecked: with the check, a gradient taken inside shard_map with respect to replicated
    # weights comes out already summed over the workers; here each worker's stays its own.
    UNCHECKED = {"check_vma": False}
except ImportError:  # jax 0.4.30
    from jax.experimental.shard_map import shard_map

    UNCHECKED = {"check_rep": False}

__all__ = ["all_mean", "join", "launch", "leave", "scope"]

AXIS = "workers"
REPLICATED = PartitionSpec()
SPLIT = PartitionSpec(AXIS)


def launch(command, environment, nodes):
    return supervise([
        Process(f"worker {nodes.global_rank(index)}", command, environment | {
            "JAX_COORDINATOR_ADDRESS": f"{nodes.master}:{nodes.engine_port}",
            "JAX_NUM_PROCESSES": str(nodes.count * nodes.nproc),
            "JAX_PROCESS_ID": str(nodes.global_rank(index)),
            "GAN_WORKER_INDEX": str(nodes.global_rank(index)),
        })
        for index in range(nodes.nproc)
    ])  # fmt: skip


def join():
    # jax 0.4.30 has no collectives on the CPU unless asked for them (later versions: gloo).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    count, index = os.environ.get("JAX_NUM_PROCESSES"), os.environ.get("JAX_PROCESS_ID")
    try:
        jax.distributed.initialize(
            num_processes=None if count is None else int(count),
            process_id=None if index is None else int(index),
        )
    except (ValueError, RuntimeError) as error:
        raise DistributedError(
            f"cannot join the cluster at JAX_COORDINATOR_ADDRESS ({error}); set "
            "JAX_NUM_PROCESSES and JAX_PROCESS_ID too, and join before JAX computes anything"
        ) from None
    # jax's preemption notifier catches SIGTERM and carries on: a worker told to stop must stop.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    devices = [
        next(device for device in jax.devices() if device.process_index == process)
        for process in range(jax.process_count())
    ]
    cluster = Cluster(jax.process_index(), jax.process_count(), Mesh(np.array(devices), (AXIS,)))
    with native_stdout_silenced():  # gloo prints a line as it connects the workers
        all_mean(cluster, [np.zeros(1, np.float32)])
    return cluster


def per_worker(function, cluster, in_specs, out_specs):
    """``function`` run by every worker on its part (``SPLIT``) or copy (``REPLICATED``) of each
    argument, compiled: a function of this process's arrays (and trees of them) that returns its
    own. Always compiled: outside ``jax.jit``, ``shard_map`` compiles each operation for all the
    workers, and a DCGAN step takes minutes."""
    mesh = cluster.engine
    specs = {"in_specs": in_specs, "out_specs": out_specs}
    mapped = jax.jit(shard_map(function, mesh=mesh, **specs, **UNCHECKED))

    def run(*arguments):
        arguments = [
            jax.tree.map(functools.partial(_global, mesh, spec), argument)
            for argument, spec in zip(arguments, in_specs, strict=True)
        ]
        return jax.tree.map(lambda array: array.addressable_data(0), mapped(*arguments))

    return run


def _global(mesh, spec, array):
    """This process's ``array`` as its block of an array laid out by ``spec`` over the mesh."""
    local = jax.device_put(array, mesh.local_devices[0])
    axes = (*spec, *[None] * (local.ndim - len(spec)))
    split = [axis == AXIS for axis in axes]
    shape = [n * mesh.size if on_axis else n for n, on_axis in zip(local.shape, split, strict=True)]
    sharding = NamedSharding(mesh, spec)
    return jax.make_array_from_single_device_arrays(tuple(shape), sharding, [local])


def all_mean(cluster, arrays):
    sizes = [array.size for array in arrays]
    flat = np.concatenate([array.ravel() for array in arrays])
    (mean,) = _mean_over_workers(cluster)(flat[None])
    pieces = np.split(np.asarray(mean), np.cumsum(sizes)[:-1])
    return [piece.reshape(array.shape) for piece, array in zip(pieces, arrays, strict=True)]


@functools.cache
def _mean_over_workers(cluster):
    return per_worker(lambda x: lax.pmean(x, AXIS), cluster, (SPLIT,), REPLICATED)


def scope(cluster):
    return contextlib.nullcontext()


def leave(cluster):
    return None
