"""The chapter's two experiments as one driver, shared by ``examples/`` and the ``gan-backends``
command: data, networks, training, samples, quality, plots, metrics and checkpoints.

Every backend gets the same data, the same initial weights (drawn in NumPy from ``seed``) and
the same batches and noise, so runs on different frameworks are directly comparable.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from gan_backends import architectures, datasets, models, plots, quality, selection
from gan_backends.checkpoints import load_checkpoint, restore, save_checkpoint
from gan_backends.training import Trainer
from gan_backends.weights import set_weights

SAMPLE_ROWS, SAMPLE_COLUMNS = 3, 7
GAN_SAMPLES = 1000
IMAGE_QUALITY_SAMPLES = 256
COMPATIBLE_ON_RESUME = (
    "model",
    "dataset",
    "image_size",
    "width",
    "latent_dim",
    "batch_size",
    "seed",
    "limit",
)


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
    width: int = 64
    seed: int = 0
    limit: int | None = None
    compiled: bool = True
    mixed_precision: bool = False

    @classmethod
    def for_model(cls, model: str, **overrides: Any) -> Config:
        if model == "gan":
            base = cls()
        elif model == "dcgan":
            base = cls(
                model="dcgan", epochs=20, batch_size=64, lr_D=0.005, lr_G=0.005, beta1=0.5,
                latent_dim=100, dataset=datasets.DEFAULT_DATASET, image_size=64, width=64,
            )  # fmt: skip
        else:
            raise ValueError(f"model must be 'gan' or 'dcgan'; got {model!r}")
        given = {k: v for k, v in overrides.items() if v is not None}
        return replace(base, **given)

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
        data = datasets.load(config.dataset, image_size=config.image_size, seed=config.seed)
    return data[: config.limit]


def fixed_noise(config: Config) -> np.ndarray:
    """The noise every epoch's samples are drawn from (independent of training's generator)."""
    generator, _ = config.networks()
    count = GAN_SAMPLES if config.model == "gan" else SAMPLE_ROWS * SAMPLE_COLUMNS
    rng = np.random.default_rng([config.seed, 1])
    return rng.standard_normal((count, *generator.input_shape), np.float32)


def build_trainer(config: Config, weights: Mapping[str, np.ndarray]) -> Trainer:
    """Networks for ``config`` holding ``weights`` (``G/<name>``, ``D/<name>``, as made by
    :func:`initial_weights`), and their trainer."""
    generator, discriminator = (models.build(network) for network in config.networks())
    set_weights(generator, _group(weights, "G/"))
    set_weights(discriminator, _group(weights, "D/"))
    return Trainer(
        generator, discriminator, lr_D=config.lr_D, lr_G=config.lr_G, beta1=config.beta1,
        compiled=config.compiled, seed=config.seed, mixed_precision=config.mixed_precision,
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
    real = data[rng.choice(len(data), count, replace=False)]
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


def run(
    config: Config,
    out: str | os.PathLike,
    progress: bool = False,
    resume: bool = False,
    initial: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Train, writing samples, plots, ``metrics.json`` and ``checkpoint.npz`` into ``out``.

    ``initial`` names an ``.npz`` of :func:`initial_weights` to start from instead of the seed's.
    """
    out = Path(out)
    checkpoint_path = out / "checkpoint.npz"
    data = load_data(config)
    if initial is None:
        weights = initial_weights(config)
    else:
        with np.load(initial) as archive:
            weights = dict(archive.items())
    trainer = build_trainer(config, weights)
    measure = quality_meter(config, data)
    sample_noise = fixed_noise(config)
    quality_history: list[dict[str, Any]] = []
    if resume:
        quality_history = _resume(config, trainer, checkpoint_path)
    backend = selection.current()
    device = backend.device.describe()
    out.mkdir(parents=True, exist_ok=True)

    def metrics() -> dict[str, Any]:
        history = trainer.history
        return {
            "backend": selection.current_name(),
            "framework_version": backend.device.framework_version(),
            "device": device,
            "threads": backend.device.threads(),
            "config": asdict(config),
            "dataset": config.dataset,
            "image_size": config.image_size if config.model == "dcgan" else None,
            "num_examples": len(data),
            "epochs_done": trainer.epoch,
            "loss_D": history.loss_D,
            "loss_G": history.loss_G,
            "examples_per_sec": history.examples_per_sec[-1] if history.examples_per_sec else None,
            "examples_per_sec_per_epoch": history.examples_per_sec,
            "quality": quality_history,
        }

    def end_of_epoch(trainer: Trainer) -> None:
        quality_history.append({"epoch": trainer.epoch, **measure(trainer.generator)})
        if config.model == "dcgan":
            fake = models.generate(trainer.generator, sample_noise)
            grid = out / f"samples_epoch{trainer.epoch:03d}.png"
            plots.save_image_grid(fake, grid, SAMPLE_ROWS, SAMPLE_COLUMNS)
        save_checkpoint(checkpoint_path, trainer, {**asdict(config), "quality": quality_history})
        _write_json(out / "metrics.json", metrics())

    trainer.fit(
        data, config.epochs, config.batch_size, progress=progress, on_epoch_end=end_of_epoch
    )
    result = metrics()
    title = f"{config.model} on {result['backend']}"
    plots.plot_losses(trainer.history.loss_D, trainer.history.loss_G, out / "losses.png", title)
    fake = models.generate(trainer.generator, sample_noise)
    if config.model == "gan":
        plots.plot_gaussian(data[:GAN_SAMPLES], fake, out / "samples.png", title)
        last = quality_history[-1] if quality_history else measure(trainer.generator)
        mean, cov = datasets.gaussian_moments()
        result |= {
            "learned_mean": last["learned_mean"],
            "learned_cov": last["learned_cov"],
            "true_mean": mean.tolist(),
            "true_cov": cov.tolist(),
        }
    else:
        plots.save_image_grid(fake, out / "samples.png", SAMPLE_ROWS, SAMPLE_COLUMNS)
    _write_json(out / "metrics.json", result)
    return result


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
    restore(trainer, checkpoint)
    return list(checkpoint.config.get("quality", []))


def _group(weights: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}


def _write_json(path: Path, value: dict[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(value, indent=2) + "\n")
    os.replace(temporary, path)
