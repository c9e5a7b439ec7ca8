"""gan_backends: the d2l GAN and DCGAN on PyTorch, TensorFlow and MXNet, chosen at run time.

The backend comes from ``GAN_BACKEND`` (``torch``, ``tensorflow`` or ``mxnet``); when it is
unset, the first installed of torch, tensorflow, mxnet. Only that framework is imported, and only
when it is first used. The NumPy-only modules (``datasets``, ``quality``, ``plots``) work with
no framework installed.
"""

import os

from gan_backends import selection
from gan_backends.models import discriminate, generate
from gan_backends.selection import BackendError, installed_backends, set_backend
from gan_backends.training import History, Trainer
from gan_backends.weights import get_weights, load_weights, save_weights, set_weights

__all__ = [
    "BackendError",
    "History",
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

if os.environ.get(selection.ENV_VAR, "").strip():
    selection.current_name()  # an unknown or uninstalled GAN_BACKEND fails here, at import


def backend() -> str:
    """The name of the selected backend."""
    return selection.current_name()
