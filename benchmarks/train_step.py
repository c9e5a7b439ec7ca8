"""Examples/sec of the library's GAN and DCGAN training against the seed's plain native code.

    python benchmarks/train_step.py --model gan --backends torch,tensorflow,mxnet
    python benchmarks/train_step.py --model dcgan --steps 3 --repeats 3 --json dcgan.json
    python benchmarks/train_step.py --model dcgan --device gpu --backends torch --steps 50
    python benchmarks/train_step.py --model gan --python tensorflow=/tmp/venvs/tf/bin/python
    python benchmarks/train_step.py --smoke --model dcgan        # tiny settings, for CI

What is timed, per backend:

- *library*: ``gan_backends.Trainer.fit`` for one epoch of ``--steps`` batches (the models from
  ``gan_backends.models``, d2l's hyperparameters); it reads the losses back once per epoch.
- *native*: the same networks written the seed's way (d2l 20.1 and 20.2): eager, one step at a
  time, ``update_D`` then ``update_G`` each running the generator, the d2l ``load_array`` data
  pipeline of the framework, noise drawn by the framework every step and both losses read back
  every step. PyTorch: ``nn.Sequential``, ``BCEWithLogitsLoss(reduction='sum')``,
  ``torch.optim.Adam``. TensorFlow: Keras layers channels-last, ``GradientTape``, no
  ``tf.function``, batch norm called with ``training=True``. MXNet: Gluon ``nn.Sequential`` not
  hybridized, ``autograd.record``, ``SigmoidBCELoss``, ``gluon.Trainer(..., 'adam')``.

Each backend runs in a fresh subprocess (the frameworks' thread pools interfere in one process,
and ``--python`` can give each backend its own interpreter). In it, both sides warm up for one
epoch (tracing, hybridisation, allocators), then they alternate, library then native, for
``--repeats`` epochs each; a side's examples/sec is the median over its repeats. The thread
counts are the frameworks' own unless ``--threads`` is given. The library's MXNet backend sets
OMP_NUM_THREADS to the core count before importing MXNet, and its TensorFlow backend sets
TF_ENABLE_ONEDNN_OPTS=1 before importing TensorFlow, so the native code, in the same process,
runs with as many threads and the same kernels.

The ratios printed: library/native, and the library against the seed's examples/sec in the
task's baseline table (the same framework's number, and PyTorch's), where the configuration
matches it (CPU; GAN batch 8; DCGAN 64x64, width 64, batch 64).

Compute: model FLOPs of one step, counted from the architecture: a dense or (transposed)
convolution layer costs 2 FLOPs per multiply-accumulate forward and twice that backward (input
and weight gradients), so 3x forward in all, for three passes of the discriminator (real data,
fake data, fake data again for the generator's loss) and one of the generator. Recomputation
(the seed runs the generator twice) and skipped gradients (the library skips the
discriminator's weight gradients in the generator's update) are not counted, so both sides are
credited with the same work. Batch norm and activations are left out. TFLOP/s is that times the
steps over the seconds, and on a GPU it is also given as a share of ``--peak-tflops``.

Peak memory (DCGAN by default, ``--memory`` for the GAN): for each backend and side, a fresh
subprocess imports the framework, then trains one epoch; reported is the growth of its peak RSS
(``VmHWM`` after the run minus ``VmRSS`` before it, the peak reset through
``/proc/self/clear_refs``; ``ru_maxrss`` where there is no ``/proc``) and, with PyTorch on a GPU,
``torch.cuda.max_memory_allocated`` above what was allocated before.

This is a benchmark, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gan_backends import architectures
from gan_backends.architectures import Conv, Dense, Network
from gan_backends.backends import BACKENDS

MODELS = ("gan", "dcgan")
LATENT_DIM = {"gan": 2, "dcgan": 100}
DEFAULT_BATCH_SIZE = {"gan": 8, "dcgan": 64}
DEFAULT_STEPS = {"gan": 125, "dcgan": 5}  # GAN: one d2l epoch (1,000 examples, batch 8)
DCGAN_BLOCKS = {16: 2, 32: 3, 64: 4}  # image size -> blocks of G and of D (d2l: 64 -> 4)
SMOKE = {
    "gan": {"steps": 3, "repeats": 1},
    "dcgan": {"image_size": 16, "width": 8, "batch_size": 4, "steps": 2, "repeats": 1},
}
DEFAULT_PEAK_TFLOPS = {"H100 SXM dense bf16": 989.0, "H100 SXM fp32": 67.0}
MIB = 1024 * 1024
ROLES = ("timing", "memory-library", "memory-native")


@dataclass(frozen=True)
class Hyperparameters:
    lr_D: float
    lr_G: float
    beta1: float


HYPERPARAMETERS = {
    "gan": Hyperparameters(lr_D=0.05, lr_G=0.005, beta1=0.9),
    "dcgan": Hyperparameters(lr_D=0.005, lr_G=0.005, beta1=0.5),
}

# Examples/sec of the seed's code in the task's baseline table (CPU, 2 cores). MXNet's DCGAN
# number depends on OMP_NUM_THREADS: 1 thread or 2.
SEED_EXAMPLES_PER_SEC: dict[str, dict[str, float | dict[int, float]]] = {
    "gan": {"torch": 6370.0, "tensorflow": 210.0, "mxnet": 1671.0},
    "dcgan": {"torch": 56.6, "tensorflow": 39.2, "mxnet": {1: 33.2, 2: 62.0}},
}
SEED_CONFIGURATION = {
    "gan": {"batch_size": 8},
    "dcgan": {"batch_size": 64, "image_size": 64, "width": 64},
}


@dataclass(frozen=True)
class Settings:
    """What one benchmark run trains, resolved from the flags (``--smoke`` included)."""

    model: str
    device: str
    batch_size: int
    image_size: int
    width: int
    steps: int
    repeats: int
    threads: int | None
    mixed_precision: bool = False

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (LATENT_DIM["dcgan"], 1, 1) if self.model == "dcgan" else (LATENT_DIM["gan"],)

    @property
    def examples_per_epoch(self) -> int:
        return self.steps * self.batch_size

    def networks(self) -> tuple[Network, Network]:
        """The library's generator and discriminator architectures."""
        if self.model == "gan":
            return architectures.gan_generator(), architectures.gan_discriminator()
        return (
            architectures.dcgan_generator(LATENT_DIM["dcgan"], self.width, self.image_size),
            architectures.dcgan_discriminator(self.width, self.image_size),
        )

    def child_arguments(self) -> list[str]:
        """The flags that make a subprocess train exactly this."""
        arguments = [
            "--model", self.model, "--device", self.device,
            "--batch-size", str(self.batch_size), "--image-size", str(self.image_size),
            "--width", str(self.width), "--steps", str(self.steps),
            "--repeats", str(self.repeats),
        ]  # fmt: skip
        arguments += ["--threads", str(self.threads)] if self.threads else []
        return arguments + (["--mixed-precision"] if self.mixed_precision else [])


