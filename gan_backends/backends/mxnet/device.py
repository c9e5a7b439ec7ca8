"""Where MXNet computes: the first GPU when there is one (unless GAN_DEVICE=cpu), else the CPU."""

import os

import mxnet as mx

__all__ = ["describe", "framework_version", "threads"]

CONTEXT = (
    mx.gpu(0) if mx.context.num_gpus() > 0 and os.environ.get("GAN_DEVICE") != "cpu" else mx.cpu()
)


def describe():
    return f"gpu:{CONTEXT.device_id}" if CONTEXT.device_type == "gpu" else "cpu"


def framework_version():
    return mx.__version__


def threads():
    return int(os.environ["OMP_NUM_THREADS"])
