"""Where JAX computes: its default device (a GPU when jaxlib has one), or the CPU only when
GAN_DEVICE=cpu."""

import os

import jax

__all__ = ["describe", "framework_version", "threads"]

DEVICE = jax.devices("cpu" if os.environ.get("GAN_DEVICE") == "cpu" else None)[0]
jax.config.update("jax_default_device", DEVICE)


def describe():
    return "cpu" if DEVICE.platform == "cpu" else f"{DEVICE.platform}:{DEVICE.id}"


def framework_version():
    return jax.__version__


def threads():
    """The size of XLA's CPU thread pool: one per core this process may run on."""
    if "--xla_cpu_multi_thread_eigen=false" in os.environ.get("XLA_FLAGS", ""):
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