def training_data(settings: Settings) -> np.ndarray:
    """The library's data: ``steps * batch_size`` examples, float32, public (NCHW) layout."""
    if settings.model == "gan":
        from gan_backends import datasets

        return datasets.gaussian(settings.examples_per_epoch)
    shape = (settings.examples_per_epoch, 3, settings.image_size, settings.image_size)
    return np.random.default_rng(0).uniform(-1.0, 1.0, shape).astype(np.float32)


def dcgan_widths(settings: Settings) -> list[int]:
    """The discriminator's block widths, narrowest first (the generator's, reversed)."""
    return [settings.width * 2**i for i in range(DCGAN_BLOCKS[settings.image_size])]


# --- FLOPs ------------------------------------------------------------------------------------


def forward_macs(network: Network) -> int:
    """Multiply-accumulates of one example through the dense and convolution layers."""
    size = network.input_shape[-1] if network.is_image else 1
    macs = 0
    for layer in network.layers:
        if isinstance(layer, Dense):
            macs += layer.in_features * layer.out_features
        elif isinstance(layer, Conv):
            # A transposed convolution scatters a k x k patch from every input pixel, a plain
            # one gathers one into every output pixel.
            pixels = size if layer.transposed else layer.output_size(size)
            k = layer.kernel_size
            macs += pixels * pixels * layer.in_channels * layer.out_channels * k * k
            size = layer.output_size(size)
    return macs


def flops_per_step(settings: Settings) -> float:
    """Model FLOPs of one training step (see the module docstring for what is counted)."""
    generator, discriminator = settings.networks()
    forward_and_backward = 3 * 2  # 2 FLOPs per MAC forward, twice that backward
    passes = 3 * forward_macs(discriminator) + forward_macs(generator)
    return float(settings.batch_size * forward_and_backward * passes)


# --- Memory -----------------------------------------------------------------------------------


