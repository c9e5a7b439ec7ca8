"""What the Keras 3 peers share: the networks as Keras layers with the library's initial weights,
the losses, and training with ``compile`` and ``fit``.

A Keras peer is a :class:`GAN` (a ``keras.Model`` holding both networks, both Adam optimizers and
a mean tracker per loss) whose ``train_step`` its backend's file writes, since Keras 3 leaves
gradients to the backend (``GradientTape``, ``loss.backward()``). It trains the way keras.io's GAN
examples do: ``model.compile(...)``, then ``model.fit`` over the NumPy data with
``shuffle=True``, noise drawn with ``keras.random.normal`` inside the step, and the losses
read from ``fit``'s history once per epoch. ``compile`` keeps its defaults
(``jit_compile="auto"``: ``tf.function`` without XLA for TensorFlow on a CPU, eager PyTorch).
Each timed epoch is one ``fit`` call, timed from ``on_epoch_begin`` to ``on_epoch_end``: a long
run pays ``fit``'s setup once.

The same as the library: layers, initial weights (the library's, drawn from the same seeds),
d2l's hyperparameters, Adam's epsilon 1e-8 (Keras' form: added to the uncorrected sqrt(v), as
the library's), batch norm in training mode with the library's epsilon and momentum, and the
losses: binary cross-entropy on logits, each a batch mean, ``(BCE(D(x), 1) + BCE(D(G(z)), 0)) / 2``
for the discriminator, ``BCE(D(G(z)), 1)`` for the generator through the updated discriminator,
on the same noise. keras.io's examples also concatenate the real and fake images into one
discriminator batch, smooth the labels with random noise and draw new noise for the generator's
update; those change what is computed (batch norm would see one mixed batch), so the peers keep
d2l's semantic instead. Images are in the layout ``DATA_FORMAT`` of the backend's file.
"""

from __future__ import annotations

import time
from types import ModuleType

import keras
import numpy as np
from keras import layers, ops

from gan_backends.architectures import (
    BN_EPSILON,
    BN_MOMENTUM,
    LEAKY_SLOPE,
    BatchNorm,
    Conv,
    Dense,
    Network,
)
from peers import ADAM_EPSILON, Settings, Side

KERNEL_AXES = (2, 3, 1, 0)  # canonical (out, in, k, k) -> Keras (k, k, in, out); transposed alike


def networks(settings: Settings, data_format: str) -> tuple[keras.Sequential, keras.Sequential]:
    """The generator and the discriminator as Keras layers, images in ``data_format``."""
    if settings.model == "gan":
        generator = keras.Sequential([keras.Input((2,)), layers.Dense(2)])
        discriminator = keras.Sequential(
            [
                keras.Input((2,)),
                layers.Dense(5, activation="tanh"),
                layers.Dense(3, activation="tanh"),
                layers.Dense(1),
            ]
        )
        return generator, discriminator
    widths = settings.dcgan_widths()
    channel_axis = -1 if data_format == "channels_last" else 1

    def batch_norm():
        return layers.BatchNormalization(
            axis=channel_axis, momentum=1.0 - BN_MOMENTUM, epsilon=BN_EPSILON
        )

    def conv(transposed: bool, channels: int, strides: int = 2, padding: str = "same"):
        kind = layers.Conv2DTranspose if transposed else layers.Conv2D
        return kind(channels, 4, strides, padding, data_format=data_format, use_bias=False)

    generator_layers = [conv(True, widths[-1], 1, "valid"), batch_norm(), layers.ReLU()]
    for channels in widths[-2::-1]:
        generator_layers += [conv(True, channels), batch_norm(), layers.ReLU()]
    discriminator_layers = []
    for channels in widths:
        discriminator_layers += [conv(False, channels), batch_norm(), layers.LeakyReLU(LEAKY_SLOPE)]
    generator = keras.Sequential(
        [
            keras.Input(in_layout(settings.latent_shape, data_format)),
            *generator_layers,
            conv(True, 3),
            layers.Activation("tanh"),
        ]
    )
    image_shape = (3, settings.image_size, settings.image_size)
    discriminator = keras.Sequential(
        [
            keras.Input(in_layout(image_shape, data_format)),
            *discriminator_layers,
            conv(False, 1, 1, "valid"),
        ]
    )
    return generator, discriminator


def in_layout(shape: tuple[int, ...], data_format: str) -> tuple[int, ...]:
    """One example's shape, (C, H, W) in the public layout, in ``data_format``."""
    return shape[1:] + shape[:1] if len(shape) == 3 and data_format == "channels_last" else shape


def to_layout(array: np.ndarray, data_format: str) -> np.ndarray:
    """A batch in the public layout (NCHW images) in ``data_format``."""
    if array.ndim == 4 and data_format == "channels_last":
        return np.ascontiguousarray(array.transpose(0, 2, 3, 1))
    return array


