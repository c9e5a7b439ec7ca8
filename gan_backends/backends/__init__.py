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

Beside them, ``facts.py`` holds ``FACTS``, a :class:`BackendInfo`: what the core must know
about the backend before (or without) importing its framework. A fifth backend is a folder with
these six files and one row in :data:`REGISTRY`; nothing else in the package lists backends.
``tests/fake_backend/`` (NumPy alone) is one, registered by tests through
``GAN_EXTRA_BACKENDS``.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BackendInfo:
    """What the core knows about a backend without importing its framework: the ``FACTS`` of
    its folder's ``facts.py``."""

    name: str
    """The backend's name in ``GAN_BACKEND``, ``--backend`` and the registry."""
    module: str
    """The framework's top module: installed when ``importlib.util.find_spec`` finds it."""
    pip_extra: str
    """The extra that installs it: ``pip install "gan_backends[<pip_extra>]"``."""
    distribution: str
    """The framework's distribution on PyPI."""
    order: int
    """Its place in the default order (the first installed backend is the default)."""
    engine: str
    """The framework's distributed engine, in words."""
    launcher_variables: tuple[str, ...]
    """Variables by which the engine's launcher tells a worker its place (any one of them)."""
    keras_name: str | None
    """Its name as Keras 3's ``KERAS_BACKEND`` (None: Keras 3 has no such backend)."""
    tox_env: str
    """The tox environment that tests it alone."""
    image_layout: str
    """The layout of the DCGAN's images inside its training step: "NCHW" or "NHWC"."""


#: The registry: one row per backend, its name -> the package (folder) holding its modules and
#: its ``facts.py``. A new backend is a new folder beside these and one row here.
REGISTRY: dict[str, str] = {
    "torch": "gan_backends.backends.torch",
    "tensorflow": "gan_backends.backends.tensorflow",
    "mxnet": "gan_backends.backends.mxnet",
    "jax": "gan_backends.backends.jax",
}

#: Rows added from outside the package, ``NAME=PACKAGE`` separated by commas (a backend under
#: development, or a test's), read once at import.
EXTRA_VARIABLE = "GAN_EXTRA_BACKENDS"


def read_facts(package: str) -> BackendInfo:
    """``FACTS`` of ``package``'s ``facts.py``, read without importing the package (whose
    ``__init__`` imports the framework)."""
    try:
        spec = importlib.util.find_spec(package)
    except ModuleNotFoundError:  # its parent package is missing
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"backend package {package!r} (a row of the registry or of {EXTRA_VARIABLE}) "
            "is not found; fix the row"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "facts.py"
    file_spec = importlib.util.spec_from_file_location(f"{package}.facts", path)
    module = importlib.util.module_from_spec(file_spec)
    file_spec.loader.exec_module(module)
    return module.FACTS


def _extra_rows() -> dict[str, str]:
    rows = {}
    for pair in os.environ.get(EXTRA_VARIABLE, "").split(","):
        name, _, package = (part.strip() for part in pair.partition("="))
        if name and package:
            rows[name] = package
    return rows


REGISTRY.update(_extra_rows())

#: Every registered backend's facts, in default order.
BACKENDS: dict[str, BackendInfo] = dict(
    sorted(((name, read_facts(package)) for name, package in REGISTRY.items()),
           key=lambda row: row[1].order)
)  # fmt: skip

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