class PeakMemory:
    """Peak growth of this process's resident memory (and of PyTorch's CUDA memory) from now."""

    def __init__(self, cuda: bool):
        self.cuda = cuda
        if cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.cuda_before = torch.cuda.memory_allocated()
        try:
            Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM := the current RSS
            self.rss_before_kib = self._status_kib("VmRSS")
        except OSError:  # no /proc: only the growth of the peak so far can be seen
            self.rss_before_kib = self._peak_rss_kib()

    @staticmethod
    def _status_kib(field: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        raise OSError(f"/proc/self/status has no {field}")

    @classmethod
    def _peak_rss_kib(cls) -> int:
        try:
            return cls._status_kib("VmHWM")
        except OSError:
            max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            return max_rss // 1024 if sys.platform == "darwin" else max_rss  # bytes on macOS

    def growth_mib(self) -> dict[str, float | None]:
        cuda_mib = None
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            cuda_mib = (torch.cuda.max_memory_allocated() - self.cuda_before) / MIB
        rss_mib = (self._peak_rss_kib() - self.rss_before_kib) / 1024
        return {"rss_mib": rss_mib, "cuda_mib": cuda_mib}


# --- The library side -------------------------------------------------------------------------


@dataclass
class Side:
    """One way of training: an epoch to run, and where and with how many threads it runs."""

    run_epoch: Callable[[], tuple[float, float]]  # -> mean (loss_D, loss_G) of the epoch
    device: str
    threads: int
    trainable_parameters: Callable[[], int]


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
    """``--threads`` for PyTorch and TensorFlow (MXNet reads OMP_NUM_THREADS, set before import)."""
    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
    elif backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def library_side(backend_module: Any, settings: Settings, data: np.ndarray) -> Side:
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
    hyperparameters = HYPERPARAMETERS[settings.model]
    # Compiled everywhere: steady-state speed (by default the PyTorch GAN runs eagerly, since its
    # short default run ends before a compile would pay for itself).
    trainer = gb.Trainer(
        generator, discriminator, lr_D=hyperparameters.lr_D, lr_G=hyperparameters.lr_G,
        beta1=hyperparameters.beta1, seed=0, mixed_precision=settings.mixed_precision,
        compiled=True,
    )  # fmt: skip

    def run_epoch() -> tuple[float, float]:
        history = trainer.fit(data, epochs=trainer.epoch + 1, batch_size=settings.batch_size)
        return history.loss_D[-1], history.loss_G[-1]

    def trainable_parameters() -> int:
        return sum(
            value.size
            for model in (generator, discriminator)
            for name, value in gb.get_weights(model).items()
            if not name.endswith((".moving_mean", ".moving_var"))
        )

    device = backend_module.device
    return Side(run_epoch, device.describe(), device.threads(), trainable_parameters)


# --- The native sides, the seed's way ---------------------------------------------------------


def native_torch(settings: Settings, data: np.ndarray) -> Side:
    import torch
    from torch import nn

    if settings.device == "gpu" and not torch.cuda.is_available():
        raise RuntimeError("--device gpu, but PyTorch sees no CUDA device")
    device = torch.device("cuda:0" if settings.device == "gpu" else "cpu")
    if settings.model == "gan":
        net_G = nn.Sequential(nn.Linear(2, 2))
        net_D = nn.Sequential(
            nn.Linear(2, 5), nn.Tanh(), nn.Linear(5, 3), nn.Tanh(), nn.Linear(3, 1)
        )
    else:
        widths = dcgan_widths(settings)

        def g_block(in_channels: int, out_channels: int, strides: int = 2, padding: int = 1):
            return [
                nn.ConvTranspose2d(in_channels, out_channels, 4, strides, padding, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(),
            ]

        def d_block(in_channels: int, out_channels: int):
            return [
                nn.Conv2d(in_channels, out_channels, 4, 2, 1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.LeakyReLU(0.2, inplace=True),
            ]

        generator_layers = g_block(LATENT_DIM["dcgan"], widths[-1], strides=1, padding=0)
        for in_channels, out_channels in zip(widths[:0:-1], widths[-2::-1], strict=True):
            generator_layers += g_block(in_channels, out_channels)
        net_G = nn.Sequential(
            *generator_layers, nn.ConvTranspose2d(widths[0], 3, 4, 2, 1, bias=False), nn.Tanh()
        )
        discriminator_layers = d_block(3, widths[0])
        for in_channels, out_channels in itertools.pairwise(widths):
            discriminator_layers += d_block(in_channels, out_channels)
        net_D = nn.Sequential(*discriminator_layers, nn.Conv2d(widths[-1], 1, 4, bias=False))
    net_D, net_G = net_D.to(device), net_G.to(device)
    loss = nn.BCEWithLogitsLoss(reduction="sum")
    hyperparameters = HYPERPARAMETERS[settings.model]
    betas = (hyperparameters.beta1, 0.999)
    trainer_D = torch.optim.Adam(net_D.parameters(), lr=hyperparameters.lr_D, betas=betas)
    trainer_G = torch.optim.Adam(net_G.parameters(), lr=hyperparameters.lr_G, betas=betas)
    data_iter = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(data)),
        batch_size=settings.batch_size,
        shuffle=True,
    )

    def update_discriminator(X, Z):
        batch_size = X.shape[0]
        ones = torch.ones((batch_size,), device=X.device)
        zeros = torch.zeros((batch_size,), device=X.device)
        trainer_D.zero_grad()
        real_Y = net_D(X)
        fake_X = net_G(Z)
        fake_Y = net_D(fake_X.detach())
        loss_D = (
            loss(real_Y, ones.reshape(real_Y.shape)) + loss(fake_Y, zeros.reshape(fake_Y.shape))
        ) / 2
        loss_D.backward()
        trainer_D.step()
        return loss_D

    def update_generator(Z):
        ones = torch.ones((Z.shape[0],), device=Z.device)
        trainer_G.zero_grad()
        fake_Y = net_D(net_G(Z))
        loss_G = loss(fake_Y, ones.reshape(fake_Y.shape))
        loss_G.backward()
        trainer_G.step()
        return loss_G

    def run_epoch() -> tuple[float, float]:
        total_D = total_G = 0.0
        examples = 0
        for (X,) in data_iter:
            Z = torch.normal(0, 1, size=(X.shape[0], *settings.latent_shape))
            X, Z = X.to(device), Z.to(device)
            total_D += float(update_discriminator(X, Z))
            total_G += float(update_generator(Z))
            examples += X.shape[0]
        return total_D / examples, total_G / examples

    def trainable_parameters() -> int:
        return sum(p.numel() for net in (net_G, net_D) for p in net.parameters())

    return Side(run_epoch, str(device), torch.get_num_threads(), trainable_parameters)


def native_tensorflow(settings: Settings, data: np.ndarray) -> Side:
    import keras
    import tensorflow as tf

    gpus = tf.config.get_visible_devices("GPU")
    if settings.device == "gpu" and not gpus:
        raise RuntimeError("--device gpu, but TensorFlow sees no GPU")
    layers = keras.layers
    if settings.model == "gan":
        net_G = layers.Dense(2)
        net_D = keras.Sequential(
            [
                layers.Dense(5, activation="tanh"),
                layers.Dense(3, activation="tanh"),
                layers.Dense(1),
            ]
        )
    else:
        widths = dcgan_widths(settings)

        def g_block(out_channels: int, strides: int = 2, padding: str = "same"):
            return [
                layers.Conv2DTranspose(out_channels, 4, strides, padding, use_bias=False),
                layers.BatchNormalization(),
                layers.ReLU(),
            ]

        def d_block(out_channels: int):
            return [
                layers.Conv2D(out_channels, 4, 2, "same", use_bias=False),
                layers.BatchNormalization(),
                layers.LeakyReLU(0.2),
            ]

        generator_layers = g_block(widths[-1], strides=1, padding="valid")
        for out_channels in widths[-2::-1]:
            generator_layers += g_block(out_channels)
        net_G = keras.Sequential(
            [
                *generator_layers,
                layers.Conv2DTranspose(3, 4, 2, "same", use_bias=False, activation="tanh"),
            ]
        )
        discriminator_layers = [layer for width in widths for layer in d_block(width)]
        net_D = keras.Sequential([*discriminator_layers, layers.Conv2D(1, 4, use_bias=False)])
        data = data.transpose(0, 2, 3, 1)  # channels-last, as TensorFlow convolves on a CPU
    latent_shape = settings.latent_shape[::-1]  # DCGAN noise (1, 1, latent_dim), channels-last
    # Keras averages over the last axis, here the batch, so "sum" is a batch mean: the seed
    # multiplies by the batch size to get PyTorch's sum.
    loss = keras.losses.BinaryCrossentropy(from_logits=True, reduction="sum")
    hyperparameters = HYPERPARAMETERS[settings.model]
    optimizer_D = keras.optimizers.Adam(
        learning_rate=hyperparameters.lr_D, beta_1=hyperparameters.beta1
    )
    optimizer_G = keras.optimizers.Adam(
        learning_rate=hyperparameters.lr_G, beta_1=hyperparameters.beta1
    )
    data_iter = (
        tf.data.Dataset.from_tensor_slices(data).shuffle(len(data)).batch(settings.batch_size)
    )

    def update_discriminator(X, Z):
        batch_size = X.shape[0]
        ones, zeros = tf.ones((batch_size,)), tf.zeros((batch_size,))
        fake_X = net_G(Z, training=True)  # outside the tape: no gradients for the generator
        with tf.GradientTape() as tape:
            real_Y = net_D(X, training=True)
            fake_Y = net_D(fake_X, training=True)
            loss_D = (
                (loss(ones, tf.squeeze(real_Y)) + loss(zeros, tf.squeeze(fake_Y))) * batch_size / 2
            )
        gradients = tape.gradient(loss_D, net_D.trainable_variables)
        optimizer_D.apply_gradients(zip(gradients, net_D.trainable_variables, strict=True))
        return loss_D

    def update_generator(Z):
        batch_size = Z.shape[0]
        ones = tf.ones((batch_size,))
        with tf.GradientTape() as tape:
            fake_Y = net_D(net_G(Z, training=True), training=True)
            loss_G = loss(ones, tf.squeeze(fake_Y)) * batch_size
        gradients = tape.gradient(loss_G, net_G.trainable_variables)
        optimizer_G.apply_gradients(zip(gradients, net_G.trainable_variables, strict=True))
        return loss_G

    def run_epoch() -> tuple[float, float]:
        total_D = total_G = 0.0
        examples = 0
        for X in data_iter:
            Z = tf.random.normal(mean=0, stddev=1, shape=(X.shape[0], *latent_shape))
            total_D += float(update_discriminator(X, Z))
            total_G += float(update_generator(Z))
            examples += X.shape[0]
        return total_D / examples, total_G / examples

    def trainable_parameters() -> int:
        variables = net_G.trainable_variables + net_D.trainable_variables
        return sum(int(np.prod(variable.shape)) for variable in variables)

    threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count() or 1
    return Side(run_epoch, "gpu:0" if gpus else "cpu", threads, trainable_parameters)


def native_mxnet(settings: Settings, data: np.ndarray) -> Side:
    import mxnet as mx
    from mxnet import autograd, gluon, init, npx
    from mxnet import np as mnp
    from mxnet.gluon import nn

    npx.set_np()
    if settings.device == "gpu" and mx.context.num_gpus() == 0:
        raise RuntimeError("--device gpu, but MXNet sees no GPU")
    device = mx.gpu() if settings.device == "gpu" else mx.cpu()
    net_G, net_D = nn.Sequential(), nn.Sequential()
    if settings.model == "gan":
        net_G.add(nn.Dense(2))
        net_D.add(nn.Dense(5, activation="tanh"), nn.Dense(3, activation="tanh"), nn.Dense(1))
    else:
        widths = dcgan_widths(settings)

        def g_block(channels: int, strides: int = 2, padding: int = 1):
            return [
                nn.Conv2DTranspose(channels, 4, strides, padding, use_bias=False),
                nn.BatchNorm(),
                nn.Activation("relu"),
            ]

        def d_block(channels: int):
            return [
                nn.Conv2D(channels, 4, 2, 1, use_bias=False),
                nn.BatchNorm(),
                nn.LeakyReLU(0.2),
            ]

        net_G.add(*g_block(widths[-1], strides=1, padding=0))
        for channels in widths[-2::-1]:
            net_G.add(*g_block(channels))
        net_G.add(nn.Conv2DTranspose(3, 4, 2, 1, use_bias=False, activation="tanh"))
        for channels in widths:
            net_D.add(*d_block(channels))
        net_D.add(nn.Conv2D(1, kernel_size=4, use_bias=False))
    loss = gluon.loss.SigmoidBCELoss()
    net_D.initialize(init=init.Normal(0.02), ctx=device)
    net_G.initialize(init=init.Normal(0.02), ctx=device)
    hyperparameters = HYPERPARAMETERS[settings.model]
    trainer_D = gluon.Trainer(
        net_D.collect_params(),
        "adam",
        {"learning_rate": hyperparameters.lr_D, "beta1": hyperparameters.beta1},
    )
    trainer_G = gluon.Trainer(
        net_G.collect_params(),
        "adam",
        {"learning_rate": hyperparameters.lr_G, "beta1": hyperparameters.beta1},
    )
    data_iter = gluon.data.DataLoader(
        gluon.data.ArrayDataset(mnp.array(data)), settings.batch_size, shuffle=True
    )

    def update_discriminator(X, Z) -> float:
        batch_size = X.shape[0]
        ones = mnp.ones((batch_size,), ctx=X.ctx)
        zeros = mnp.zeros((batch_size,), ctx=X.ctx)
        with autograd.record():
            real_Y = net_D(X)
            fake_X = net_G(Z)
            fake_Y = net_D(fake_X.detach())
            loss_D = (loss(real_Y, ones) + loss(fake_Y, zeros)) / 2
        loss_D.backward()
        trainer_D.step(batch_size)
        return float(loss_D.sum())

    def update_generator(Z) -> float:
        batch_size = Z.shape[0]
        ones = mnp.ones((batch_size,), ctx=Z.ctx)
        with autograd.record():
            fake_Y = net_D(net_G(Z))
            loss_G = loss(fake_Y, ones)
        loss_G.backward()
        trainer_G.step(batch_size)
        return float(loss_G.sum())

    def run_epoch() -> tuple[float, float]:
        total_D = total_G = 0.0
        examples = 0
        for batch in data_iter:
            X = batch.as_in_ctx(device)
            Z = mnp.random.normal(0, 1, size=(X.shape[0], *settings.latent_shape), ctx=device)
            total_D += update_discriminator(X, Z)
            total_G += update_generator(Z)
            examples += X.shape[0]
        return total_D / examples, total_G / examples

    def trainable_parameters() -> int:
        parameters = [*net_G.collect_params().values(), *net_D.collect_params().values()]
        return sum(p.data().size for p in parameters if p.grad_req != "null")

    threads = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1))
    device_name = f"gpu:{device.device_id}" if settings.device == "gpu" else "cpu"
    return Side(run_epoch, device_name, threads, trainable_parameters)


