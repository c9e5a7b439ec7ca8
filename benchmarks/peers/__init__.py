"""The peers the library is timed against: the same networks and hyperparameters, written the way
a user of one framework, or of Keras 3, writes them.

One file per peer, laid out like the library's backend folders, the same names in each:

- ``<framework>_d2l.py`` (``torch_d2l``, ``tensorflow_d2l``, ``mxnet_d2l``, ``jax_d2l``):
  d2l's code, d2l 20.1 and 20.2, on that framework (JAX, which d2l lacks: written the way
  a JAX user writes it). ``networks(settings)`` and
  ``build(settings, data) -> Side``.
- ``keras_<backend>.py`` (``keras_torch``, ``keras_tensorflow``, ``keras_jax``): Keras 3 on that
  Keras backend:
  ``DATA_FORMAT``; ``IdiomaticGAN`` (keras.io's GAN step, the generator run twice) and
  ``EqualWorkGAN`` (the library's work: one generator forward), ``keras.Model`` subclasses whose
  ``train_step`` ``fit`` runs, in ``VARIANTS``; ``device()`` and ``threads()``. What they share
  (the networks as Keras layers, the library's initial weights, ``compile`` and ``fit``) is in
  ``keras_common.py``: ``keras_common.build(settings, data, peer_module, variant) -> Side``.

``PEERS`` says which peers run beside each library backend, from the backend's facts (its Keras 3
name): a new framework is a new d2l file, ``<backend>_d2l.py``, and a Keras file where Keras 3
has that backend, as ``jax_d2l.py`` and ``keras_jax.py``.

Every peer trains on the data it is given (float32, the library's public layout: NCHW images),
returns the mean losses of each epoch, and imports none of the library's backends.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from gan_backends import architectures
from gan_backends.architectures import Network
from gan_backends.backends import BACKENDS

LATENT_DIM = {"gan": 2, "dcgan": 100}
DCGAN_BLOCKS = {16: 2, 32: 3, 64: 4}  # image size -> blocks of G and of D (d2l: 64 -> 4)


@dataclass(frozen=True)
class Hyperparameters:
    lr_D: float
    lr_G: float
    beta1: float


#: d2l's, on every side; Adam's beta2 0.999 and epsilon 1e-8 (the library's) where a peer sets
#: them (d2l's code keeps its framework's default epsilon).
HYPERPARAMETERS = {
    "gan": Hyperparameters(lr_D=0.05, lr_G=0.005, beta1=0.9),
    "dcgan": Hyperparameters(lr_D=0.005, lr_G=0.005, beta1=0.5),
}
ADAM_EPSILON = 1e-8


@dataclass(frozen=True)
class Settings:
    """What one benchmark run trains."""

    model: str
    device: str
    batch_size: int
    image_size: int
    width: int
    steps: int
    repeats: int
    threads: int | None
    precision: str = "32"
    """The library side's ``Trainer(precision=...)``."""

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """One noise example in the public layout: (100, 1, 1) for the DCGAN, (2,) for the GAN."""
        return (LATENT_DIM["dcgan"], 1, 1) if self.model == "dcgan" else (LATENT_DIM["gan"],)

    @property
    def examples_per_epoch(self) -> int:
        return self.steps * self.batch_size

    @property
    def hyperparameters(self) -> Hyperparameters:
        return HYPERPARAMETERS[self.model]

    def networks(self) -> tuple[Network, Network]:
        """The library's generator and discriminator architectures."""
        if self.model == "gan":
            return architectures.gan_generator(), architectures.gan_discriminator()
        return (
            architectures.dcgan_generator(LATENT_DIM["dcgan"], self.width, self.image_size),
            architectures.dcgan_discriminator(self.width, self.image_size),
        )

    def dcgan_widths(self) -> list[int]:
        """The discriminator's block widths, narrowest first (the generator's, reversed)."""
        return [self.width * 2**i for i in range(DCGAN_BLOCKS[self.image_size])]


@dataclass
class Side:
    """One way of training: an epoch to run, and where and with how many threads it runs."""

    run_epoch: Callable[[], tuple[float, float]]  # -> mean (loss_D, loss_G) of the epoch
    device: str
    threads: int
    trainable_parameters: Callable[[], int]
    layout: str  # of the DCGAN's images inside the step: "NCHW" or "NHWC"
    #: The last epoch's seconds as the side measures them, leaving out per-call setup that a
    #: long run pays once; None: the wall time of ``run_epoch``.
    epoch_seconds: Callable[[], float] | None = None


@dataclass(frozen=True)
class Peers:
    """The peers of one library backend: d2l's code, and Keras 3's backend on the same
    framework (None: Keras 3 has none)."""

    d2l: str
    keras: str | None


PEERS = {name: Peers(d2l=f"{name}_d2l", keras=facts.keras_name) for name, facts in BACKENDS.items()}


def d2l_peer(backend: str) -> ModuleType:
    return importlib.import_module(f"peers.{PEERS[backend].d2l}")


def keras_peer(keras_backend: str) -> ModuleType:
    """``keras_<backend>.py``; set KERAS_BACKEND to ``keras_backend`` before calling this."""
    return importlib.import_module(f"peers.keras_{keras_backend}")
