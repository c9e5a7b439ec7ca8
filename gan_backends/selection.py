"""Which backend runs: ``GAN_BACKEND``, a documented default, and clear errors.

The framework itself is imported only when the backend is first used, and only the selected
one: importing ``gan_backends`` with ``GAN_BACKEND=torch`` leaves TensorFlow and MXNet unloaded.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType

from gan_backends.backends import BACKENDS, REGISTRY

ENV_VAR = "GAN_BACKEND"
#: The registered backends, in the order of their facts (the first installed is the default).
DEFAULT_ORDER = tuple(BACKENDS)


class BackendError(ImportError):
    """The requested backend is unknown or its framework is not installed."""


def installed_backends() -> list[str]:
    """The backends whose framework can be imported here, in default order."""
    return [name for name in DEFAULT_ORDER if _is_installed(name)]


def resolve(name: str | None = None) -> str:
    """The backend to use: ``name``, else ``$GAN_BACKEND``, else the first installed one."""
    if name is None:
        name = os.environ.get(ENV_VAR, "").strip() or None
    if name is None:
        installed = installed_backends()
        if not installed:
            raise BackendError(
                "No backend is installed. Install one: "
                + ", ".join(pip_hint(n) for n in DEFAULT_ORDER)
            )
        return installed[0]
    name = name.strip().lower()
    if name not in BACKENDS:
        raise BackendError(
            f"Unknown backend {name!r} (from {ENV_VAR} or --backend). "
            f"Valid names: {', '.join(DEFAULT_ORDER)}."
        )
    if not _is_installed(name):
        raise BackendError(
            f"Backend {name!r} is selected but {BACKENDS[name].module!r} is not installed. "
            f"Fix: {pip_hint(name)}"
        )
    return name


_loaded: dict[str, ModuleType] = {}
_current: str | None = None


def load(name: str) -> ModuleType:
    """Import backend ``name`` (once) and return its package.

    A framework that is installed but fails to import raises BackendError with its own reason.
    """
    if name not in _loaded:
        name = resolve(name)
    if name not in _loaded:
        try:
            _loaded[name] = importlib.import_module(REGISTRY[name])
        except Exception as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise BackendError(
                f"{BACKENDS[name].module} is installed but fails to import "
                f"({type(error).__name__}: {reason}); reinstall it: {pip_hint(name)}"
            ) from error
    return _loaded[name]


def loaded() -> dict[str, ModuleType]:
    """The backends imported so far, by name."""
    return dict(_loaded)


def current_name() -> str:
    global _current
    if _current is None:
        _current = resolve()
    return _current


def current() -> ModuleType:
    """The package of the selected backend, imported on first use."""
    return load(current_name())


def set_backend(name: str) -> str:
    """Select ``name`` for everything that follows in this process; returns the resolved name."""
    global _current
    _current = resolve(name)
    return _current


def _is_installed(name: str) -> bool:
    return importlib.util.find_spec(BACKENDS[name].module) is not None


def pip_hint(name: str) -> str:
    return f'pip install "gan_backends[{BACKENDS[name].pip_extra}]"'