NATIVE_SIDES: dict[str, Callable[[Settings, np.ndarray], Side]] = {
    "torch": native_torch,
    "tensorflow": native_tensorflow,
    "mxnet": native_mxnet,
}


# --- One backend, in this process -------------------------------------------------------------


def seconds_of(run_epoch: Callable[[], tuple[float, float]]) -> tuple[float, tuple[float, float]]:
    start = time.perf_counter()
    losses = run_epoch()
    return time.perf_counter() - start, losses


def check_library_device(backend_module: Any, settings: Settings) -> None:
    on_gpu = not backend_module.device.describe().startswith("cpu")
    if on_gpu != (settings.device == "gpu"):
        raise RuntimeError(
            f"--device {settings.device}, but the library runs on "
            f"{backend_module.device.describe()} (GAN_DEVICE={os.environ.get('GAN_DEVICE')})"
        )


def time_backend(backend: str, settings: Settings) -> dict[str, Any]:
    """Warm both sides up, then time them alternately; examples/sec are medians."""
    backend_module = load_library_backend(backend, settings)
    check_library_device(backend_module, settings)
    data = training_data(settings)
    library = library_side(backend_module, settings, data)
    native = NATIVE_SIDES[backend](settings, data)
    library.run_epoch()
    native.run_epoch()
    if library.trainable_parameters() != native.trainable_parameters():
        raise RuntimeError(
            f"the native {backend} networks have {native.trainable_parameters()} trainable "
            f"parameters, the library's {library.trainable_parameters()}: not the same model"
        )
    seconds: dict[str, list[float]] = {"library": [], "native": []}
    losses: dict[str, tuple[float, float]] = {}
    for _ in range(settings.repeats):
        for name, side in (("library", library), ("native", native)):
            elapsed, losses[name] = seconds_of(side.run_epoch)
            seconds[name].append(elapsed)
    result: dict[str, Any] = {
        "backend": backend,
        "framework_version": backend_module.device.framework_version(),
        "python": sys.executable,
    }
    for name, side in (("library", library), ("native", native)):
        result[name] = {
            "device": side.device,
            "threads": side.threads,
            "seconds": seconds[name],
            "examples_per_sec": settings.examples_per_epoch / statistics.median(seconds[name]),
            "last_losses": list(losses[name]),
        }
    return result


