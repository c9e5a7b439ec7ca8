"""What a backend's training step must provide: the contract between the core and a backend.

:class:`gan_backends.training.Trainer` owns the epoch loop, the data order, the noise and the
history; a backend's ``trainer.TrainStep`` owns the arithmetic of the steps (the module
docstring of :mod:`gan_backends.training` states its semantic). The core builds one step with
the models and one :class:`StepSettings`, and calls nothing but the members of
:class:`TrainStep` below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

from gan_backends.datasets import LEVELS

if TYPE_CHECKING:
    from gan_backends.distributed import Cluster

DType = Literal["float32", "float64"]
DTYPES: tuple[DType, ...] = ("float32", "float64")
Precision = Literal["32", "bf16-mixed"]
PRECISIONS: tuple[Precision, ...] = ("32", "bf16-mixed")


@dataclass(frozen=True)
class StepSettings:
    """Everything a step needs besides the two models; validated by the Trainer beforehand."""

    lr_D: float
    lr_G: float
    beta1: float
    beta2: float
    epsilon: float
    compiled: bool
    dtype: DType = "float32"
    """The dtype of weights, data, noise, Adam's state and losses."""
    precision: Precision = "32"
    """PyTorch Lightning's names: ``"32"`` computes in ``dtype``; ``"bf16-mixed"`` computes the
    forward and backward passes in bfloat16, while the weights, Adam's state, batch norm's
    moving statistics and the losses stay float32."""
    cluster: Cluster | None = None
    """This worker's place in a data-parallel run (None: one process)."""


@runtime_checkable
class TrainStep(Protocol):
    """The training step of one backend: ``trainer.TrainStep`` in its folder, built as
    ``TrainStep(generator, discriminator, settings)``."""

    compile_note: str | None
    """What the first call does that takes long (the progress bar shows it), or None."""

    settings: StepSettings

    @staticmethod
    def compiles_by_default(generator_network: Any) -> bool:
        """Whether ``compiled=None`` compiles a step for this architecture."""
        ...

    def load_data(self, data: np.ndarray) -> None:
        """Copy the data set (float, or uint8 images) to the device; steps index into it."""
        ...

    def run(self, batches: np.ndarray, Z: np.ndarray) -> Any:
        """One step per row of ``batches`` (indices into the loaded data) with the noise
        ``Z[i]``; returns the sums of (loss_D, loss_G) over those steps."""
        ...

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """Adam's state in ``dtype``, named by :func:`moment_key` (each weight's two moments, in
        the canonical layout) and :func:`step_key` (each network's step count)."""
        ...

    def load_optimizer_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`optimizer_state` returned, on any backend."""
        ...


def moment_key(role: str, weight: str, moment: Literal["m", "v"]) -> str:
    """The name of a weight's Adam moment in an optimizer state: ``D/block0_conv.kernel.m``."""
    return f"{role}/{weight}.{moment}"


def step_key(role: str) -> str:
    """The name of a network's Adam step count in an optimizer state: ``G/step``."""
    return f"{role}/step"


def check_precision(
    precision: Any, dtype: DType, flags: tuple[str, str] = ("precision", "dtype")
) -> None:
    """Raise ValueError naming ``flags`` (precision's, dtype's) unless ``precision`` is one of
    :data:`PRECISIONS` that ``dtype`` allows."""
    precision_flag, dtype_flag = flags
    if precision not in PRECISIONS:
        raise ValueError(
            f"{precision_flag} must be one of {', '.join(PRECISIONS)}; got {precision!r}"
        )
    if precision == "bf16-mixed" and dtype != "float32":
        raise ValueError(
            f"{precision_flag} bf16-mixed keeps float32 weights: use it with {dtype_flag} "
            f"float32, not {dtype} (or {precision_flag} 32 with {dtype_flag} {dtype})"
        )


def levels(dtype: DType) -> np.ndarray:
    """The value of each uint8 level in the models' range, ``level / 127.5 - 1``, in ``dtype``:
    the table a step turns uint8 images into its examples with."""
    if dtype == "float32":
        return LEVELS
    return np.arange(256, dtype=dtype) / 127.5 - 1.0
