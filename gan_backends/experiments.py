"""The chapter's two experiments as one driver, shared by ``examples/`` and the ``gan-backends``
command: data, networks, training, samples, quality, plots, metrics and checkpoints.

Every backend gets the same data, the same initial weights (drawn in NumPy from ``seed``) and
the same batches and noise, so runs on different frameworks are directly comparable.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from gan_backends import architectures, datasets, distributed, models, quality, selection
from gan_backends import safetensors_files as safetensors
from gan_backends.checkpoints import load_checkpoint, restore
from gan_backends.distributed import Cluster
from gan_backends.files import CorruptFileError, WriteError, read_npz
from gan_backends.outputs import (
    GAN_SAMPLES,
    SAMPLE_COLUMNS,
    SAMPLE_ROWS,
    RunOutputs,
    last_checkpoint_note,
)
from gan_backends.runs import RunFolder
from gan_backends.step import check_precision
from gan_backends.tensorboard_log import TensorBoardLog
from gan_backends.training import COUNT, FRACTION, POSITIVE, Trainer, check_setting
from gan_backends.weights import set_weights

IMAGE_QUALITY_SAMPLES = 256
FEWEST_IMAGES_TO_SCORE = 64
COMPATIBLE_ON_RESUME = (
    "model",
    "dataset",
    "image_size",
    "fit",
    "width",
    "latent_dim",
    "batch_size",
    "seed",
    "limit",
)


IMAGE_SIZES = (16, 32, 64)
#: What each model changes in :class:`Config`'s defaults (which are the GAN's).
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "gan": {},
    "dcgan": {
        "model": "dcgan", "epochs": 20, "batch_size": 64, "lr_D": 0.005, "lr_G": 0.005,
        "beta1": 0.5, "latent_dim": 100, "dataset": datasets.DEFAULT_DATASET, "image_size": 64,
        "width": 64,
    },
}  # fmt: skip
LARGEST_SENSIBLE_LR = 1.0
#: The command-line flag of each setting, for messages.
FLAGS = {
    "epochs": "--epochs", "batch_size": "--batch-size", "lr_D": "--lr-d (or --lr)",
    "lr_G": "--lr-g (or --lr)", "beta1": "--beta1", "latent_dim": "--latent-dim",
    "width": "--width", "seed": "--seed", "limit": "--limit",
}  # fmt: skip
SETTINGS = {
    "epochs": COUNT, "batch_size": COUNT, "lr_D": POSITIVE, "lr_G": POSITIVE,
    "beta1": FRACTION, "latent_dim": COUNT, "width": COUNT, "limit": COUNT,
    "seed": (lambda value: isinstance(value, int) and value >= 0, "an integer >= 0"),
}  # fmt: skip


@dataclass(frozen=True)
class Config:
    """One run's settings; the defaults are d2l's (20.1 for ``gan``, 20.2 for ``dcgan``), on
    every backend alike.

    One change: the DCGAN's batch is 64, not the seed's 256. d2l trains on 40,597 Pokemon
    images, 158 steps an epoch; our default data, 1,906 emoji, give 7 steps an epoch at 256 and
    140 in 20 epochs, too few to learn (sliced Wasserstein distance about 400 after 10 epochs at
    32x32, against 200 with batch 64). The seed's lr 0.005 stays: at batch 64, lr 0.0005 (the
    seed's TensorFlow value) reached only 530 in the same 10 epochs.
    """

    model: str = "gan"
    epochs: int = 20
    batch_size: int = 8
    lr_D: float = 0.05
    lr_G: float = 0.005
    beta1: float = 0.9
    latent_dim: int = 2
    dataset: str = "gaussian"
    image_size: int = 64
    fit: str = datasets.DEFAULT_FIT
    width: int = 64
    seed: int = 0
    limit: int | None = None
    compiled: bool | None = None
    precision: str = "32"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.model not in MODEL_DEFAULTS:
            raise ValueError(f"model must be 'gan' or 'dcgan'; got {self.model!r}")
        models.check_dtype(self.dtype, "--dtype")
        check_precision(self.precision, self.dtype, ("--precision", "--dtype"))
        for name, rule in SETTINGS.items():
            value = getattr(self, name)
            if not (name == "limit" and value is None):
                check_setting(FLAGS[name], value, rule)
        if self.fit not in datasets.FITS:
            raise ValueError(f"--fit must be one of {', '.join(datasets.FITS)}; got {self.fit!r}")
        if self.image_size not in IMAGE_SIZES:
            sizes = ", ".join(map(str, IMAGE_SIZES))
            raise ValueError(f"--image-size must be one of {sizes}; got {self.image_size!r}")
        for name in ("lr_D", "lr_G"):
            if getattr(self, name) > LARGEST_SENSIBLE_LR:
                warnings.warn(
                    f"{FLAGS[name]} {getattr(self, name):g} is far above the usual 1e-4 to "
                    "0.05: Adam moves every weight by about the learning rate each step, so "
                    "training will likely diverge",
                    stacklevel=3,
                )

    @classmethod
    def for_model(cls, model: str, **overrides: Any) -> Config:
        if model not in MODEL_DEFAULTS:
            raise ValueError(f"model must be 'gan' or 'dcgan'; got {model!r}")
        given = {k: v for k, v in overrides.items() if v is not None}
        return cls(**(MODEL_DEFAULTS[model] | given))

    def networks(self) -> tuple[architectures.Network, architectures.Network]:
        if self.model == "gan":
            return architectures.gan_generator(self.latent_dim), architectures.gan_discriminator()
        return (
            architectures.dcgan_generator(self.latent_dim, self.width, self.image_size),
            architectures.dcgan_discriminator(self.width, self.image_size),
        )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Config:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def load_data(config: Config) -> np.ndarray:
    """The run's training data (the first ``config.limit`` examples, when set)."""
    if config.model == "gan":
        data = datasets.gaussian(1000, seed=config.seed)
    else:
        data = datasets.load(config.dataset, config.image_size, config.seed, config.fit)
    return data[: config.limit]


