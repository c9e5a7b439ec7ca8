"""Training checkpoints: both networks' canonical weights, Adam's state, the epoch, the NumPy
generator's state, the history and the run's settings, in one framework-neutral ``.npz``.

Written atomically (a temporary file, then a rename), so a kill or a full disk at any moment
leaves the previous checkpoint intact. Any backend can read one written by any other; a damaged
or foreign file raises :class:`~gan_backends.files.CorruptFileError` naming it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gan_backends.files import CorruptFileError, read_npz, write_npz
from gan_backends.training import History, Trainer
from gan_backends.weights import get_weights, set_weights

FORMAT = "gan_backends.checkpoint/1"


@dataclass
class Checkpoint:
    config: dict[str, Any]
    epoch: int
    generator: dict[str, np.ndarray]
    discriminator: dict[str, np.ndarray]
    optimizer: dict[str, np.ndarray] = field(default_factory=dict)
    rng_state: dict[str, Any] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    dtype: str = "float32"
    """The dtype it was trained in (checkpoints older than the field: float32)."""


def save_checkpoint(path: str | os.PathLike, trainer: Trainer, config: dict[str, Any]) -> Path:
    """Write the trainer's whole state, with the run's ``config``, to ``path`` atomically."""
    arrays = {f"G/{k}": v for k, v in get_weights(trainer.generator).items()}
    arrays |= {f"D/{k}": v for k, v in get_weights(trainer.discriminator).items()}
    arrays |= {f"optimizer/{k}": v for k, v in trainer.optimizer_state().items()}
    meta = {
        "format": FORMAT,
        "config": config,
        "epoch": trainer.epoch,
        "rng_state": trainer.rng.bit_generator.state,
        "history": trainer.history.as_dict(),
        "dtype": trainer.settings.dtype,
        # The archive's checksums cover the arrays, not their names: record the names too.
        "entries": sorted(arrays),
    }
    arrays["meta"] = np.array(json.dumps(meta))
    return write_npz(path, arrays)


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (on any backend)."""
    path = Path(path)
    arrays = read_npz(path, "checkpoint")
    if "meta" not in arrays:
        raise CorruptFileError(
            f"{path} is not a gan_backends checkpoint (no 'meta' entry); "
            "checkpoints are the checkpoint.npz files that training writes"
        )
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except ValueError:
        raise CorruptFileError(f"{path} is a damaged checkpoint (unreadable 'meta')") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise CorruptFileError(f"{path} has format {found!r}; expected {FORMAT!r}")
    missing = sorted({"config", "epoch", "rng_state", "history"} - set(meta))
    if missing:
        raise CorruptFileError(f"{path} is a damaged checkpoint (no {', '.join(missing)})")
    if sorted(arrays) != meta.get("entries", sorted(arrays)):
        raise CorruptFileError(f"{path} is a damaged checkpoint (its entries were renamed)")
    groups: dict[str, dict[str, np.ndarray]] = {"G": {}, "D": {}, "optimizer": {}}
    for key, value in arrays.items():
        group, _, name = key.partition("/")
        if group not in groups:
            raise CorruptFileError(f"{path} is a damaged checkpoint (unknown entry {key!r})")
        groups[group][name] = value
    return Checkpoint(
        meta["config"], meta["epoch"], groups["G"], groups["D"], groups["optimizer"],
        meta["rng_state"], meta["history"], meta.get("dtype", "float32"),
    )  # fmt: skip


def restore(trainer: Trainer, checkpoint: Checkpoint) -> None:
    """Put the trainer (and its networks) back in the state the checkpoint recorded; a
    ValueError if it was trained in another dtype."""
    if checkpoint.dtype != trainer.settings.dtype:
        raise ValueError(
            f"the checkpoint was trained in {checkpoint.dtype}, the trainer's dtype is "
            f"{trainer.settings.dtype}; build it with dtype={checkpoint.dtype!r}"
        )
    set_weights(trainer.generator, checkpoint.generator)
    set_weights(trainer.discriminator, checkpoint.discriminator)
    trainer.load_optimizer_state(checkpoint.optimizer)
    trainer.rng.bit_generator.state = checkpoint.rng_state
    trainer.epoch = checkpoint.epoch
    trainer.history = History(**checkpoint.history)
