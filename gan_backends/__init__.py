"""gan_backends: the d2l GAN and DCGAN on PyTorch, TensorFlow, MXNet and JAX, chosen at run time.

The backend comes from ``GAN_BACKEND`` (``torch``, ``tensorflow``, ``mxnet`` or ``jax``); when
it is unset, the first installed of torch, tensorflow, mxnet, jax. It is resolved, and its
framework (only that one) imported, when first used: ``gan_backends.backend()``, an op, a model.
An unknown or uninstalled name raises ``BackendError`` there, saying what fixes it; a facade op
called outside its contract raises ``OpError`` (see :mod:`gan_backends.ops`). The NumPy-only
modules (``datasets``, ``quality``, ``plots``) work with no framework installed.
"""

from gan_backends import selection
from gan_backends.models import discriminate, generate
from gan_backends.ops import OpError
from gan_backends.selection import BackendError, installed_backends, set_backend
from gan_backends.training import History, Trainer
from gan_backends.weights import get_weights, load_weights, save_weights, set_weights

__all__ = [
    "BackendError",
    "History",
    "OpError",
    "Trainer",
    "backend",
    "discriminate",
    "generate",
    "get_weights",
    "installed_backends",
    "load_weights",
    "save_weights",
    "set_backend",
    "set_weights",
]

__version__ = "0.1.0"


def backend() -> str:
    """The name of the selected backend."""
    return selection.current_name()
