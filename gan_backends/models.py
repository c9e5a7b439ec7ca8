"""The d2l networks as native models of the selected backend, and running them on NumPy input.

Every constructor returns the framework's own model object (``torch.nn.Sequential``,
``keras.Sequential``, ``gluon.nn.HybridSequential``; JAX, which has none, the backend's
``Model`` of the spec and its arrays), built and initialised by the rule in
:mod:`gan_backends.architectures` from a NumPy generator, so that a seed gives the same initial
weights on every backend.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gan_backends import architectures, datasets, selection
from gan_backends.architectures import Network
from gan_backends.step import DTYPES, DType

Model = Any


def build(network: Network, seed: int | None = None, dtype: DType = "float32") -> Model:
    """A native model of the selected backend for ``network``, initialised from ``seed``, its
    weights in ``dtype`` (float64 holds the same initial values as float32)."""
    check_dtype(dtype)
    backend = selection.current()
    model = backend.nn.build(network, dtype)
    backend.nn.set_weights(model, network.initial_weights(np.random.default_rng(seed)))
    return model


def check_dtype(dtype: Any, what: str = "dtype") -> None:
    """Raise ValueError naming ``what`` unless ``dtype`` is one of :data:`DTYPES`."""
    if dtype not in DTYPES:
        raise ValueError(f"{what} must be one of {', '.join(DTYPES)}; got {dtype!r}")


def dtype_of(model: Model) -> DType:
    """The dtype of the model's weights."""
    return next(iter(backend_of(model).nn.get_weights(model).values())).dtype.name


def gan_generator(
    latent_dim: int = 2, data_dim: int = 2, seed: int | None = None, dtype: DType = "float32"
) -> Model:
    """d2l 20.1's generator: one dense layer, latent_dim -> data_dim."""
    return build(architectures.gan_generator(latent_dim, data_dim), seed, dtype)


def gan_discriminator(
    data_dim: int = 2, seed: int | None = None, dtype: DType = "float32"
) -> Model:
    """d2l 20.1's discriminator: dense 2 -> 5, tanh, dense 5 -> 3, tanh, dense 3 -> 1 logit."""
    return build(architectures.gan_discriminator(data_dim), seed, dtype)


def dcgan_generator(
    latent_dim: int = 100,
    width: int = 64,
    image_size: int = 64,
    channels: int = 3,
    seed: int | None = None,
    dtype: DType = "float32",
) -> Model:
    """d2l 20.2's generator: noise (N, latent_dim, 1, 1) -> images (N, channels, size, size)."""
    network = architectures.dcgan_generator(latent_dim, width, image_size, channels)
    return build(network, seed, dtype)


def dcgan_discriminator(
    width: int = 64,
    image_size: int = 64,
    channels: int = 3,
    seed: int | None = None,
    dtype: DType = "float32",
) -> Model:
    """d2l 20.2's discriminator: images (N, channels, size, size) -> one logit each."""
    return build(architectures.dcgan_discriminator(width, image_size, channels), seed, dtype)


def g_block(
    out_channels: int,
    in_channels: int = 3,
    strides: int = 2,
    padding: int = 1,
    size: int = 16,
) -> Model:
    """d2l's G_block alone (transposed conv k4, batch norm, ReLU), for checking shapes."""
    layers = architectures.g_block("block0", in_channels, out_channels, strides, padding)
    return build(Network("g_block", (in_channels, size, size), layers))


def d_block(
    out_channels: int,
    in_channels: int = 3,
    strides: int = 2,
    padding: int = 1,
    size: int = 16,
) -> Model:
    """d2l's D_block alone (conv k4, batch norm, leaky ReLU 0.2), for checking shapes."""
    layers = architectures.d_block("block0", in_channels, out_channels, strides, padding)
    return build(Network("d_block", (in_channels, size, size), layers))


def network_of(model: Model) -> Network:
    """The architecture a model was built from."""
    network = getattr(model, "network", None)
    if not isinstance(network, Network):
        raise TypeError(
            f"{type(model).__name__} was not built by gan_backends.models; build it with "
            "models.gan_generator(), models.dcgan_discriminator(), ..."
        )
    return network


def backend_of(model: Model):
    """The backend package that owns ``model``."""
    network_of(model)
    for backend in selection.loaded().values():
        if backend.nn.owns(model):
            return backend
    raise TypeError(f"{type(model).__name__} belongs to no loaded gan_backends backend")


def forward(model: Model, inputs: np.ndarray, training: bool = False) -> np.ndarray:
    """Run ``model`` on NumPy ``inputs`` (batch norm in training or inference mode); uint8
    images are taken as 0..255."""
    network = network_of(model)
    inputs = check_batch(inputs, network.input_shape, "inputs")
    return backend_of(model).nn.forward(model, inputs, training)


def generate(generator: Model, noise: np.ndarray) -> np.ndarray:
    """Samples from ``generator`` for NumPy ``noise`` (inference mode: moving batch statistics)."""
    return forward(generator, noise, training=False)


def discriminate(discriminator: Model, data: np.ndarray) -> np.ndarray:
    """The discriminator's logits, one per example, shape ``(N,)``, in inference mode."""
    logits = forward(discriminator, data, training=False)
    return logits.reshape(len(logits))


def check_batch(
    array: Any, example_shape: tuple[int, ...], what: str, keep_uint8: bool = False
) -> np.ndarray:
    """``array`` as float32, or a ValueError naming the shape that was expected.

    uint8 arrays are images (0..255): they become the models' [-1, 1] by
    :func:`gan_backends.datasets.to_model_range`, or, with ``keep_uint8``, stay uint8 (and a
    memory-mapped array stays on disk).
    """
    if not isinstance(array, np.memmap):
        array = np.asarray(array)
    if array.ndim != len(example_shape) + 1 or array.shape[1:] != example_shape:
        expected = ", ".join(["N", *map(str, example_shape)])
        raise ValueError(f"{what} must have shape ({expected}); got {array.shape}")
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{what} must be numeric; got dtype {array.dtype}")
    if array.dtype == np.uint8 and keep_uint8:
        return array if isinstance(array, np.memmap) else np.ascontiguousarray(array)
    if array.dtype == np.uint8:
        return datasets.to_model_range(array)
    return np.ascontiguousarray(array, dtype=np.float32)