def measure_memory(backend: str, side_name: str, settings: Settings) -> dict[str, Any]:
    """The peak memory growth of building and training one epoch on one side, from a fresh start."""
    backend_module = load_library_backend(backend, settings)
    check_library_device(backend_module, settings)
    on_cuda = backend == "torch" and settings.device == "gpu"
    if on_cuda:
        import torch

        torch.zeros(1, device="cuda")  # the CUDA context, before the baseline
    data = training_data(settings)
    memory = PeakMemory(cuda=on_cuda)
    if side_name == "library":
        side = library_side(backend_module, settings, data)
    else:
        side = NATIVE_SIDES[backend](settings, data)
    side.run_epoch()
    return memory.growth_mib()


def run_role(role: str, backend: str, settings: Settings, json_path: Path) -> int:
    """What one subprocess does: time a backend, or measure one side's memory."""
    if role == "timing":
        result = time_backend(backend, settings)
    else:
        result = measure_memory(backend, role.removeprefix("memory-"), settings)
    json_path.write_text(json.dumps(result))
    return 0


# --- The parent: one subprocess per backend, and the report -----------------------------------


def run_subprocess(
    python: str, role: str, backend: str, settings: Settings
) -> tuple[dict[str, Any] | None, str]:
    """Run one role in a fresh interpreter; returns (its JSON result or None, error text)."""
    environment = dict(os.environ)
    if settings.device == "cpu":
        environment["GAN_DEVICE"] = "cpu"
    else:
        environment.pop("GAN_DEVICE", None)
    if settings.threads:
        environment["OMP_NUM_THREADS"] = str(settings.threads)
    with tempfile.TemporaryDirectory() as folder:
        json_path = Path(folder) / "result.json"
        command = [
            python, str(Path(__file__).resolve()), "--role", role, "--backends", backend,
            *settings.child_arguments(), "--json", str(json_path),
        ]  # fmt: skip
        completed = subprocess.run(
            command, env=environment, capture_output=True, text=True, check=False
        )
        if completed.returncode != 0 or not json_path.exists():
            lines = (completed.stderr or completed.stdout).strip().splitlines()
            return None, "\n".join(lines[-15:]) or f"exit code {completed.returncode}"
        return json.loads(json_path.read_text()), ""


