"""Optional dependencies, imported on first use, with the install line when one is missing."""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtraError(ImportError):
    """An optional package is not installed; the message names the pip command."""


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtraError` naming ``gan_backends[extra]``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(
            f'{feature} needs {module.partition(".")[0]}: pip install "gan_backends[{extra}]"'
        ) from None
