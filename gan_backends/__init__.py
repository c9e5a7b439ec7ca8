"""gan_backends: the d2l GAN and DCGAN on PyTorch, TensorFlow, MXNet and JAX, chosen at run time.

The backend comes from ``GAN_BACKEND`` (``torch``, ``tensorflow``, ``mxnet`` or ``jax``); when
it is unset, the first installed of torch, tensorflow, mxnet, jax. It is resolved, and its
framework (only that one) imported, when first used: ``gan_backends.backend()``, an op, a model.
An unknown or uninstalled name raises ``BackendError`` there, saying what fixes it; a facade op
called outside its contract raises ``OpError`` (see :mod:`gan_backends.ops`). The NumPy-only
modules (``datasets``, ``quality``, ``plots``) work with no framework installed.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gan_backends import selection
    from gan_backends.models import discriminate, generate
    from gan_backends.ops import OpError
    from gan_backends.selection import BackendError, installed_backends, set_backend
    from gan_backends.training import History, Trainer
    from gan_backends.weights import get_weights, load_weights, save_weights, set_weights

#: The public names and the modules they come from, imported when first used, so that
#: ``import gan_backends`` (which the command runs before it can turn Ctrl-C into one line)
#: takes milliseconds.
_HOMES = {
    "selection": "gan_backends",
    "BackendError": "gan_backends.selection",
    "installed_backends": "gan_backends.selection",
    "set_backend": "gan_backends.selection",
    "discriminate": "gan_backends.models",
    "generate": "gan_backends.models",
    "OpError": "gan_backends.ops",
    "History": "gan_backends.training",
    "Trainer": "gan_backends.training",
    "get_weights": "gan_backends.weights",
    "load_weights": "gan_backends.weights",
    "save_weights": "gan_backends.weights",
    "set_weights": "gan_backends.weights",
}

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
    "selection",
    "set_backend",
    "set_weights",
]

__version__ = "0.1.0"


def backend() -> str:
    """The name of the selected backend."""
    from gan_backends import selection

    return selection.current_name()


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'gan_backends' has no attribute {name!r}")
    if _HOMES[name] == "gan_backends":
        value = importlib.import_module(f"gan_backends.{name}")
    else:
        value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value
