"""Moving weights between the canonical layout and a framework's own, by axis permutation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def to_native(canonical: np.ndarray, axes: Sequence[int] | None) -> np.ndarray:
    """``canonical`` laid out as the framework stores it (a contiguous copy, float64 kept and
    anything else float32)."""
    value = canonical if axes is None else np.transpose(canonical, axes)
    return np.ascontiguousarray(value, dtype=float_dtype(value))


def to_canonical(native: np.ndarray, axes: Sequence[int] | None) -> np.ndarray:
    """The inverse of :func:`to_native`."""
    value = native if axes is None else np.transpose(native, np.argsort(axes))
    return np.array(value, dtype=float_dtype(value))


def float_dtype(value: np.ndarray) -> type[np.floating]:
    """float64 for float64 values, float32 for any other."""
    return np.float64 if value.dtype == np.float64 else np.float32
