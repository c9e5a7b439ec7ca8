"""The backends and the names every one of them must export.

Each backend is a package, ``gan_backends.backends.<name>``, with the same modules:

- ``ops``: the tensor facade (``OPS``), documented once in :mod:`gan_backends.ops`;
- ``nn``: builds native networks from :mod:`gan_backends.architectures` specs and moves
  weights in and out in the canonical layout (``NN``);
- ``trainer``: the compiled GAN training step and the optimizer state (``TRAINER``);
- ``device``: where the backend computes and with how many threads (``DEVICE``);
- ``distributed``: the framework's own distributed engine: starting local workers through it,
  joining the cluster its launcher described, the scope networks are built in, leaving it
  once the run succeeded (``DISTRIBUTED``; the semantic is :mod:`gan_backends.distributed`'s).

A test checks that every backend exports exactly these names, no more and no fewer.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BackendInfo:
    name: str
    module: str
    pip_extra: str
    distribution: str


BACKENDS: dict[str, BackendInfo] = {
    "torch": BackendInfo("torch", "torch", "torch", "torch"),
    "tensorflow": BackendInfo("tensorflow", "tensorflow", "tensorflow", "tensorflow-cpu"),
    "mxnet": BackendInfo("mxnet", "mxnet", "mxnet", "mxnet"),
    "jax": BackendInfo("jax", "jax", "jax", "jax"),
}

OPS = (
    "abs",
    "add",
    "astype",
    "concat",
    "divide",
    "dtype",
    "exp",
    "grad",
    "is_tensor",
    "leaky_relu",
    "log",
    "manual_seed",
    "matmul",
    "maximum",
    "mean",
    "multiply",
    "normal",
    "numpy",
    "ones",
    "relu",
    "reshape",
    "shape",
    "sigmoid",
    "stack",
    "subtract",
    "sum",
    "tanh",
    "tensor",
    "transpose",
    "zeros",
)

NN = ("build", "forward", "get_weights", "owns", "set_weights")

TRAINER = ("TrainStep",)

DEVICE = ("describe", "framework_version", "threads")

DISTRIBUTED = ("all_mean", "join", "launch", "leave", "scope")

MODULES = {
    "ops": OPS, "nn": NN, "trainer": TRAINER, "device": DEVICE, "distributed": DISTRIBUTED,
}  # fmt: skip