def fixed_noise(config: Config) -> np.ndarray:
    """The noise every epoch's samples are drawn from (independent of training's generator)."""
    generator, _ = config.networks()
    count = GAN_SAMPLES if config.model == "gan" else SAMPLE_ROWS * SAMPLE_COLUMNS
    rng = np.random.default_rng([config.seed, 1])
    return rng.standard_normal((count, *generator.input_shape), np.float32)


def build_trainer(
    config: Config, weights: Mapping[str, np.ndarray], cluster: Cluster | None = None
) -> Trainer:
    """Networks for ``config`` holding ``weights`` (``G/<name>``, ``D/<name>``, as made by
    :func:`initial_weights`), and their trainer (a worker of ``cluster``, when given)."""
    with distributed.scope():
        generator, discriminator = (
            models.build(network, dtype=config.dtype) for network in config.networks()
        )
        set_weights(generator, _group(weights, "G/"))
        set_weights(discriminator, _group(weights, "D/"))
        return Trainer(
            generator, discriminator, lr_D=config.lr_D, lr_G=config.lr_G, beta1=config.beta1,
            compiled=config.compiled, seed=config.seed, precision=config.precision,
            cluster=cluster, dtype=config.dtype,
        )  # fmt: skip


def quality_meter(config: Config, data: np.ndarray) -> Callable[[models.Model], dict[str, Any]]:
    """A function that scores a generator, framework-neutrally (:mod:`gan_backends.quality`);
    what depends on the data alone (noise, real sample, SWD floor) is prepared once."""
    if config.model == "gan":
        mean, cov = datasets.gaussian_moments()
        noise = fixed_noise(config)
        return lambda G: quality.gaussian_quality(models.generate(G, noise), data, mean, cov)
    rng = np.random.default_rng([config.seed, 2])
    count = min(IMAGE_QUALITY_SAMPLES, len(data))
    noise = rng.standard_normal((count, *config.networks()[0].input_shape), np.float32)
    real = datasets.to_model_range(data[rng.choice(len(data), count, replace=False)])
    floor = quality.swd_floor(real, seed=config.seed)
    return lambda G: quality.image_quality(models.generate(G, noise), real, config.seed, floor)


