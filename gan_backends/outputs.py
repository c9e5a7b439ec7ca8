"""What a training run writes into its folder: after each epoch (the checkpoint, the loss and
quality curves, the DCGAN's sample grid, ``metrics.json``, TensorBoard's events) and at its end
(the last samples, and for the GAN how well it learned the Gaussian)."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gan_backends import datasets, models, plots, quality, selection
from gan_backends.checkpoints import save_checkpoint
from gan_backends.files import write_json
from gan_backends.tensorboard_log import TensorBoardLog
from gan_backends.training import Trainer

if TYPE_CHECKING:
    from gan_backends.experiments import Config

SAMPLE_ROWS, SAMPLE_COLUMNS = 3, 7
GAN_SAMPLES = 1000


class RunOutputs:
    """What a run writes into its folder: after each epoch (the checkpoint, the losses, the
    samples, ``metrics.json``, TensorBoard's events) and at its end."""

    def __init__(
        self,
        config: Config,
        out: Path,
        trainer: Trainer,
        data: np.ndarray,
        sample_noise: np.ndarray,
        measure: Callable[[models.Model], dict[str, Any]] | None,
        log: TensorBoardLog | None,
    ) -> None:
        """``measure`` scores the generator after each epoch; only the chief of a distributed
        run (or the one process) writes, and only it gets one."""
        self.config, self.out, self.trainer, self.data, self.log = config, out, trainer, data, log
        self.sample_noise, self.measure = sample_noise, measure
        self.chief = measure is not None
        self.checkpoint_path = out / "checkpoint.npz"
        self.backend = selection.current()
        self.device = self.backend.device.describe()
        self.quality_history: list[dict[str, Any]] = []
        self.saved_epoch: int | None = None
        self.interrupted = threading.Event()

    def metrics(self) -> dict[str, Any]:
        config, history = self.config, self.trainer.history
        return {
            "backend": selection.current_name(),
            "backend_per_epoch": history.backend,
            "workers_per_epoch": history.workers,
            "worker_spread": history.worker_spread,
            "framework_version": self.backend.device.framework_version(),
            "device": self.device,
            "threads": self.backend.device.threads(),
            "config": asdict(config),
            "dataset": config.dataset,
            "image_size": config.image_size if config.model == "dcgan" else None,
            "num_examples": len(self.data),
            "epochs_done": self.trainer.epoch,
            "loss_D": history.loss_D,
            "loss_G": history.loss_G,
            "examples_per_sec": history.examples_per_sec[-1] if history.examples_per_sec else None,
            "examples_per_sec_per_epoch": history.examples_per_sec,
            "quality": self.quality_history,
        }

    def end_of_epoch(self, trainer: Trainer) -> None:
        config, out, epoch = self.config, self.out, trainer.epoch
        self.quality_history.append({"epoch": epoch, **self.measure(trainer.generator)})
        if config.model == "dcgan":
            fake = models.generate(trainer.generator, self.sample_noise)
            grid = out / f"samples_epoch{epoch:03d}.png"
            plots.save_image_grid(
                fake, grid, SAMPLE_ROWS, SAMPLE_COLUMNS, grid_title(config, epoch)
            )
        save_checkpoint(
            self.checkpoint_path, trainer, {**asdict(config), "quality": self.quality_history}
        )
        self.saved_epoch = epoch
        self._write_curves()
        write_json(out / "metrics.json", self.metrics())
        if self.log is not None:
            history = trainer.history
            scalars = {"loss_D": history.loss_D[-1], "loss_G": history.loss_G[-1],
                       "examples_per_sec": history.examples_per_sec[-1]}  # fmt: skip
            picture = samples_picture(config, trainer.generator, self.data, self.sample_noise)
            self.log.epoch(epoch, scalars, self.quality_history[-1], picture)
        if self.interrupted.is_set():  # the interrupt landed where it was swallowed
            raise KeyboardInterrupt

    def _write_curves(self) -> None:
        """The loss and quality curves of every epoch so far."""
        history, title = self.trainer.history, f"{self.config.model} on {selection.current_name()}"
        plots.plot_losses(history.loss_D, history.loss_G, self.out / "losses.png", title)
        plots.plot_quality(self.quality_history, self.out / "quality.png", title)

    def final(self) -> dict[str, Any]:
        """Write the end's outputs and the metrics with what only the end adds; returns those."""
        self._write_curves()
        result = self.metrics() | _end_outputs(
            self.config, self.trainer, self.data, self.sample_noise, self.out
        )
        write_json(self.out / "metrics.json", result)
        return result

    def of_a_finished_run(self) -> dict[str, Any]:
        """The metrics of a run whose checkpoint holds every epoch asked for; its end's outputs
        written if a full disk (say) kept them from being written."""
        epochs, path = self.trainer.epoch, self.checkpoint_path
        if self.chief and final_outputs_missing(self.config, self.out):
            print(
                f"{path} holds all {epochs} epochs, but the final outputs are incomplete: "
                "writing them",
                file=sys.stderr,
            )
            return self.final()
        print(
            f"{path} already holds {epochs} epoch{'s' if epochs != 1 else ''} (--epochs "
            f"{self.config.epochs}): nothing to train; raise --epochs to train longer",
            file=sys.stderr,
        )
        return self.metrics()

    def last_checkpoint(self) -> str:
        return last_checkpoint_note(self.checkpoint_path, self.saved_epoch)


def _end_outputs(
    config: Config, trainer: Trainer, data: np.ndarray, sample_noise: np.ndarray, out: Path
) -> dict[str, Any]:
    """Write the last samples; the metrics only the GAN's end adds."""
    title = f"{config.model} on {selection.current_name()}"
    fake = models.generate(trainer.generator, sample_noise)
    if config.model == "dcgan":
        title = grid_title(config, trainer.epoch)
        plots.save_image_grid(fake, out / "samples.png", SAMPLE_ROWS, SAMPLE_COLUMNS, title)
        return {}
    plots.plot_gaussian(data[:GAN_SAMPLES], fake, out / "samples.png", title)
    mean, cov = datasets.gaussian_moments()
    fit = quality.gaussian_fit(fake, mean, cov)
    return {
        "learned_mean": fit["learned_mean"],
        "learned_cov": fit["learned_cov"],
        "true_mean": mean.tolist(),
        "true_cov": cov.tolist(),
    }


def samples_picture(
    config: Config, generator: models.Model, data: np.ndarray, noise: np.ndarray
) -> np.ndarray:
    """The samples from ``noise`` as one HWC uint8 picture: the DCGAN's grid, or the GAN's
    real and generated points."""
    fake = models.generate(generator, noise)
    if config.model == "dcgan":
        return plots.image_grid(fake, SAMPLE_ROWS, SAMPLE_COLUMNS)
    return plots.figure_pixels(plots.gaussian_figure(data[:GAN_SAMPLES], fake))


def final_outputs_missing(config: Config, out: Path) -> bool:
    """Whether a run whose epochs are all done lacks a file (or a metric) its end writes."""
    if not ((out / "samples.png").is_file() and (out / "losses.png").is_file()):
        return True
    try:
        written = json.loads((out / "metrics.json").read_text())
    except (OSError, ValueError):
        return True
    return config.model == "gan" and "learned_mean" not in written


def grid_title(config: Config, epoch: int) -> str:
    """What a DCGAN sample grid shows: model, backend, epoch and data."""
    dataset = Path(config.dataset).name if os.sep in config.dataset else config.dataset
    return f"{config.model} on {selection.current_name()}, epoch {epoch}, {dataset}"


def last_checkpoint_note(path: Path, epoch: int | None) -> str:
    if epoch is None:
        return "no checkpoint was written yet, so rerun the same command to start again"
    return (
        f"the last checkpoint, {path}, holds epoch {epoch} and is intact: continue with the "
        "same command and --resume"
    )