def seed_examples_per_sec(
    settings: Settings, backend: str, threads: int | None = None
) -> float | None:
    """The seed's examples/sec in the baseline table, if this run's configuration is its
    (MXNet's DCGAN number also depends on the threads)."""
    configuration = SEED_CONFIGURATION[settings.model]
    if settings.device != "cpu" or any(getattr(settings, k) != v for k, v in configuration.items()):
        return None
    baseline = SEED_EXAMPLES_PER_SEC[settings.model][backend]
    return baseline.get(threads) if isinstance(baseline, dict) else baseline


def add_derived_numbers(result: dict[str, Any], settings: Settings) -> None:
    """Ratios against the native side and the seed's numbers, and achieved TFLOP/s."""
    library, native = result["library"], result["native"]
    result["library_over_native"] = library["examples_per_sec"] / native["examples_per_sec"]
    seed = seed_examples_per_sec(settings, result["backend"], library["threads"])
    seed_torch = seed_examples_per_sec(settings, "torch")
    result["seed_examples_per_sec"] = seed
    result["library_over_seed"] = library["examples_per_sec"] / seed if seed else None
    result["library_over_seed_torch"] = (
        library["examples_per_sec"] / seed_torch if seed_torch else None
    )
    flops = flops_per_step(settings)
    for side in (library, native):
        side["tflops"] = flops * side["examples_per_sec"] / settings.batch_size / 1e12


