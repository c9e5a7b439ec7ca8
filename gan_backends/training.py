"""Training a generator and a discriminator the same way on every backend.

One semantic everywhere (d2l 20.1 and 20.2, with the reductions made equal):

- each step updates the discriminator once, then the generator once, on the same noise;
- the data are copied to the device once per ``fit`` (a memory-mapped data set instead a few
  hundred megabytes at a time, in the order the batches need them); each step gathers its
  batch there; uint8 images stay uint8 on the device and each batch becomes the models'
  float32 [-1, 1] there, by the table :data:`gan_backends.datasets.LEVELS`;
- the discriminator loss is ``(BCE(D(x), 1) + BCE(D(G(z)), 0)) / 2`` and the generator loss
  ``BCE(D(G(z)), 1)``, binary cross-entropy on logits, each the *mean* over the batch;
- Adam with the same ``beta1``, ``beta2`` and ``epsilon`` (1e-8; Keras' default is 1e-7) on
  every backend, in the form Keras and MXNet use: epsilon added to the square root of the
  uncorrected second moment (PyTorch adds it to the bias-corrected one; where gradients are
  as small as epsilon the two forms part);
- batch norm runs in training mode (batch statistics) during the steps;
- the data order and the noise come from one NumPy generator, so every backend sees the same
  numbers; each epoch uses ``len(data) // batch_size`` full batches (the remainder, different
  each epoch after shuffling, waits for a later epoch);
- the reported epoch losses are means per example, and are read back once per epoch;
- in a distributed run each worker trains on its part of every batch and the engine averages
  the gradients (:mod:`gan_backends.distributed` says it in full): the same training as one
  process on the whole batch.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from gan_backends import notebook, selection
from gan_backends.distributed import Cluster
from gan_backends.models import Model, backend_of, check_batch, check_dtype, dtype_of, network_of
from gan_backends.step import DType, Precision, StepSettings, TrainStep, check_precision

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class History:
    """Per-epoch results of :meth:`Trainer.fit`."""

    loss_D: list[float] = field(default_factory=list)
    loss_G: list[float] = field(default_factory=list)
    examples_per_sec: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    backend: list[str] = field(default_factory=list)
    """The backend that ran each epoch (a run resumed on another backend mixes them)."""
    workers: list[int] = field(default_factory=list)
    """The number of workers that trained each epoch (1: one process)."""
    worker_spread: list[float | None] = field(default_factory=list)
    """After each distributed epoch, the root of the summed squared differences between every
    worker's weights and their mean: 0.0 where all workers agree exactly (None: one process)."""

    def __repr__(self) -> str:
        if not self.loss_D:
            return "History(no epochs)"
        backends = ", ".join(dict.fromkeys(self.backend))
        return (
            f"History({len(self.loss_D)} epoch{'s' if len(self.loss_D) != 1 else ''} on "
            f"{backends}; last: loss_D {self.loss_D[-1]:.3f}, loss_G {self.loss_G[-1]:.3f}, "
            f"{self.examples_per_sec[-1]:,.1f} examples/sec)"
        )

    def plot(self, title: str = "") -> Figure:
        """The losses by epoch, as a figure (a notebook shows it inline)."""
        from gan_backends import plots  # matplotlib loads only where a figure is drawn

        return plots.losses_figure(self.loss_D, self.loss_G, title)

    def as_dict(self) -> dict[str, list[Any]]:
        return {
            "loss_D": self.loss_D,
            "loss_G": self.loss_G,
            "examples_per_sec": self.examples_per_sec,
            "seconds": self.seconds,
            "backend": self.backend,
            "workers": self.workers,
            "worker_spread": self.worker_spread,
        }


