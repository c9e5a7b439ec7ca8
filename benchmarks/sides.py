"""The sides a benchmark subprocess builds and times, for one backend: the library, d2l's
code (``peers/<framework>_d2l.py``) and Keras 3 (``peers/keras_<backend>.py``).

Keras reads KERAS_BACKEND once, when it is imported, so :func:`start` sets it before the
library's backend is loaded (the library's TensorFlow backend imports Keras too).
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import sys
import time
from typing import Any

import numpy as np
from measures import PeakMemory
from peers import LATENT_DIM, PEERS, Settings, Side, d2l_peer, keras_peer

from gan_backends.backends import BACKENDS

#: The Keras sides and the variant (a key of ``VARIANTS`` in ``keras_<backend>.py``) each runs.
KERAS_SIDES = {"keras": "idiomatic", "keras_equal_work": "equal-work"}
#: Every side, in the order they alternate.
SIDES = ("library", "native", *KERAS_SIDES)


def training_data(settings: Settings) -> np.ndarray:
    """The library's data: ``steps * batch_size`` examples, float32, public (NCHW) layout."""
    if settings.model == "gan":
        from gan_backends import datasets

        return datasets.gaussian(settings.examples_per_epoch)
    shape = (settings.examples_per_epoch, 3, settings.image_size, settings.image_size)
    return np.random.default_rng(0).uniform(-1.0, 1.0, shape).astype(np.float32)


def load_library_backend(backend: str, settings: Settings) -> Any:
    """Select and import the library's backend (which imports its framework) and set threads."""
    import gan_backends as gb
    from gan_backends import selection

    gb.set_backend(backend)
    module = selection.load(backend)
    if settings.threads:
        set_framework_threads(backend, settings.threads)
    return module


def set_framework_threads(backend: str, threads: int) -> None:
    """``--threads`` for PyTorch and TensorFlow (MXNet reads OMP_NUM_THREADS and JAX XLA_FLAGS,
    set before import)."""
    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
    elif backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def library_trainer(settings: Settings, compiled: bool) -> Any:
    import gan_backends as gb
    from gan_backends import models

    if settings.model == "gan":
        generator, discriminator = models.gan_generator(seed=0), models.gan_discriminator(seed=1)
    else:
        generator = models.dcgan_generator(
            latent_dim=LATENT_DIM["dcgan"], width=settings.width,
            image_size=settings.image_size, seed=0,
        )  # fmt: skip
        discriminator = models.dcgan_discriminator(
            width=settings.width, image_size=settings.image_size, seed=1
        )
    hyperparameters = settings.hyperparameters
    return gb.Trainer(
        generator, discriminator, lr_D=hyperparameters.lr_D, lr_G=hyperparameters.lr_G,
        beta1=hyperparameters.beta1, seed=0, precision=settings.precision,
        compiled=compiled,
    )  # fmt: skip


def library_side(backend: str, settings: Settings, data: np.ndarray) -> Side:
    import gan_backends as gb

    # Compiled everywhere: steady-state speed (by default the PyTorch GAN runs eagerly, since its
    # short default run ends before a compile would pay for itself).
    trainer = library_trainer(settings, compiled=True)

    def run_epoch() -> tuple[float, float]:
        history = trainer.fit(data, epochs=trainer.epoch + 1, batch_size=settings.batch_size)
        return history.loss_D[-1], history.loss_G[-1]

    def trainable_parameters() -> int:
        return sum(
            value.size
            for model in (trainer.generator, trainer.discriminator)
            for name, value in gb.get_weights(model).items()
            if not name.endswith((".moving_mean", ".moving_var"))
        )

    device = trainer.backend.device
    layout = BACKENDS[backend].image_layout
    return Side(run_epoch, device.describe(), device.threads(), trainable_parameters, layout)


def keras_for(backend: str) -> tuple[Any, dict[str, Any]]:
    """The Keras peer module for ``backend`` (or None) and what to report about Keras.

    Call before the library's backend is loaded: Keras reads KERAS_BACKEND once, at import."""
    keras_backend = PEERS[backend].keras
    info: dict[str, Any] = {"keras_backend": keras_backend, "keras_version": None}
    if keras_backend is None:
        info["keras_missing"] = f"no Keras 3 peer for {backend} (benchmarks/README.md)"
        return None, info
    if importlib.util.find_spec("keras") is None:
        info["keras_missing"] = f"keras is not installed in {sys.executable}"
        return None, info
    os.environ["KERAS_BACKEND"] = keras_backend
    import keras

    info["keras_version"] = keras.__version__
    if int(keras.__version__.split(".")[0]) < 3 or keras.backend.backend() != keras_backend:
        info["keras_missing"] = f"keras {keras.__version__} does not run on {keras_backend}"
        return None, info
    return keras_peer(keras_backend), info