def ratio_text(value: float | None) -> str:
    return f"{value:.2f}x" if value is not None else "n/a"


def print_report(
    settings: Settings,
    results: list[dict[str, Any]],
    failures: dict[str, str],
    peak_tflops: dict[str, float] | None,
) -> None:
    what = (
        f"DCGAN {settings.image_size}x{settings.image_size}, width {settings.width}"
        if settings.model == "dcgan"
        else "GAN (2-D Gaussian)"
    )
    print(
        f"{what}, batch {settings.batch_size}, {settings.steps} steps per timed epoch, median of "
        f"{settings.repeats} (library and native alternating, one warm-up epoch each), "
        f"--device {settings.device}"
        + (", library in mixed precision" if settings.mixed_precision else "")
    )
    print(
        f"{'backend':<11} {'version':<12} {'device lib/nat':<16} {'threads':>7} "
        f"{'library ex/s':>12} {'native ex/s':>11} {'lib/native':>10} {'seed ex/s':>9} "
        f"{'lib/seed':>8} {'lib/seed torch':>14}"
    )
    for result in results:
        library, native = result["library"], result["native"]
        seed = result["seed_examples_per_sec"]
        print(
            f"{result['backend']:<11} {result['framework_version']:<12} "
            f"{library['device'] + '/' + native['device']:<16} "
            f"{str(library['threads']) + '/' + str(native['threads']):>7} "
            f"{library['examples_per_sec']:>12.1f} {native['examples_per_sec']:>11.1f} "
            f"{ratio_text(result['library_over_native']):>10} "
            f"{(f'{seed:.1f}' if seed else 'n/a'):>9} "
            f"{ratio_text(result['library_over_seed']):>8} "
            f"{ratio_text(result['library_over_seed_torch']):>14}"
        )
    for backend, error in failures.items():
        print(f"{backend:<11} FAILED: {error.splitlines()[-1] if error else ''}")
    if not results:
        return
    print(
        f"\ncompute: {flops_per_step(settings) / 1e9:.4g} GFLOP (model FLOPs) per step; "
        "achieved TFLOP/s, library / native"
    )
    for result in results:
        line = (
            f"{result['backend']:<11} {result['library']['tflops']:.3g} / "
            f"{result['native']['tflops']:.3g}"
        )
        for name, peak in (peak_tflops or {}).items():
            line += (
                f"   of {name} {peak:g}: {100 * result['library']['tflops'] / peak:.2f}% / "
                f"{100 * result['native']['tflops'] / peak:.2f}%"
            )
        print(line)
    with_memory = [result for result in results if "memory" in result]
    if with_memory:
        print(
            "\npeak memory growth of one training epoch in a fresh process, MiB, library / native"
        )
        for result in with_memory:
            memory = result["memory"]
            line = f"{result['backend']:<11} RSS {memory_text(memory, 'rss_mib')}"
            if any(memory[side].get("cuda_mib") is not None for side in memory):
                line += f"   CUDA allocated {memory_text(memory, 'cuda_mib')}"
            print(line)


def memory_text(memory: dict[str, dict[str, Any]], key: str) -> str:
    values = []
    for side in ("library", "native"):
        value = memory[side].get(key)
        values.append(f"{value:.1f}" if value is not None else memory[side].get("error", "n/a"))
    return " / ".join(values)


