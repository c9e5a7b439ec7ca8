"""Weights as safetensors files: the canonical names and layouts, readable by any tool.

A ``.safetensors`` file written here holds float32 tensors under the canonical names of
:mod:`gan_backends.architectures` (the same names, shapes and axis order on every backend; see
:mod:`gan_backends.layouts`), so weights trained on one framework open in another, and in any
program that reads safetensors. Its string metadata says what it holds:

- ``format``: ``gan_backends``;
- one network's weights (:func:`gan_backends.save_weights` to a ``.safetensors`` path): the
  tensors by name, and ``network``, the architecture's name;
- a run's weights (``gan-backends export``): ``G/<name>`` and ``D/<name>`` tensors, as
  ``--initial`` takes them, with ``generator``, ``discriminator``, ``epoch`` and ``config`` (the
  run's settings as JSON), from which ``gan-backends sample`` draws.

Files are written atomically. A damaged, foreign or mismatched file raises
:class:`~gan_backends.files.CorruptFileError` or ValueError in one line naming it; a missing
``safetensors`` package raises :class:`~gan_backends.extras.MissingExtraError`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from gan_backends.extras import require
from gan_backends.files import CorruptFileError, _reason, write_atomically

SUFFIX = ".safetensors"
FORMAT = "gan_backends"


def _safetensors():
    return require("safetensors.numpy", "safetensors", "reading and writing .safetensors files")


def is_safetensors(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a safetensors file (by its suffix)."""
    return Path(path).suffix.lower() == SUFFIX


def write(
    path: str | os.PathLike, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]
) -> Path:
    """Write float32 ``tensors`` and ``metadata`` (plus ``format``) to ``path``, atomically."""
    safetensors = _safetensors()
    arrays = {name: np.ascontiguousarray(value, np.float32) for name, value in tensors.items()}
    data = safetensors.save(arrays, metadata={"format": FORMAT, **metadata})
    return write_atomically(path, lambda file: file.write(data))


def read(path: str | os.PathLike, what: str) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """The metadata and tensors of a file :func:`write` wrote; ``what`` names its role."""
    safetensors = _safetensors()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {what} at {path}")
    try:
        with safetensors.safe_open(path, framework="numpy") as file:
            metadata = file.metadata() or {}
            tensors = {name: file.get_tensor(name) for name in file.keys()}  # noqa: SIM118
    except Exception as error:  # the Rust reader raises its own SafetensorError, or OSError
        raise CorruptFileError(
            f"{path} is not a readable safetensors file ({_reason(error)})"
        ) from None
    if metadata.get("format") != FORMAT:
        raise CorruptFileError(
            f"{path} was not written by gan_backends (no format={FORMAT} metadata); write one "
            "with gan-backends export or gan_backends.save_weights"
        )
    return metadata, tensors


def write_network(path: str | os.PathLike, network: str, weights: Mapping[str, np.ndarray]) -> Path:
    """One network's canonical ``weights``, under its architecture's name."""
    return write(path, weights, {"network": network})


def read_network(path: str | os.PathLike) -> tuple[str, dict[str, np.ndarray]]:
    """The architecture name and weights of a file :func:`write_network` wrote."""
    metadata, tensors = read(path, "weights file")
    if "network" not in metadata:
        raise CorruptFileError(
            f"{path} holds a run's weights, not one network's: load it with --initial or "
            "gan-backends sample --checkpoint"
        )
    return metadata["network"], tensors


def write_run(
    path: str | os.PathLike,
    generator: Mapping[str, np.ndarray],
    discriminator: Mapping[str, np.ndarray],
    config: Mapping[str, object],
    epoch: int,
) -> Path:
    """Both networks of a run as ``G/<name>`` and ``D/<name>``, with its settings."""
    from gan_backends.experiments import Config

    networks = Config.from_dict(dict(config)).networks()
    tensors = {f"G/{k}": v for k, v in generator.items()}
    tensors |= {f"D/{k}": v for k, v in discriminator.items()}
    metadata = {
        "generator": networks[0].name,
        "discriminator": networks[1].name,
        "epoch": str(epoch),
        "config": json.dumps(dict(config)),
    }
    return write(path, tensors, metadata)


def read_run(
    path: str | os.PathLike, what: str
) -> tuple[dict[str, object], int, dict[str, np.ndarray]]:
    """The settings, epoch and ``G/``, ``D/`` tensors of a file :func:`write_run` wrote."""
    metadata, tensors = read(path, what)
    try:
        config = json.loads(metadata["config"])
        epoch = int(metadata["epoch"])
    except (KeyError, ValueError):
        raise CorruptFileError(
            f"{path} holds one network's weights, not a run's (no config and epoch): "
            "write one with gan-backends export"
        ) from None
    return config, epoch, tensors


def check_run_weights(
    path: str | os.PathLike,
    tensors: Mapping[str, np.ndarray],
    expected: Mapping[str, tuple[int, ...]],
) -> None:
    """Raise ValueError naming ``path`` unless ``tensors`` has exactly the ``expected`` shapes."""
    unknown = sorted(set(tensors) - set(expected))
    missing = sorted(set(expected) - set(tensors))
    wrong = sorted(
        f"{name} {tuple(tensors[name].shape)} (expected {shape})"
        for name, shape in expected.items()
        if name in tensors and tuple(tensors[name].shape) != shape
    )
    if unknown or missing or wrong:
        problems = [
            f"{label} {', '.join(names[:4])}{' ...' if len(names) > 4 else ''}"
            for label, names in (("unknown", unknown), ("missing", missing), ("shapes", wrong))
            if names
        ]
        raise ValueError(
            f"{path} does not fit this model ({'; '.join(problems)}): export it from a run "
            "with the same model settings"
        )
