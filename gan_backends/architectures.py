"""Backend-neutral descriptions of the d2l networks, their canonical weights and initialisation.

A :class:`Network` is a sequence of layers; each backend's ``nn.build`` turns it into a native
model (``torch.nn.Sequential``, ``keras.Sequential``, ``gluon.nn.HybridSequential``; on JAX, a
``Model`` holding the spec and its arrays).

Canonical weights (what :func:`gan_backends.get_weights` returns on every backend), in the
public NCHW layout:

======================  ===============================  ===================================
layer                   names                            shapes
======================  ===============================  ===================================
dense                   ``<layer>.kernel``, ``.bias``    ``(in, out)``, ``(out,)``: x @ kernel
convolution             ``<layer>.kernel``               ``(out, in, k, k)`` (as PyTorch, MXNet)
transposed convolution  ``<layer>.kernel``               ``(in, out, k, k)`` (as PyTorch, MXNet)
batch norm              ``.gamma``, ``.beta``,           ``(channels,)`` each
                        ``.moving_mean``, ``.moving_var``
======================  ===============================  ===================================

Initialisation, one rule on every backend (drawn in NumPy, then loaded with ``set_weights``):
convolution kernels ~ N(0, 0.02) (the DCGAN paper, and d2l); dense kernels Glorot-uniform
(Keras' default), biases 0; batch-norm gamma 1 and beta 0, moving mean 0 and moving variance 1.
d2l draws the GAN's dense kernels from N(0, 0.02) too, but with them its 20.1 GAN stalls far
from the data in 2 to 4 of 10 seeds on every backend (measured, 20 epochs); with Glorot in none.

Batch norm, one convention on every backend: epsilon ``BN_EPSILON`` = 1e-5; the moving
statistics move by ``BN_MOMENTUM`` = 0.1 towards each batch (PyTorch's convention; Keras and
MXNet call the same thing momentum 0.9); the moving variance tracks the *biased* batch variance,
as Keras and MXNet do (PyTorch's native layer tracks the unbiased one, so our PyTorch layer
corrects it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BN_EPSILON = 1e-5
BN_MOMENTUM = 0.1
INIT_STD = 0.02
LEAKY_SLOPE = 0.2


@dataclass(frozen=True)
class Dense:
    name: str
    in_features: int
    out_features: int

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        return {
            f"{self.name}.kernel": (self.in_features, self.out_features),
            f"{self.name}.bias": (self.out_features,),
        }

    def initial_weights(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        limit = np.sqrt(6.0 / (self.in_features + self.out_features))
        kernel = rng.uniform(-limit, limit, (self.in_features, self.out_features))
        return {f"{self.name}.kernel": kernel, f"{self.name}.bias": np.zeros(self.out_features)}


@dataclass(frozen=True)
class Conv:
    """A 2-D convolution (or transposed convolution) without bias, square kernel, NCHW."""

    name: str
    in_channels: int
    out_channels: int
    kernel_size: int = 4
    stride: int = 2
    padding: int = 1
    transposed: bool = False

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        k = self.kernel_size
        pair = (self.in_channels, self.out_channels)
        first, second = pair if self.transposed else pair[::-1]
        return {f"{self.name}.kernel": (first, second, k, k)}

    def output_size(self, size: int) -> int:
        """The side of the output for an input ``size`` pixels square (PyTorch's rule)."""
        k, s, p = self.kernel_size, self.stride, self.padding
        return (size - 1) * s - 2 * p + k if self.transposed else (size + 2 * p - k) // s + 1

    def initial_weights(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {
            name: rng.normal(0.0, INIT_STD, shape) for name, shape in self.weight_shapes().items()
        }


@dataclass(frozen=True)
class BatchNorm:
    name: str
    channels: int

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        suffixes = ("gamma", "beta", "moving_mean", "moving_var")
        return {f"{self.name}.{suffix}": (self.channels,) for suffix in suffixes}

    def initial_weights(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        ones, zeros = np.ones(self.channels), np.zeros(self.channels)
        return {
            f"{self.name}.gamma": ones,
            f"{self.name}.beta": zeros,
            f"{self.name}.moving_mean": zeros,
            f"{self.name}.moving_var": ones,
        }


@dataclass(frozen=True)
class Activation:
    """``relu``, ``tanh`` or ``leaky_relu`` (slope ``LEAKY_SLOPE``); it has no weights."""

    name: str
    function: str

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        return {}

    def initial_weights(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {}


Layer = Dense | Conv | BatchNorm | Activation


@dataclass(frozen=True)
class Network:
    """A sequential network and the shape of one input example in the public layout."""

    name: str
    input_shape: tuple[int, ...]
    layers: tuple[Layer, ...]

    @property
    def is_image(self) -> bool:
        return len(self.input_shape) == 3

    @property
    def mixes_examples(self) -> bool:
        """Whether an example's output in training depends on the rest of its batch (batch norm's
        batch statistics): where it does not, two batches may pass through as one."""
        return any(isinstance(layer, BatchNorm) for layer in self.layers)

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {}
        for layer in self.layers:
            shapes.update(layer.weight_shapes())
        return shapes

    def initial_weights(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Fresh float32 weights by the rule in the module docstring."""
        weights = {}
        for layer in self.layers:
            weights.update(layer.initial_weights(rng))
        return {name: value.astype(np.float32) for name, value in weights.items()}


def gan_generator(latent_dim: int = 2, data_dim: int = 2) -> Network:
    """d2l 20.1: one dense layer from the latent space to the data space."""
    return Network("gan_generator", (latent_dim,), (Dense("dense0", latent_dim, data_dim),))


def gan_discriminator(data_dim: int = 2) -> Network:
    """d2l 20.1: dense 2 -> 5, tanh, dense 5 -> 3, tanh, dense 3 -> 1 logit."""
    return Network(
        "gan_discriminator",
        (data_dim,),
        (
            Dense("dense0", data_dim, 5),
            Activation("tanh0", "tanh"),
            Dense("dense1", 5, 3),
            Activation("tanh1", "tanh"),
            Dense("dense2", 3, 1),
        ),
    )


def _block_count(image_size: int) -> int:
    sizes = {64: 4, 32: 3, 16: 2}
    if image_size not in sizes:
        raise ValueError(f"image_size must be one of {sorted(sizes)}, got {image_size}")
    return sizes[image_size]


def g_block(name: str, in_channels: int, out_channels: int, stride: int = 2, padding: int = 1):
    """d2l's G_block: transposed conv k4 (no bias), batch norm, ReLU."""
    return (
        Conv(f"{name}_conv", in_channels, out_channels, 4, stride, padding, transposed=True),
        BatchNorm(f"{name}_bn", out_channels),
        Activation(f"{name}_relu", "relu"),
    )


def d_block(name: str, in_channels: int, out_channels: int, stride: int = 2, padding: int = 1):
    """d2l's D_block: conv k4 (no bias), batch norm, leaky ReLU 0.2."""
    return (
        Conv(f"{name}_conv", in_channels, out_channels, 4, stride, padding),
        BatchNorm(f"{name}_bn", out_channels),
        Activation(f"{name}_leaky", "leaky_relu"),
    )


def dcgan_generator(
    latent_dim: int = 100, width: int = 64, image_size: int = 64, channels: int = 3
) -> Network:
    """d2l 20.2: noise (latent_dim, 1, 1) -> 4x4 -> ... -> image (channels, size, size), tanh.

    At 64x64 the blocks have 8w, 4w, 2w and w channels; smaller images drop the widest blocks.
    """
    count = _block_count(image_size)
    widths = [width * 2**i for i in reversed(range(count))]
    layers = g_block("block0", latent_dim, widths[0], stride=1, padding=0)
    for i in range(1, count):
        layers += g_block(f"block{i}", widths[i - 1], widths[i])
    layers += (
        Conv("out_conv", widths[-1], channels, 4, 2, 1, transposed=True),
        Activation("out_tanh", "tanh"),
    )
    return Network("dcgan_generator", (latent_dim, 1, 1), layers)


def dcgan_discriminator(width: int = 64, image_size: int = 64, channels: int = 3) -> Network:
    """d2l 20.2: the generator's mirror, image -> w, 2w, 4w, 8w channels -> a 4x4 conv -> logit."""
    count = _block_count(image_size)
    widths = [width * 2**i for i in range(count)]
    layers = d_block("block0", channels, widths[0])
    for i in range(1, count):
        layers += d_block(f"block{i}", widths[i - 1], widths[i])
    layers += (Conv("out_conv", widths[-1], 1, 4, 1, 0),)
    return Network("dcgan_discriminator", (channels, image_size, image_size), layers)