def start(backend: str, settings: Settings, keras: bool) -> tuple[Any, dict[str, Any], Any]:
    """Keras first (KERAS_BACKEND), then the library's backend: (Keras peer, its info, backend)."""
    keras_module, info = keras_for(backend) if keras else (None, {"keras_backend": None})
    if not keras:
        info["keras_missing"] = "--no-keras"
    backend_module = load_library_backend(backend, settings)
    check_library_device(backend_module, settings)
    return keras_module, info, backend_module


def check_library_device(backend_module: Any, settings: Settings) -> None:
    on_gpu = not backend_module.device.describe().startswith("cpu")
    if on_gpu != (settings.device == "gpu"):
        raise RuntimeError(
            f"--device {settings.device}, but the library runs on "
            f"{backend_module.device.describe()} (GAN_DEVICE={os.environ.get('GAN_DEVICE')})"
        )


def build_sides(
    backend: str, settings: Settings, data: np.ndarray, keras_module: Any
) -> dict[str, Side]:
    """Every side of ``backend``, library first."""
    sides = {
        "library": library_side(backend, settings, data),
        "native": d2l_peer(backend).build(settings, data),
    }
    if keras_module is not None:
        from peers import keras_common

        for side, variant in KERAS_SIDES.items():
            sides[side] = keras_common.build(settings, data, keras_module, variant)
    return sides


def seconds_of(side: Side) -> tuple[float, tuple[float, float]]:
    start = time.perf_counter()
    losses = side.run_epoch()
    seconds = time.perf_counter() - start
    return side.epoch_seconds() if side.epoch_seconds else seconds, losses


def time_backend(backend: str, settings: Settings, keras: bool) -> dict[str, Any]:
    """Warm every side up, then time them alternately; examples/sec are medians."""
    keras_module, info, backend_module = start(backend, settings, keras)
    sides = build_sides(backend, settings, training_data(settings), keras_module)
    for side in sides.values():
        side.run_epoch()
    expected = sides["library"].trainable_parameters()
    for name, side in sides.items():
        if side.trainable_parameters() != expected:
            raise RuntimeError(
                f"the {name} {backend} networks have {side.trainable_parameters()} trainable "
                f"parameters, the library's {expected}: not the same model"
            )
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    losses: dict[str, tuple[float, float]] = {}
    for _ in range(settings.repeats):
        for name, side in sides.items():
            elapsed, losses[name] = seconds_of(side)
            seconds[name].append(elapsed)
    result: dict[str, Any] = {
        "backend": backend,
        "framework_version": backend_module.device.framework_version(),
        "python": sys.executable,
        **info,
    }
    for name, side in sides.items():
        result[name] = {
            "device": side.device,
            "threads": side.threads,
            "layout": side.layout,
            "seconds": seconds[name],
            "examples_per_sec": settings.examples_per_epoch / statistics.median(seconds[name]),
            "last_losses": list(losses[name]),
        }
    return result


def time_library(backend: str, settings: Settings) -> dict[str, Any]:
    """The library's side alone (warmed up, then ``repeats`` timed epochs): its examples/sec."""
    start(backend, settings, keras=False)
    side = library_side(backend, settings, training_data(settings))
    side.run_epoch()
    seconds = [seconds_of(side)[0] for _ in range(settings.repeats)]
    return {
        "backend": backend,
        "precision": settings.precision,
        "threads": side.threads,
        "seconds": seconds,
        "examples_per_sec": settings.examples_per_epoch / statistics.median(seconds),
    }


def check_losses(backend: str, settings: Settings) -> dict[str, Any]:
    """One step of the library (eager) and of each Keras variant from the same weights, batch
    and noise: their (loss_D, loss_G)."""
    keras_module, info, _ = start(backend, settings, keras=True)
    X = training_data(settings)[: settings.batch_size]
    Z = np.random.default_rng(1).standard_normal((len(X), *settings.latent_shape), np.float32)
    result: dict[str, Any] = {"backend": backend, **info}
    result["library"] = list(library_trainer(settings, compiled=False).step(X, Z))
    if keras_module is not None:
        from peers import keras_common

        for side, variant in KERAS_SIDES.items():
            losses = keras_common.first_step_losses(settings, X, Z, keras_module, variant)
            result[side] = [float(loss) for loss in losses]
    return result


def measure_memory(backend: str, side_name: str, settings: Settings) -> dict[str, Any]:
    """The peak memory growth of building and training one epoch on one side, from a fresh start."""
    keras_module, _, _ = start(backend, settings, keras=side_name in KERAS_SIDES)
    on_cuda = backend == "torch" and settings.device == "gpu"
    if on_cuda:
        import torch

        torch.zeros(1, device="cuda")  # the CUDA context, before the baseline
    data = training_data(settings)
    memory = PeakMemory(cuda=on_cuda)
    if side_name == "library":
        side = library_side(backend, settings, data)
    elif side_name == "native":
        side = d2l_peer(backend).build(settings, data)
    else:
        from peers import keras_common

        side = keras_common.build(settings, data, keras_module, KERAS_SIDES[side_name])
    side.run_epoch()
    return memory.growth_mib()
