"""Weights in the canonical, framework-neutral layout: read, write, save and load.

The names and layouts are those of :mod:`gan_backends.architectures`: the same keys and shapes
on every backend, so weights move between frameworks unchanged. Files are NumPy ``.npz``
archives holding those arrays plus the architecture's name; they are written atomically, and a
damaged one is reported as :class:`~gan_backends.files.CorruptFileError`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from gan_backends import safetensors_files
from gan_backends.files import CorruptFileError, read_npz, write_npz
from gan_backends.models import Model, backend_of, network_of

NETWORK_KEY = "__network__"


def get_weights(model: Model) -> dict[str, np.ndarray]:
    """The model's weights (batch-norm moving statistics included), by canonical name."""
    return backend_of(model).nn.get_weights(model)


def set_weights(model: Model, weights: Mapping[str, np.ndarray]) -> None:
    """Load canonical ``weights`` into ``model``; every name must be present with its shape."""
    backend = backend_of(model)
    backend.nn.set_weights(model, check_weights(network_of(model).weight_shapes(), weights))


def check_weights(
    expected: Mapping[str, tuple[int, ...]], weights: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """``weights`` as float arrays (float64 kept, anything else float32), or a ValueError that
    names what was expected. Each backend's ``set_weights`` casts them to the model's dtype."""
    unknown = sorted(set(weights) - set(expected))
    missing = sorted(set(expected) - set(weights))
    if unknown or missing:
        raise ValueError(
            "weights do not match the model: "
            + (f"unknown names {unknown}; " if unknown else "")
            + (f"missing names {missing}; " if missing else "")
            + f"expected exactly {sorted(expected)}"
        )
    checked = {}
    for name, shape in expected.items():
        value = np.asarray(weights[name])
        if value.dtype != np.float64:
            value = value.astype(np.float32)
        if value.shape != shape:
            raise ValueError(f"weight {name!r} must have shape {shape}; got {value.shape}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"weight {name!r} holds non-finite values")
        checked[name] = value
    return checked


def save_weights(model: Model, path: str | os.PathLike) -> Path:
    """Save the model's canonical weights to ``path`` (an ``.npz`` any backend can load; a
    ``.safetensors`` path writes :mod:`gan_backends.safetensors_files`' format instead)."""
    network = network_of(model)
    if safetensors_files.is_safetensors(path):
        return safetensors_files.write_network(path, network.name, get_weights(model))
    arrays = {**get_weights(model), NETWORK_KEY: np.array(json.dumps(network.name))}
    return write_npz(path, arrays)


def read_weights(path: str | os.PathLike) -> tuple[str, dict[str, np.ndarray]]:
    """The architecture name and the weights stored in a file written by :func:`save_weights`."""
    if safetensors_files.is_safetensors(path):
        return safetensors_files.read_network(path)
    arrays = read_npz(path, "weights file")
    if NETWORK_KEY not in arrays:
        raise CorruptFileError(
            f"{path} is not a gan_backends weights file (no {NETWORK_KEY} entry); "
            "write one with gan_backends.save_weights"
        )
    try:
        name = json.loads(str(arrays.pop(NETWORK_KEY)))
    except ValueError:
        raise CorruptFileError(f"{path} is a damaged weights file (unreadable name)") from None
    return name, arrays


def load_weights(model: Model, path: str | os.PathLike) -> None:
    """Load weights saved by :func:`save_weights`, on any backend, into ``model``."""
    name, weights = read_weights(path)
    expected = network_of(model).name
    if name != expected:
        raise ValueError(f"{path} holds weights of a {name}, but the model is a {expected}")
    set_weights(model, weights)