def benchmark(
    settings: Settings,
    backends: list[str],
    pythons: dict[str, str],
    measure_peak_memory: bool,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Each backend in its own subprocesses, one after another."""
    results, failures = [], {}
    for backend in backends:
        python = pythons.get(backend, sys.executable)
        result, error = run_subprocess(python, "timing", backend, settings)
        if result is None:
            failures[backend] = error
            print(f"{backend} failed:\n{error}", file=sys.stderr)
            continue
        add_derived_numbers(result, settings)
        if measure_peak_memory:
            result["memory"] = {}
            for side in ("library", "native"):
                memory, error = run_subprocess(python, f"memory-{side}", backend, settings)
                result["memory"][side] = memory or {"error": "failed"}
                if memory is None:
                    print(f"{backend} {side} memory run failed:\n{error}", file=sys.stderr)
        results.append(result)
    return results, failures


def parse_mapping(text: str, option: str) -> dict[str, str]:
    """``a=x,b=y`` -> {"a": "x", "b": "y"}."""
    mapping = {}
    for item in filter(None, text.split(",")):
        key, separator, value = item.partition("=")
        if not separator or not key.strip() or not value.strip():
            raise SystemExit(f"{option}: expected NAME=VALUE[,NAME=VALUE...], got {item!r}")
        mapping[key.strip()] = value.strip()
    return mapping


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Examples/sec of the library's training step against the seed's native code.",
    )
    parser.add_argument("--model", choices=MODELS, default="gan", help="default gan")
    parser.add_argument(
        "--backends", help="comma-separated (default: every installed one and every --python one)"
    )
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="default cpu")
    parser.add_argument("--batch-size", type=int, help="default 8 (gan), 64 (dcgan)")
    parser.add_argument("--image-size", type=int, choices=sorted(DCGAN_BLOCKS), help="default 64")
    parser.add_argument("--width", type=int, help="DCGAN channels of the narrowest block (64)")
    parser.add_argument("--steps", type=int, help="steps per timed epoch: 125 (gan), 5 (dcgan)")
    parser.add_argument("--repeats", type=int, help="timed epochs per side (default 5)")
    parser.add_argument(
        "--threads", type=int, help="threads for every framework (default: each framework's own)"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny settings that check everything runs"
    )
    parser.add_argument(
        "--mixed-precision",
        action="store_true",
        help="the library side in bfloat16 with channels-last images (PyTorch; for GPUs)",
    )
    parser.add_argument(
        "--memory",
        action=argparse.BooleanOptionalAction,
        help="measure peak memory in extra subprocesses (default: for dcgan only)",
    )
    parser.add_argument(
        "--python",
        default="",
        help="interpreters per backend, e.g. tensorflow=/tmp/venvs/tf/bin/python",
    )
    parser.add_argument(
        "--peak-tflops",
        help="NAME=TFLOPS,... to compare achieved TFLOP/s with (default on a GPU: "
        + ", ".join(f"{name}={value:g}" for name, value in DEFAULT_PEAK_TFLOPS.items())
        + ")",
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--role", choices=ROLES, help="internal: what one subprocess does, for one backend"
    )
    return parser.parse_args(argv)


def resolve_settings(args: argparse.Namespace) -> Settings:
    smoke = SMOKE[args.model] if args.smoke else {}

    def pick(name: str, default: int) -> int:
        value = getattr(args, name)
        return value if value is not None else smoke.get(name, default)

    settings = Settings(
        model=args.model,
        device=args.device,
        batch_size=pick("batch_size", DEFAULT_BATCH_SIZE[args.model]),
        image_size=pick("image_size", 64),
        width=pick("width", 64),
        steps=pick("steps", DEFAULT_STEPS[args.model]),
        repeats=pick("repeats", 5),
        threads=args.threads,
        mixed_precision=args.mixed_precision,
    )
    for name in ("batch_size", "width", "steps", "repeats"):
        if getattr(settings, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be at least 1")
    return settings


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    settings = resolve_settings(args)
    pythons = parse_mapping(args.python, "--python")
    if args.backends:
        backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    else:
        from gan_backends import installed_backends

        backends = list(dict.fromkeys([*installed_backends(), *pythons]))
    unknown = [name for name in [*backends, *pythons] if name not in BACKENDS]
    if unknown or not backends:
        raise SystemExit(f"unknown or no backends {unknown}; valid: {', '.join(BACKENDS)}")
    if args.role:
        if len(backends) != 1 or args.json is None:
            raise SystemExit("--role needs exactly one backend and --json")
        return run_role(args.role, backends[0], settings, args.json)
    measure_peak_memory = args.memory if args.memory is not None else settings.model == "dcgan"
    results, failures = benchmark(settings, backends, pythons, measure_peak_memory)
    if args.peak_tflops:
        peak_tflops = {
            k: float(v) for k, v in parse_mapping(args.peak_tflops, "--peak-tflops").items()
        }
    else:
        peak_tflops = DEFAULT_PEAK_TFLOPS if settings.device == "gpu" else None
    print_report(settings, results, failures, peak_tflops)
    if args.json:
        report = {
            "settings": asdict(settings),
            "flops_per_step": flops_per_step(settings),
            "peak_tflops": peak_tflops,
            "results": results,
            "failures": failures,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
