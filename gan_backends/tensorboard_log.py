"""A run's epochs as TensorBoard events (tensorboardX), with the same tags on every backend.

``gan-backends train ... --tensorboard DIR`` (and ``compare``, and the examples) writes one
TensorBoard run per backend, ``DIR/<backend>``, so that ``tensorboard --logdir DIR`` shows the
frameworks side by side. Each epoch (step = the epoch number, from 1) adds:

- scalars ``loss_D``, ``loss_G`` and ``examples_per_sec``: what ``metrics.json`` records for
  that epoch;
- scalars ``quality/<name>``: the epoch's quality score from ``metrics.json`` (``swd`` and
  ``swd_floor`` for the DCGAN; ``energy_distance`` and the fitted moments' errors for the GAN);
- image ``samples``: the epoch's samples from the fixed noise (the DCGAN's grid; the GAN's real
  and generated points).

At the start, text ``config``: the run's settings as JSON. A resumed run writes a new event file
beside the earlier ones and continues at the next epoch. tensorboardX is optional
(``pip install "gan_backends[tensorboard]"``); without it, asking for TensorBoard raises
:class:`~gan_backends.extras.MissingExtraError`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np

from gan_backends.extras import require

SCALARS = ("loss_D", "loss_G", "examples_per_sec")
SAMPLES_TAG = "samples"
CONFIG_TAG = "config"


class TensorBoardLog:
    """The TensorBoard run ``directory/run`` of one training run; close it when done."""

    def __init__(self, directory: str | os.PathLike, run: str, config: Mapping[str, Any]):
        tensorboardX = require("tensorboardX", "tensorboard", "--tensorboard")
        self.path = Path(directory) / run
        self.writer = tensorboardX.SummaryWriter(logdir=str(self.path))
        settings = json.dumps(dict(config), indent=2)
        self.writer.add_text(CONFIG_TAG, f"```\n{settings}\n```", 0)

    def epoch(
        self,
        epoch: int,
        scalars: Mapping[str, float],
        quality: Mapping[str, Any],
        samples: np.ndarray,
    ) -> None:
        """Record one epoch: ``scalars`` (:data:`SCALARS`), the numbers in ``quality``, and
        ``samples``, an HWC uint8 RGB image."""
        for tag in SCALARS:
            self.writer.add_scalar(tag, float(scalars[tag]), epoch)
        for name, value in quality.items():
            number = isinstance(value, Real) and not isinstance(value, bool)
            if name != "epoch" and number and math.isfinite(value):
                self.writer.add_scalar(f"quality/{name}", float(value), epoch)
        self.writer.add_image(SAMPLES_TAG, samples, epoch, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