def initial_weights(config: Config) -> dict[str, np.ndarray]:
    """Both networks' initial weights for ``config.seed``, as ``G/<name>`` and ``D/<name>``."""
    generator, discriminator = config.networks()
    seeds = {"G": (generator, config.seed), "D": (discriminator, config.seed + 1)}
    return {
        f"{role}/{name}": value
        for role, (network, seed) in seeds.items()
        for name, value in network.initial_weights(np.random.default_rng(seed)).items()
    }


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run; the message says where its last checkpoint is."""


@contextlib.contextmanager
def _noticing_interrupts() -> Iterator[threading.Event]:
    """An event set by Ctrl-C (or a SIGTERM the command line turned into one), which still raise
    KeyboardInterrupt as usual: where that lands in a finalizer, or in Keras' bare ``except``
    (which turns it into a warning about the model's inputs), Python goes on, and the event
    lets the run stop anyway. Warnings after the interrupt are not shown."""
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return
    previous = {
        number: signal.getsignal(number)
        for number in (signal.SIGINT, signal.SIGTERM)
        if callable(signal.getsignal(number))
    }

    def notice(signum: int, frame: Any) -> None:
        interrupted.set()
        previous[signum](signum, frame)

    for number in previous:
        signal.signal(number, notice)
    try:
        with warnings.catch_warnings():
            show = warnings.showwarning
            warnings.showwarning = lambda *details: interrupted.is_set() or show(*details)
            yield interrupted
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def run(
    config: Config,
    out: str | os.PathLike,
    progress: bool = False,
    resume: bool = False,
    initial: str | os.PathLike | None = None,
    overwrite: bool = False,
    tensorboard: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Train, writing samples, plots, ``metrics.json`` and ``checkpoint.npz`` into ``out``.

    ``out`` belongs to this run (:class:`~gan_backends.runs.RunFolder`): a folder holding
    another run's results is refused unless ``resume`` continues that run from its checkpoint
    or ``overwrite`` replaces it. ``initial`` names an ``.npz`` of :func:`initial_weights` to
    start from instead of the seed's. Ctrl-C raises :class:`RunInterrupted`; a file that cannot
    be written raises :class:`~gan_backends.files.WriteError`; either way the last checkpoint
    is intact and ``resume`` continues from it. ``tensorboard`` names a folder where each epoch
    is also logged for TensorBoard, as the run ``<backend>`` (:mod:`gan_backends.tensorboard_log`).
    """
    out = Path(out)
    check_memory(config)
    cluster = distributed.current()
    chief = cluster is None or cluster.is_chief
    with (
        RunFolder(out, resume, overwrite) if chief else contextlib.nullcontext() as folder,
        contextlib.ExitStack() as stack,
    ):
        log = None
        if tensorboard is not None and chief:
            log = TensorBoardLog(tensorboard, selection.current_name(), asdict(config))
            stack.callback(log.close)
        data = load_data(config)
        check_data_size(config, data)
        if initial is None:
            weights = initial_weights(config)
        else:
            weights = read_initial_weights(initial, config)
        trainer = build_trainer(config, weights, cluster)
        measure = quality_meter(config, data) if chief else None
        outputs = RunOutputs(config, out, trainer, data, fixed_noise(config), measure, log)
        if resume:
            outputs.quality_history = _resume(config, trainer, outputs.checkpoint_path)
            outputs.saved_epoch = trainer.epoch
        if trainer.epoch >= config.epochs:
            return outputs.of_a_finished_run()
        if folder:
            folder.clear_previous_results()
        try:
            with _noticing_interrupts() as interrupted:
                outputs.interrupted = interrupted
                trainer.fit(
                    data, config.epochs, config.batch_size, progress=progress and chief,
                    on_epoch_end=outputs.end_of_epoch if chief else None,
                )  # fmt: skip
            return outputs.final() if chief else outputs.metrics()
        except KeyboardInterrupt:
            raise RunInterrupted(f"interrupted; {outputs.last_checkpoint()}") from None
        except WriteError as error:
            raise WriteError(f"{error}; {outputs.last_checkpoint()}") from None


def checkpoint_note(path: Path) -> str:
    """Where the run at ``path`` can continue from, read from its checkpoint file."""
    try:
        epoch = load_checkpoint(path).epoch if path.exists() else None
    except CorruptFileError as error:
        return str(error)
    return last_checkpoint_note(path, epoch)


def check_memory(config: Config, available: int | None = None) -> None:
    """Refuse, in one line naming the flag, sizes whose training cannot fit in memory.

    A lower bound, counted before anything is allocated: the weights with their gradients
    and Adam's two moments, one epoch's noise, and the activations of one batch (kept for the
    backward pass). ``available`` defaults to the memory available now.
    """
    available = datasets.available_memory() if available is None else available
    generator, discriminator = config.networks()
    first_layer = int(np.prod(next(iter(generator.weight_shapes().values()))))
    weights = sum(
        int(np.prod(shape))
        for network in (generator, discriminator)
        for shape in network.weight_shapes().values()
    )
    examples = max(config.limit or config.batch_size, config.batch_size, GAN_SAMPLES)
    parts = {
        "--latent-dim": 4 * 4 * first_layer + 4 * examples * config.latent_dim,
        "--width": 4 * 4 * (weights - first_layer),
        "--batch-size": 4 * 3 * config.batch_size * _activations_per_example(config),
    }
    need = sum(parts.values())
    if need > available:
        flag = max(parts, key=parts.__getitem__)
        value = getattr(
            config, {"--latent-dim": "latent_dim", "--width": "width"}.get(flag, "batch_size")
        )
        raise ValueError(
            f"{flag} {value} needs at least {need / 2**30:.1f} GiB of memory to train, more "
            f"than the {available / 2**30:.1f} GiB available; lower {flag}"
        )


def _activations_per_example(config: Config) -> int:
    """About the values the two networks keep for one example's backward pass."""
    if config.model == "gan":
        return 2 * (config.latent_dim + 2)
    return 2 * 3 * (config.width + 3) * config.image_size**2


def check_data_size(config: Config, data: np.ndarray) -> None:
    """Say in words when the data are too few for the batch size or the quality score."""
    count = len(data)
    source = f"--limit {config.limit}" if config.limit else f"the dataset {config.dataset!r}"
    if count < config.batch_size:
        raise ValueError(
            f"{source} gives {count} examples, fewer than --batch-size {config.batch_size}: "
            f"lower --batch-size to at most {count}, or train on more data"
        )
    if config.model == "dcgan" and count < FEWEST_IMAGES_TO_SCORE:
        warnings.warn(
            f"{source} gives only {count} images: the quality score (SWD) compares "
            f"{count} generated images with {count} real ones (and half against half for its "
            f"floor), too few to be stable; use at least {FEWEST_IMAGES_TO_SCORE} for "
            "comparable scores",
            stacklevel=2,
        )


def read_initial_weights(
    path: str | os.PathLike, config: Config | None = None
) -> dict[str, np.ndarray]:
    """The ``G/<name>``, ``D/<name>`` arrays of an ``--initial`` file (``.npz``, or a
    ``.safetensors`` that ``gan-backends export`` wrote, checked against ``config``)."""
    if not safetensors.is_safetensors(path):
        return read_npz(path, "initial weights file (--initial)")
    _, _, tensors = safetensors.read_run(path, "initial weights file (--initial)")
    if config is not None:
        generator, discriminator = config.networks()
        expected = {f"G/{k}": v for k, v in generator.weight_shapes().items()}
        expected |= {f"D/{k}": v for k, v in discriminator.weight_shapes().items()}
        safetensors.check_run_weights(path, tensors, expected)
    return tensors


def summary_line(metrics: dict[str, Any]) -> str:
    """The chapter's closing line: ``loss_D 0.693, loss_G 0.693, N examples/sec on DEVICE``."""
    return (
        f"loss_D {metrics['loss_D'][-1]:.3f}, loss_G {metrics['loss_G'][-1]:.3f}, "
        f"{metrics['examples_per_sec']:.1f} examples/sec on {metrics['device']}"
    )


def _resume(config: Config, trainer: Trainer, path: Path) -> list[dict[str, Any]]:
    """Restore the trainer from ``path``; returns the quality history recorded so far."""
    if not path.is_file():
        print(f"no checkpoint at {path}: starting from scratch", file=sys.stderr)
        return []
    checkpoint = load_checkpoint(path)
    saved = Config.from_dict(checkpoint.config)
    if checkpoint.dtype != config.dtype:
        raise ValueError(
            f"cannot resume {path}: it was trained in {checkpoint.dtype}, not --dtype "
            f"{config.dtype}; resume with --dtype {checkpoint.dtype} or use another --out folder"
        )
    if saved.precision != config.precision:
        raise ValueError(
            f"cannot resume {path}: it was trained in --precision {saved.precision}, not "
            f"{config.precision}; resume with --precision {saved.precision} or use another "
            "--out folder"
        )
    clashes = [
        f"{name}={getattr(config, name)!r} (checkpoint: {getattr(saved, name)!r})"
        for name in COMPATIBLE_ON_RESUME
        if getattr(config, name) != getattr(saved, name)
    ]
    if clashes:
        raise ValueError(
            f"cannot resume {path}: "
            + ", ".join(clashes)
            + "; use the checkpoint's settings or another --out folder"
        )
    try:
        restore(trainer, checkpoint)
    except (ValueError, KeyError, TypeError) as error:
        raise CorruptFileError(
            f"{path} is a damaged checkpoint (it does not fit its own settings: {error})"
        ) from None
    earlier = checkpoint.history.get("backend", [])
    if earlier and earlier[-1] != trainer.backend_name:
        print(
            f"resuming a {earlier[-1]} run on {trainer.backend_name}: metrics.json records "
            "the backend of every epoch (backend_per_epoch)",
            file=sys.stderr,
        )
    return list(checkpoint.config.get("quality", []))


def _group(weights: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
