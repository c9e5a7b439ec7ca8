"""Training checkpoints: both networks' canonical weights, Adam's state, the epoch, the NumPy
generator's state, the history and the run's settings, in one framework-neutral ``.npz``.

Written atomically (a temporary file, then a rename), so a kill at any moment leaves the
previous checkpoint intact. Any backend can read one written by any other.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gan_backends.training import History, Trainer
from gan_backends.weights import get_weights, set_weights, write_npz_atomically

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


def save_checkpoint(path: str | os.PathLike, trainer: Trainer, config: dict[str, Any]) -> Path:
    """Write the trainer's whole state, with the run's ``config``, to ``path`` atomically."""
    meta = {
        "format": FORMAT,
        "config": config,
        "epoch": trainer.epoch,
        "rng_state": trainer.rng.bit_generator.state,
        "history": trainer.history.as_dict(),
    }
    arrays = {"meta": np.array(json.dumps(meta))}
    arrays |= {f"G/{k}": v for k, v in get_weights(trainer.generator).items()}
    arrays |= {f"D/{k}": v for k, v in get_weights(trainer.discriminator).items()}
    arrays |= {f"optimizer/{k}": v for k, v in trainer.optimizer_state().items()}
    return write_npz_atomically(path, arrays)


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (on any backend)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    with np.load(path, allow_pickle=False) as archive:
        if "meta" not in archive.files:
            raise ValueError(f"{path} is not a gan_backends checkpoint (no 'meta' entry)")
        meta = json.loads(str(archive["meta"]))
        groups: dict[str, dict[str, np.ndarray]] = {"G": {}, "D": {}, "optimizer": {}}
        for key in archive.files:
            group, _, name = key.partition("/")
            if group in groups:
                groups[group][name] = archive[key]
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} has format {meta.get('format')!r}; expected {FORMAT!r}")
    return Checkpoint(
        meta["config"], meta["epoch"], groups["G"], groups["D"], groups["optimizer"],
        meta["rng_state"], meta["history"],
    )  # fmt: skip


def restore(trainer: Trainer, checkpoint: Checkpoint) -> None:
    """Put the trainer (and its networks) back in the state the checkpoint recorded."""
    set_weights(trainer.generator, checkpoint.generator)
    set_weights(trainer.discriminator, checkpoint.discriminator)
    trainer.load_optimizer_state(checkpoint.optimizer)
    trainer.rng.bit_generator.state = checkpoint.rng_state
    trainer.epoch = checkpoint.epoch
    trainer.history = History(**checkpoint.history)
