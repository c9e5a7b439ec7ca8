"""The tensor facade: d2l's names with one signature on every backend.

Every function here has the same signature and meaning on PyTorch, TensorFlow and MXNet; it
forwards to ``gan_backends.backends.<selected>.ops``. Tensors are the selected framework's own
(``torch.Tensor``, ``tf.Tensor``, ``mxnet.np.ndarray``), so the facade mixes with native code.
``float32`` is the default dtype everywhere; dtypes are given as NumPy names (``"float32"``) or
NumPy dtypes. ``numpy`` always returns a NumPy array and ``shape`` a tuple of ints.

>>> from gan_backends import ops
>>> x = ops.tensor([[1, 2], [-0.1, 0.5]])
>>> ops.shape(ops.matmul(x, ops.transpose(x)))
(2, 2)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gan_backends import selection

Tensor = Any
DType = str | np.dtype | type
Shape = int | Sequence[int]

float32 = "float32"
float64 = "float64"
int32 = "int32"
int64 = "int64"


def _ops():
    return selection.current().ops


def _dtype(dtype: DType) -> str:
    return np.dtype(dtype).name


def tensor(data: Any, dtype: DType = float32) -> Tensor:
    """A tensor holding ``data`` (nested lists, NumPy arrays, scalars) as ``dtype``.

    Unlike TensorFlow's ``tf.constant``, integers do not make an int32 tensor: the default is
    float32 on every backend.
    """
    return _ops().tensor(data, _dtype(dtype))


def zeros(shape: Shape, dtype: DType = float32) -> Tensor:
    """A tensor of zeros."""
    return _ops().zeros(_shape(shape), _dtype(dtype))


def ones(shape: Shape, dtype: DType = float32) -> Tensor:
    """A tensor of ones."""
    return _ops().ones(_shape(shape), _dtype(dtype))


def normal(shape: Shape, mean: float = 0.0, std: float = 1.0, dtype: DType = float32) -> Tensor:
    """Samples of N(mean, std**2) from the framework's generator (see :func:`manual_seed`).

    d2l's own ``normal`` takes ``(mean, std, size)`` on PyTorch and MXNet but ``(shape, mean,
    std)`` on TensorFlow; here it is ``(shape, mean, std)`` everywhere. The values differ between
    frameworks for the same seed: use NumPy noise where backends must see the same numbers.
    """
    return _ops().normal(_shape(shape), float(mean), float(std), _dtype(dtype))


def arange(
    start: float, stop: float | None = None, step: float = 1, dtype: DType = float32
) -> Tensor:
    """Evenly spaced values in ``[start, stop)``, like ``numpy.arange`` (float32 by default).

    The values are computed by NumPy in float64 and then cast, so they are identical on every
    backend (the frameworks' own float32 ``arange`` accumulate rounding differently).
    """
    if stop is None:
        start, stop = 0, start
    return tensor(np.arange(start, stop, step), dtype)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """The matrix product ``a @ b`` (batched over leading axes)."""
    return _ops().matmul(a, b)


def transpose(x: Tensor, axes: Sequence[int] | None = None) -> Tensor:
    """Permute the axes like ``numpy.transpose``: reversed when ``axes`` is None.

    PyTorch's ``transpose`` swaps two axes; this one takes a full permutation on every backend.
    """
    return _ops().transpose(x, None if axes is None else tuple(axes))


def reshape(x: Tensor, shape: Shape) -> Tensor:
    """``x`` with a new shape (one entry may be -1)."""
    return _ops().reshape(x, _shape(shape))


def concat(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    return _ops().concat(list(tensors), axis)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along a new axis."""
    return _ops().stack(list(tensors), axis)


def sum(x: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    """The sum over ``axis`` (all axes when None)."""
    return _ops().sum(x, _axis(axis), keepdims)


def mean(x: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    """The mean over ``axis`` (all axes when None)."""
    return _ops().mean(x, _axis(axis), keepdims)


def exp(x: Tensor) -> Tensor:
    """Elementwise e**x."""
    return _ops().exp(x)


def log(x: Tensor) -> Tensor:
    """Elementwise natural logarithm."""
    return _ops().log(x)


def abs(x: Tensor) -> Tensor:
    """Elementwise absolute value."""
    return _ops().abs(x)


def maximum(a: Tensor, b: Tensor | float) -> Tensor:
    """Elementwise maximum of two tensors, or of a tensor and a number."""
    return _ops().maximum(a, b)


def relu(x: Tensor) -> Tensor:
    """max(x, 0)."""
    return _ops().relu(x)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + exp(-x))."""
    return _ops().sigmoid(x)


def tanh(x: Tensor) -> Tensor:
    """The hyperbolic tangent."""
    return _ops().tanh(x)


def leaky_relu(x: Tensor, alpha: float = 0.2) -> Tensor:
    """x where x > 0, else alpha * x (alpha 0.2 as in the DCGAN discriminator)."""
    return _ops().leaky_relu(x, float(alpha))


def numpy(x: Tensor) -> np.ndarray:
    """A NumPy array with ``x``'s values (a copy, detached from any gradient)."""
    return _ops().numpy(x)


def shape(x: Tensor) -> tuple[int, ...]:
    """The shape of ``x`` as a tuple of Python ints."""
    return _ops().shape(x)


def manual_seed(seed: int) -> None:
    """Seed the selected framework's global generator (used by :func:`normal`)."""
    _ops().manual_seed(int(seed))


def grad(f: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """The gradient of ``sum(f(x))`` with respect to ``x``, as a tensor shaped like ``x``.

    Hides ``backward()`` (PyTorch), ``GradientTape`` (TensorFlow) and ``autograd.record()``
    (MXNet). ``x`` itself is left untouched.

    >>> ops.numpy(ops.grad(ops.relu, ops.tensor([-1.0, 2.0])))
    array([0., 1.], dtype=float32)
    """
    return _ops().grad(f, x)


def _shape(shape: Shape) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, int | np.integer) else tuple(int(s) for s in shape)


def _axis(axis: int | Sequence[int] | None) -> int | tuple[int, ...] | None:
    return axis if axis is None or isinstance(axis, int) else tuple(axis)
