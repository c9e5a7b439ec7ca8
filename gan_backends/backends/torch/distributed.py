"""PyTorch's engine: ``torch.distributed`` (gloo on the CPU, NCCL on GPUs), started by torchrun's
launcher (``torch.distributed.launcher``, what the ``torchrun`` command runs)."""

import contextlib
import datetime
import logging
import os
import sys

import numpy as np
import torch
import torch.distributed as dist
from torch.distributed.elastic.multiprocessing import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.launcher.api import LaunchConfig, elastic_launch

from gan_backends.backends.quiet import VERBOSE_VARIABLE
from gan_backends.backends.torch.device import DEVICE
from gan_backends.distributed import Cluster, DistributedError, Stopped, failure

__all__ = ["all_mean", "join", "launch", "leave", "scope"]

#: How long a collective waits for a peer before the run fails (a dead peer elsewhere).
TIMEOUT = datetime.timedelta(minutes=10)


def launch(command, environment, nodes):
    if not os.environ.get(VERBOSE_VARIABLE):
        # Each of torch's elastic modules sets its own logger's level.
        for name in list(logging.root.manager.loggerDict):
            if name.startswith("torch.distributed.elastic"):
                logging.getLogger(name).setLevel(logging.ERROR)
    config = LaunchConfig(
        min_nodes=nodes.count, max_nodes=nodes.count, nproc_per_node=nodes.nproc,
        run_id=nodes.run_id, rdzv_backend="c10d",
        rdzv_endpoint=f"{nodes.master}:{nodes.engine_port}",
        rdzv_configs={"is_host": nodes.rank == 0}, local_addr=nodes.host, max_restarts=0,
        monitor_interval=0.2, start_method="spawn",
    )  # fmt: skip
    # The agent forwards the signal it caught to the workers: a Ctrl-C (SIGINT) would reach them
    # as a KeyboardInterrupt each, in tracebacks while they import. Left to Python, SIGINT ends
    # the agent, which then stops its workers with SIGTERM.
    environment |= {"TORCHELASTIC_SIGNALS_TO_HANDLE": "SIGTERM,SIGHUP,SIGQUIT"}
    os.environ.update(environment)  # the workers inherit the launcher's environment
    try:
        elastic_launch(config, command[0])(*command[1:])
    except ChildFailedError as error:
        rank, first = error.get_first_failure()
        raise DistributedError(failure(f"worker {rank}", first.exitcode)) from None
    except SignalException as error:  # the agent's own handler of SIGTERM and SIGINT
        raise Stopped(error.sigval) from None
    return 0


def join():
    if DEVICE.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if DEVICE.type == "cuda" else "gloo", timeout=TIMEOUT)
    return Cluster(dist.get_rank(), dist.get_world_size(), dist.group.WORLD)


def all_mean(cluster, arrays):
    sizes = [array.size for array in arrays]
    flat = torch.from_numpy(np.concatenate([array.ravel() for array in arrays])).to(DEVICE)
    dist.all_reduce(flat, group=cluster.engine)
    means = np.split((flat / cluster.size).cpu().numpy(), np.cumsum(sizes)[:-1])
    return [mean.reshape(array.shape) for mean, array in zip(means, arrays, strict=True)]


def scope(cluster):
    return contextlib.nullcontext()


def leave(cluster):
    # A finished worker whose interpreter tears down with gloo's threads alive can abort
    # (SIGABRT, "terminate called without an active exception"), even after
    # destroy_process_group: end the process without the teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
