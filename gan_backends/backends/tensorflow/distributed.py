"""TensorFlow's engine: ``tf.distribute.MultiWorkerMirroredStrategy``, configured by
``TF_CONFIG`` (the cluster's ``host:port`` of every worker and this process's index).

The strategy holds one replica per worker: on the CPU, or on one GPU of its machine, the next
one for each worker listed on the same host (NCCL, which the strategy uses between GPUs, runs
one process per GPU)."""

import json
import os
import signal

import numpy as np
import tensorflow as tf

from gan_backends.backends.quiet import VERBOSE_VARIABLE
from gan_backends.distributed import Cluster, DistributedError, Process, supervise

__all__ = ["all_mean", "join", "launch", "leave", "scope"]

#: How long a collective waits for a peer before the run fails (a dead peer elsewhere).
TIMEOUT_SECONDS = 600
EXAMPLE = (
    '{"cluster": {"worker": ["host0:2222", "host1:2222"]}, "task": {"type": "worker", "index": 0}}'
)


def launch(command, environment, nodes):
    workers = nodes.worker_addresses()
    return supervise([
        Process(f"worker {nodes.global_rank(index)}", command, environment | {
            "TF_CONFIG": json.dumps({
                "cluster": {"worker": workers},
                "task": {"type": "worker", "index": nodes.global_rank(index)},
            }),
            "GAN_WORKER_INDEX": str(nodes.global_rank(index)),
        })
        for index in range(nodes.nproc)
    ])  # fmt: skip


def join():
    rank, addresses = _place(os.environ["TF_CONFIG"])
    gpus = tf.config.get_visible_devices("GPU")
    if gpus:
        hosts = [address.rpartition(":")[0] for address in addresses]
        if hosts.count(hosts[rank]) > len(gpus):
            raise DistributedError(
                f"{hosts.count(hosts[rank])} workers on {hosts[rank]} would share its "
                f"{len(gpus)} GPU(s), which NCCL refuses: run at most {len(gpus)} there, or "
                "train on the CPUs with GAN_DEVICE=cpu"
            )
        tf.config.set_visible_devices(gpus[hosts[:rank].count(hosts[rank])], "GPU")
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=TIMEOUT_SECONDS)
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    except RuntimeError as error:  # "Collective ops must be configured at program startup"
        raise DistributedError(
            f"cannot join the TF_CONFIG cluster ({error}): TensorFlow already computed in this "
            "process; join before anything else runs"
        ) from None
    # The strategy's coordination agent catches SIGTERM to note a preemption and carries on: a
    # worker told to stop (by the launcher, a cluster manager) must stop.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if not os.environ.get(VERBOSE_VARIABLE):
        # Eager steps (--eager) go through strategy.run, which warns of its cost every time.
        tf.get_logger().addFilter(lambda record: "eagerly has signif" not in record.getMessage())
    return Cluster(rank, strategy.num_replicas_in_sync, strategy)


def _place(tf_config):
    """(rank, the address of every worker by rank) from TF_CONFIG: the chief, where the cluster
    names one, is rank 0 and the workers follow in order."""
    try:
        config = json.loads(tf_config)
        chiefs = config["cluster"].get("chief", [])
        addresses = [*chiefs, *config["cluster"].get("worker", [])]
        rank = {"chief": 0, "worker": len(chiefs)}[config["task"]["type"]] + config["task"]["index"]
        if not 0 <= rank < len(addresses):
            raise IndexError(f"task {rank} of a cluster of {len(addresses)}")
    except (ValueError, LookupError, TypeError, AttributeError) as error:
        raise DistributedError(
            f"TF_CONFIG does not place this process among the workers ({type(error).__name__}: "
            f"{error}); set it to JSON such as {EXAMPLE}"
        ) from None
    return rank, addresses


def all_mean(cluster, arrays):
    sizes = [array.size for array in arrays]
    flat = tf.constant(np.concatenate([array.ravel() for array in arrays]))
    means = cluster.engine.experimental_local_results(_all_mean(cluster.engine, flat))[0]
    pieces = np.split(means.numpy(), np.cumsum(sizes)[:-1])
    return [piece.reshape(array.shape) for piece, array in zip(pieces, arrays, strict=True)]


@tf.function(reduce_retracing=True)
def _all_mean(strategy, flat):
    mean = tf.distribute.ReduceOp.MEAN
    # The replica's own copy: a captured tensor has no device to reduce to.
    return strategy.run(
        lambda: tf.distribute.get_replica_context().all_reduce(mean, tf.identity(flat))
    )


def scope(cluster):
    return cluster.engine.scope()


def leave(cluster):
    return None
