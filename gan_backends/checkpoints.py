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
    fault = _first_fault(meta)
    if fault:
        raise CorruptFileError(f"{path} is a damaged checkpoint ({fault})")
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


def _first_fault(meta: dict[str, Any]) -> str | None:
    """What is wrong with the checkpoint's recorded fields (type and range), or None."""
    epoch, config, history = meta["epoch"], meta["config"], meta["history"]
    if not _is_integer(epoch) or epoch < 0:
        return f"'epoch' is {epoch!r}; expected an integer >= 0"
    if not isinstance(config, dict):
        return f"'config' is a {type(config).__name__}; expected an object of settings"
    if config.get("model") not in ("gan", "dcgan"):
        return f"'config' has model {config.get('model')!r}; expected 'gan' or 'dcgan'"
    if not isinstance(config.get("quality", []), list):
        return "'config' has a 'quality' that is not a list"
    if not isinstance(meta["rng_state"], dict):
        return f"'rng_state' is {meta['rng_state']!r:.40}; expected an object"
    if not isinstance(history, dict):
        return f"'history' is a {type(history).__name__}; expected an object of per-epoch lists"
    for name, values in history.items():
        if name not in HISTORY_FIELDS:
            return f"'history' has an unknown entry {name!r}"
        if not isinstance(values, list) or not all(map(HISTORY_FIELDS[name], values)):
            return f"'history' entry {name!r} is not a list of {HISTORY_KINDS[name]}"
    return None


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


HISTORY_FIELDS = {
    "loss_D": _is_number,
    "loss_G": _is_number,
    "examples_per_sec": _is_number,
    "seconds": _is_number,
    "backend": lambda value: isinstance(value, str),
    "workers": _is_integer,
    "worker_spread": lambda value: value is None or _is_number(value),
}
HISTORY_KINDS = {
    "backend": "backend names",
    "workers": "integers",
    "worker_spread": "numbers or nulls",
} | dict.fromkeys(["loss_D", "loss_G", "examples_per_sec", "seconds"], "numbers")


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