class Trainer:
    """Adam on a generator and a discriminator of one backend, with the module's semantic.

    ``fit`` takes float32 data, or uint8 images (0..255; see :mod:`gan_backends.datasets`),
    which stay uint8 on the device; a ``numpy.memmap`` is streamed from disk, ``STREAM_BYTES``
    at a time.

    Learning rates must be finite and >= 0 (0 freezes that network), betas in [0, 1) and
    epsilon > 0; anything else raises ValueError before a framework sees it.

    ``compiled=None`` compiles the step (``torch.compile``, ``tf.function``, ``hybridize``,
    ``jax.jit``) where that pays for itself end to end: everywhere except the PyTorch GAN, whose
    default run ends before a compile would (``TrainStep.compiles_by_default`` of each backend
    decides).
    ``compiled=True`` or ``False`` forces it either way; eager steps also serve debugging.

    ``precision="bf16-mixed"`` (PyTorch Lightning's name; ``"32"`` is the default) computes the
    forward and backward passes in bfloat16 while the weights, Adam's state, batch norm's
    moving statistics and the losses stay float32, on the CPU too; it needs ``dtype`` float32.
    PyTorch, TensorFlow and JAX support it; MXNet raises NotImplementedError saying why.

    ``dtype`` (``"float32"`` or ``"float64"``; None: the models') is the dtype of the weights,
    data, noise, Adam's state and losses; the models must have been built in it
    (``models.dcgan_generator(..., dtype="float64")``). float64 is for checking semantics:
    every backend then agrees with PyTorch to about 1e-12 over 20 DCGAN steps.

    ``cluster`` (:func:`gan_backends.distributed.current`) makes this trainer one worker of a
    data-parallel run: the networks must have been built in :func:`gan_backends.distributed.scope`.
    """

    STREAM_BYTES = 256 << 20

    def __init__(
        self,
        generator: Model,
        discriminator: Model,
        lr_D: float = 0.05,
        lr_G: float = 0.005,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        compiled: bool | None = None,
        seed: int | None = None,
        precision: Precision = "32",
        cluster: Cluster | None = None,
        dtype: DType | None = None,
    ):
        backend = backend_of(generator)
        if backend_of(discriminator) is not backend:
            raise ValueError("the generator and the discriminator belong to different backends")
        dtype = self._check_dtypes(generator, discriminator, dtype)
        check_precision(precision, dtype)
        for name, value in {"lr_D": lr_D, "lr_G": lr_G}.items():
            check_setting(name, value, NON_NEGATIVE)
        check_setting("epsilon", epsilon, POSITIVE)
        for name, value in {"beta1": beta1, "beta2": beta2}.items():
            check_setting(name, value, FRACTION)
        self.generator, self.discriminator = generator, discriminator
        self.backend = backend
        self.backend_name = next(n for n, b in selection.loaded().items() if b is backend)
        self.generator_network = network_of(generator)
        self.noise_shape = self.generator_network.input_shape
        self.data_shape = network_of(discriminator).input_shape
        self.rng = np.random.default_rng(seed)
        self.epoch = 0
        self.history = History()
        if compiled is None:
            compiled = backend.trainer.TrainStep.compiles_by_default(self.generator_network)
        self.compiled = compiled
        self._stepped = False
        self.cluster = cluster
        self.settings = StepSettings(
            lr_D, lr_G, beta1, beta2, epsilon, compiled, dtype, precision, cluster
        )
        self._step: TrainStep = backend.trainer.TrainStep(generator, discriminator, self.settings)

    @staticmethod
    def _check_dtypes(generator: Model, discriminator: Model, dtype: DType | None) -> DType:
        """``dtype``, or the models' one where it is None; a ValueError unless they agree."""
        if dtype is not None:
            check_dtype(dtype)
        model_dtypes = {"generator": dtype_of(generator), "discriminator": dtype_of(discriminator)}
        for role, model_dtype in model_dtypes.items():
            if model_dtype != (dtype or model_dtype) or model_dtype != model_dtypes["generator"]:
                raise ValueError(
                    f"the {role}'s weights are {model_dtype}, but the trainer's dtype is "
                    f"{dtype or model_dtypes['generator']}; build both models with "
                    f"dtype={(dtype or model_dtype)!r}"
                )
        return model_dtypes["generator"]

    def _in_dtype(self, array: np.ndarray) -> np.ndarray:
        """Float data or noise in the step's dtype (uint8 images stay uint8)."""
        if self.settings.dtype == "float32" or array.dtype == np.uint8:
            return array
        return array.astype(self.settings.dtype)

    def step(self, X: np.ndarray, Z: np.ndarray) -> tuple[float, float]:
        """One update of D, then of G, on a batch of data and noise; returns (loss_D, loss_G)."""
        X = check_batch(X, self.data_shape, "X")
        Z = check_batch(Z, self.noise_shape, "Z")
        if len(X) != len(Z):
            raise ValueError(f"X and Z must hold as many examples; got {len(X)} and {len(Z)}")
        self._step.load_data(self._in_dtype(X))
        part = self._part(len(X))
        loss_D, loss_G = self._run(np.arange(len(X))[None, part], self._in_dtype(Z[None, part]))
        return float(loss_D), float(loss_G)

    def _part(self, batch_size: int) -> slice:
        """This worker's part of a batch (all of it in a one-process run)."""
        return slice(None) if self.cluster is None else self.cluster.shard(batch_size)

    def fit(
        self,
        data: np.ndarray,
        epochs: int,
        batch_size: int,
        latent_dim: int | None = None,
        progress: bool = False,
        on_epoch_end: Callable[[Trainer], None] | None = None,
        live: bool = True,
    ) -> History:
        """Train until ``self.epoch == epochs``; returns the history of all epochs so far.

        ``on_epoch_end(trainer)`` runs after each epoch (samples, checkpoints). A trainer
        restored from a checkpoint continues from its epoch. In a Jupyter kernel, a progress
        bar and one figure redrawn each epoch show the run (:mod:`gan_backends.notebook`);
        ``live=False`` turns them off. Elsewhere ``live`` changes nothing.
        """
        data = check_batch(data, self.data_shape, "data", keep_uint8=True)
        if latent_dim is not None and latent_dim != self.noise_shape[0]:
            raise ValueError(
                f"latent_dim={latent_dim} does not match the generator's input {self.noise_shape}"
            )
        if not 1 <= batch_size <= len(data):
            raise ValueError(f"batch_size must be between 1 and len(data)={len(data)}")
        steps = len(data) // batch_size
        part = self._part(batch_size)
        if not isinstance(data, np.memmap):
            self._step.load_data(self._in_dtype(data))
        note = None if self._stepped else self._step.compile_note
        view = notebook.live_view(self, data, live) if self.epoch < epochs else None
        bar_class = notebook.progress_bar() if view else tqdm
        shown = progress or view is not None
        bar = Progress(epochs, steps, batch_size, self.epoch, note, bar_class) if shown else None
        with bar or contextlib.nullcontext():
            while self.epoch < epochs:
                self._fit_epoch(data, steps, batch_size, part, bar)
                if on_epoch_end:
                    on_epoch_end(self)
                if view:
                    view.update(self)
        return self.history

    def _fit_epoch(
        self, data: np.ndarray, steps: int, batch_size: int, part: slice, bar: Progress | None
    ) -> None:
        batches = self.rng.permutation(len(data))[: steps * batch_size]
        batches = np.ascontiguousarray(batches.reshape(steps, batch_size)[:, part])
        Z = self.rng.standard_normal((steps, batch_size, *self.noise_shape), np.float32)
        Z = self._in_dtype(np.ascontiguousarray(Z[:, part]))
        start = time.perf_counter()
        totals = np.zeros(2)
        done = 0
        while done < steps:
            chunk = steps if bar is None else bar.chunk
            chosen = batches[done : done + chunk]
            if isinstance(data, np.memmap):
                chosen = self._stream(data, chosen)
            totals += self._run(chosen, Z[done : done + len(chosen)])
            chunk = len(chosen)
            done = min(done + chunk, steps)
            seconds = time.perf_counter() - start
            if bar:
                bar.update(self.epoch + 1, done, totals / done, seconds)
        self.epoch += 1
        self.history.loss_D.append(totals[0] / steps)
        self.history.loss_G.append(totals[1] / steps)
        self.history.examples_per_sec.append(steps * batch_size / seconds)
        self.history.seconds.append(seconds)
        self.history.backend.append(self.backend_name)
        self.history.workers.append(1 if self.cluster is None else self.cluster.size)
        self.history.worker_spread.append(None if self.cluster is None else self.worker_spread())

    def worker_spread(self) -> float:
        """How far the workers' weights (batch-norm statistics included) lie from their mean:
        the root of the summed squared differences over all workers (two engine all-reduces)."""
        engine = self.backend.distributed
        weights = [
            value.astype(np.float64)
            for model in (self.generator, self.discriminator)
            for value in self.backend.nn.get_weights(model).values()
        ]
        means = engine.all_mean(self.cluster, weights)
        local = sum(float(np.square(w - m).sum()) for w, m in zip(weights, means, strict=True))
        (total,) = engine.all_mean(self.cluster, [np.array([local])])
        return float(np.sqrt(total[0] * self.cluster.size))

    def _stream(self, data: np.memmap, batches: np.ndarray) -> np.ndarray:
        """Load the examples of the first of ``batches`` that fit in ``STREAM_BYTES``, read from
        disk in file order; returns those batches, indexing the loaded examples."""
        example_bytes = data.itemsize * int(np.prod(data.shape[1:]))
        fitting = max(1, self.STREAM_BYTES // (example_bytes * batches.shape[1]))
        batches = batches[:fitting]
        needed = np.unique(batches)
        self._step.load_data(self._in_dtype(np.asarray(data[needed])))
        return np.searchsorted(needed, batches)

    def _run(self, batches: np.ndarray, Z: np.ndarray) -> np.ndarray:
        """One step per row of ``batches`` (indices into the loaded data); the sums of their
        (loss_D, loss_G)."""
        totals = np.array(self._step.run(batches, Z))
        self._stepped = True
        if not np.isfinite(totals).all():
            raise FloatingPointError(
                f"the losses became non-finite (loss_D, loss_G = {totals}) in epoch "
                f"{self.epoch + 1}; lower the learning rates or check the data for NaN or inf"
            )
        return totals

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """Adam's moments and step counts, canonical names prefixed ``D/`` and ``G/``."""
        return self._step.optimizer_state()

    def load_optimizer_state(self, state: dict[str, np.ndarray]) -> None:
        self._step.load_optimizer_state(state)


POSITIVE = (lambda value: math.isfinite(value) and value > 0, "a finite number > 0")
NON_NEGATIVE = (lambda value: math.isfinite(value) and value >= 0, "a finite number >= 0")
FRACTION = (lambda value: math.isfinite(value) and 0 <= value < 1, "in [0, 1)")
COUNT = (lambda value: isinstance(value, int) and value >= 1, "an integer >= 1")


def check_setting(name: str, value: Any, rule: tuple[Callable[[Any], bool], str]) -> None:
    """Raise ValueError naming ``name`` unless ``value`` is a number that satisfies ``rule``."""
    accepted, wanted = rule
    if isinstance(value, bool) or not isinstance(value, int | float) or not accepted(value):
        raise ValueError(f"{name} must be {wanted}; got {value!r}")


class Progress:
    """One progress bar for a whole ``fit``, on stderr (tqdm).

    It counts examples over all epochs and shows the epoch, the running mean losses and the
    epoch's examples/sec over its training time alone: the number ``History`` records and the
    closing summary line prints. While the first call compiles the step, it says so. Steps run
    in chunks of about ``SECONDS_PER_UPDATE`` between redraws, so that drawing costs nothing
    noticeable even where a step takes microseconds.
    """

    SECONDS_PER_UPDATE = 0.25
    BAR_FORMAT = (
        "{desc}{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"
    )

    def __init__(
        self,
        epochs: int,
        steps: int,
        batch_size: int,
        done_epochs: int,
        compile_note: str | None,
        bar_class: type[tqdm] = tqdm,
    ):
        self.epochs, self.steps, self.batch_size = epochs, steps, batch_size
        self.chunk = 1
        size = _size_for_a_terminal_without_one()
        self.bar = bar_class(
            total=epochs * steps * batch_size, initial=done_epochs * steps * batch_size,
            unit=" examples", dynamic_ncols=not size, **size, file=sys.stderr,
            bar_format=self.BAR_FORMAT,
            desc=f"{compile_note or f'epoch {done_epochs + 1}/{epochs}'}: ",
        )  # fmt: skip

    def update(self, epoch: int, done: int, losses: np.ndarray, seconds: float) -> None:
        """``done`` steps of ``epoch`` took ``seconds``; ``losses`` are their means."""
        rate = done * self.batch_size / max(seconds, 1e-9)
        self.chunk = max(1, min(self.steps, int(self.SECONDS_PER_UPDATE * done / seconds)))
        self.bar.set_description(f"epoch {epoch}/{self.epochs}", refresh=False)
        self.bar.set_postfix_str(
            f"loss_D {losses[0]:.3f}, loss_G {losses[1]:.3f}, {rate:,.1f} examples/sec",
            refresh=False,
        )
        self.bar.update(((epoch - 1) * self.steps + done) * self.batch_size - self.bar.n)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exception: object) -> None:
        self.bar.close()


def _size_for_a_terminal_without_one() -> dict[str, int]:
    """80 columns and 24 rows where stderr is a terminal that reports a size of 0 (some
    containers' do, and tqdm then draws nothing); else none: tqdm follows the terminal."""
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError):
        return {}
    return {} if size.columns and size.lines else {"ncols": 80, "nrows": 24}
