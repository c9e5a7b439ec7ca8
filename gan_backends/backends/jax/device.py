"""Where JAX computes: its default device (a GPU when jaxlib has one), or the CPU only when
GAN_DEVICE=cpu. Nothing here starts JAX's runtime: a distributed worker must join its cluster
(``jax.distributed.initialize``) before that."""

import os

import jax

__all__ = ["describe", "framework_version", "threads"]

if os.environ.get("GAN_DEVICE") == "cpu":
    jax.config.update("jax_platforms", "cpu")


def describe():
    device = jax.devices()[0]
    return "cpu" if device.platform == "cpu" else f"{device.platform}:{device.id}"


def framework_version():
    return jax.__version__


def threads():
    """The size of XLA's CPU thread pool: one per core this process may run on."""
    if "--xla_cpu_multi_thread_eigen=false" in os.environ.get("XLA_FLAGS", ""):
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