def load_initial_weights(model: keras.Sequential, network: Network, seed: int) -> None:
    """The library's initial weights for ``network`` from ``seed`` (as ``gan_backends.models``)."""
    weights = network.initial_weights(np.random.default_rng(seed))
    specs = [spec for spec in network.layers if spec.weight_shapes()]
    keras_layers = [layer for layer in model.layers if layer.weights]
    for spec, layer in zip(specs, keras_layers, strict=True):
        name = spec.name
        if isinstance(spec, Dense):
            values = [weights[f"{name}.kernel"], weights[f"{name}.bias"]]
        elif isinstance(spec, Conv):
            values = [weights[f"{name}.kernel"].transpose(KERNEL_AXES)]
        elif isinstance(spec, BatchNorm):
            suffixes = ("gamma", "beta", "moving_mean", "moving_var")
            values = [weights[f"{name}.{suffix}"] for suffix in suffixes]
        layer.set_weights(values)


class GAN(keras.Model):
    """Both networks, their optimizers, the losses and their trackers; no ``train_step``."""

    def __init__(self, generator, discriminator, noise_shape, fixed_noise=None):
        super().__init__()
        self.generator, self.discriminator = generator, discriminator
        self.noise_shape = noise_shape
        # The loss check feeds the library's noise; training draws its own.
        self.fixed_noise = None if fixed_noise is None else ops.convert_to_tensor(fixed_noise)
        self.seed_generator = keras.random.SeedGenerator(0)
        self.loss_D_tracker = keras.metrics.Mean(name="loss_D")
        self.loss_G_tracker = keras.metrics.Mean(name="loss_G")
        self.built = True  # both networks are built (from their Input); fit need not call us

    def compile(self, optimizer_D, optimizer_G):
        super().compile()
        self.optimizer_D, self.optimizer_G = optimizer_D, optimizer_G
        self.bce = keras.losses.BinaryCrossentropy(from_logits=True)

    @property
    def metrics(self):
        return [self.loss_D_tracker, self.loss_G_tracker]

    def noise(self, batch_size):
        if self.fixed_noise is not None:
            return self.fixed_noise
        return keras.random.normal((batch_size, *self.noise_shape), seed=self.seed_generator)

    def discriminator_loss(self, real_logits, fake_logits):
        real = self.bce(ops.ones_like(real_logits), real_logits)
        return (real + self.bce(ops.zeros_like(fake_logits), fake_logits)) / 2

    def generator_loss(self, fake_logits):
        return self.bce(ops.ones_like(fake_logits), fake_logits)

    def record(self, loss_D, loss_G):
        self.loss_D_tracker.update_state(loss_D)
        self.loss_G_tracker.update_state(loss_G)
        return {metric.name: metric.result() for metric in self.metrics}


def make_gan(
    settings: Settings, peer: ModuleType, variant: str, fixed_noise: np.ndarray | None = None
) -> GAN:
    """A compiled Keras GAN of ``peer``'s ``variant``, from the library's initial weights."""
    generator, discriminator = networks(settings, peer.DATA_FORMAT)
    generator_network, discriminator_network = settings.networks()
    load_initial_weights(generator, generator_network, seed=0)
    load_initial_weights(discriminator, discriminator_network, seed=1)
    noise_shape = in_layout(settings.latent_shape, peer.DATA_FORMAT)
    gan = peer.VARIANTS[variant](generator, discriminator, noise_shape, fixed_noise)
    hyperparameters = settings.hyperparameters

    def adam(learning_rate: float) -> keras.optimizers.Adam:
        return keras.optimizers.Adam(
            learning_rate, beta_1=hyperparameters.beta1, beta_2=0.999, epsilon=ADAM_EPSILON
        )

    gan.compile(optimizer_D=adam(hyperparameters.lr_D), optimizer_G=adam(hyperparameters.lr_G))
    return gan


class EpochTimer(keras.callbacks.Callback):
    """The seconds of the last epoch, from ``on_epoch_begin`` to ``on_epoch_end``: without what
    ``fit`` does once per call (about 0.1 s on TensorFlow: the ``tf.data`` pipeline, callbacks)."""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.start


def fit_epoch(gan: GAN, data: np.ndarray, batch_size: int, shuffle: bool = True, callbacks=()):
    history = gan.fit(
        data, batch_size=batch_size, epochs=1, shuffle=shuffle, verbose=0, callbacks=[*callbacks]
    )
    return history.history["loss_D"][-1], history.history["loss_G"][-1]


def build(settings: Settings, data: np.ndarray, peer: ModuleType, variant: str) -> Side:
    """The ``Side`` of ``peer``'s ``variant`` (a key of its ``VARIANTS``) on ``data``."""
    gan = make_gan(settings, peer, variant)
    data = to_layout(data, peer.DATA_FORMAT)

    def trainable_parameters() -> int:
        return sum(int(np.prod(variable.shape)) for variable in gan.trainable_variables)

    timer = EpochTimer()
    layout = "NHWC" if peer.DATA_FORMAT == "channels_last" else "NCHW"
    return Side(
        lambda: fit_epoch(gan, data, settings.batch_size, callbacks=[timer]), peer.device(),
        peer.threads(), trainable_parameters, layout, epoch_seconds=lambda: timer.seconds,
    )  # fmt: skip


def first_step_losses(
    settings: Settings, X: np.ndarray, Z: np.ndarray, peer: ModuleType, variant: str
) -> tuple[float, float]:
    """(loss_D, loss_G) of one step on the batch ``X`` and the noise ``Z`` (public layout)."""
    gan = make_gan(settings, peer, variant, fixed_noise=to_layout(Z, peer.DATA_FORMAT))
    return fit_epoch(gan, to_layout(X, peer.DATA_FORMAT), len(X), shuffle=False)
