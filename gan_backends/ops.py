"""The tensor facade: d2l's names with one signature and one meaning on every backend.

Every function here forwards to ``gan_backends.backends.<selected>.ops``. Tensors are the selected
framework's own (``torch.Tensor``, ``tf.Tensor``, ``mxnet.np.ndarray``, ``jax.Array``), so the
facade mixes with native code.

>>> from gan_backends import ops
>>> x = ops.tensor([[1, 2], [-0.1, 0.5]])
>>> ops.shape(ops.matmul(x, ops.transpose(x)))
(2, 2)

The contract
------------
A call gives the same value, dtype and error on every backend. Where this page is silent the
facade follows the Python array API standard (https://data-apis.org/array-api/).

Tensors
    A tensor argument must be a tensor of the selected backend. Anything else (a list, a NumPy
    array, a number, None, another framework's tensor) raises :class:`OpError`; :func:`tensor`
    is the one converter. One exception: the binary ops (:func:`add`, :func:`subtract`,
    :func:`multiply`, :func:`divide`, :func:`maximum`) take a real number as ``b``.
Portable and not
    The facade functions are portable; the frameworks' native operators (``a + b``, ``a / b``)
    are not: they follow each framework's own rules (TensorFlow refuses ``int32 + float32``,
    the others promote). Write ``ops.add(a, b)`` where code must run on every backend.
Dtypes
    ``float32`` (the default), ``float64``, ``int32`` and ``int64``, given as NumPy names, NumPy
    dtypes or NumPy scalar types; a framework's dtype object (``torch.float32``,
    ``jnp.float32``) is refused on every backend. Any other dtype given to :func:`tensor`,
    :func:`zeros`, :func:`ones`, :func:`normal`, :func:`arange` or :func:`astype` raises OpError,
    and so does a native tensor of another dtype (bool, float16, ...) given to an op: convert it
    with :func:`astype`.
Promotion
    Ops on several tensors (:func:`add`, :func:`subtract`, :func:`multiply`, :func:`divide`,
    :func:`matmul`, :func:`maximum`, :func:`concat`, :func:`stack`) compute in one result dtype:
    the wider one of two ints or of two floats (int32 with int64 gives int64, float32 with
    float64 gives float64) and the float one where ints meet floats
    (int64 with float32 gives float32, as in PyTorch and JAX). A real number ``b`` takes ``a``'s
    dtype, except that a float with an integer ``a`` computes in float32; an integer ``b`` that
    ``a``'s dtype cannot hold raises OpError. :func:`divide` of two integer tensors computes in
    float32. Integer arithmetic wraps around on overflow.
Shapes
    A tensor has at most 2**31 - 1 elements and no axis longer than that (MXNet's default build
    indexes with 32-bit ints); a larger shape raises OpError on every backend.
Float-only functions
    :func:`exp`, :func:`log`, :func:`sigmoid`, :func:`tanh`, :func:`leaky_relu` and :func:`mean`
    (and :func:`divide` of two integer tensors) convert an integer tensor to float32 first.
    :func:`abs` and :func:`relu` keep the dtype; :func:`sum` gives int64 for int32 and keeps
    every other dtype.
Empty tensors
    A sum of no elements is 0, a mean of no elements NaN, with no warning.
Errors
    A bad argument raises :class:`OpError` before the framework is called, with a message that
    names the op, the argument and the shapes or dtypes involved, e.g.
    ``stack: every tensor must have the same shape; got (2,), (3,)``. OpError is both a
    ValueError and a TypeError, so existing ``except`` clauses keep catching it. What only the
    framework can see (memory, devices) raises the framework's own error.
Gradients
    :func:`grad` differentiates ``sum(f(x))`` for a float ``x``; where ``f(x)`` does not depend
    on ``x`` the gradient is zeros, and none flows through a cast to an integer dtype. At a kink
    the gradient is that of the left-closed piece: :func:`abs` has 0 at +-0, :func:`relu` 0 at 0.

Known differences
-----------------
What the backends may still do differently, and why it is left so. Tests hold every other
case to NumPy on every backend (tests/test_ops_properties.py).

============================  ==========================================  ====================
What                          Backends differ                             Why it is left
============================  ==========================================  ====================
Subnormal floats (below       TensorFlow and JAX flush them to zero on    The flush is a CPU
1.2e-38 in float32, 2.2e-308  the CPU (so ``log(-1e-45)`` is -inf, not    mode the frameworks
in float64), as inputs or     NaN, and ``exp(-100)`` in float32 is 0);    set for speed; no
results                       PyTorch and MXNet keep them, as NumPy does  public switch
Float to integer of NaN,      JAX saturates (NaN gives 0), the others     Checking values
+-inf or values out of range  give the smallest integer; :func:`tensor`   needs a device sync
(:func:`astype`, and          of NumPy data raises OpError instead        in every cast (NumPy
:func:`tensor` of a tensor)                                               too leaves it
                                                                          undefined)
The sign of a zero result     ``maximum(0., -0.)``, ``relu(-0.)`` and     IEEE calls them
                              ``sum`` of zeros may give 0. or -0.         equal; compare with
                                                                          ``==``
:func:`grad` where ``x`` is   PyTorch gives 1 for relu at NaN, the        A NaN input has no
NaN                           others 0 or NaN                             derivative
:func:`grad` of :func:`tanh`  Every backend computes it from the rounded  The kernels; the
and :func:`sigmoid` in the    result (``1 - y**2``, ``y * (1 - y)``): a   values themselves
tails                         few eps off absolutely, not relatively      are exact; use
                              (TensorFlow float32 at 5.86: 3.1829e-5      float64 for tails
                              against 3.2305e-5)
Values of :func:`normal`      Each framework's own generator              Seeds are per
                                                                          framework
============================  ==========================================  ====================

Backends
--------
A backend's ``ops`` module defines every name in ``gan_backends.backends.OPS`` with the same
signature as here (``tensor`` takes just a NumPy array), and receives arguments this module has
already checked: tensors of supported dtypes; the operands of a binary op already in the result
dtype; shapes without -1; axes as non-negative ints (a reduction gets a non-empty tuple);
``matmul`` operands of rank >= 2 whose shapes fit; ``tensor`` a fresh C-ordered NumPy array of
the target dtype; ``grad`` a function whose result is already checked. So a backend is a list
of one-line calls plus the few places where its framework surprises.
"""

from __future__ import annotations

import math
import numbers
import operator
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from gan_backends import selection

__all__ = [
    "DTYPES", "DType", "OpError", "Shape", "Tensor", "abs", "add", "arange", "astype", "concat",
    "divide", "dtype", "exp", "float32", "float64", "grad", "int32", "int64", "is_tensor",
    "leaky_relu", "log", "manual_seed", "matmul", "maximum", "mean", "multiply", "normal", "numpy",
    "ones", "relu", "reshape", "shape", "sigmoid", "stack", "subtract", "sum", "tanh", "tensor",
    "transpose", "zeros",
]  # fmt: skip

Tensor = Any
DType = str | np.dtype | type
Shape = int | Sequence[int]

float32 = "float32"
float64 = "float64"
int32 = "int32"
int64 = "int64"
DTYPES = (float32, float64, int32, int64)
FLOATS = (float32, float64)
MAX_SIZE = 2**31 - 1


class OpError(ValueError, TypeError):
    """A facade op was called outside its contract (see the module docstring).

    Both a ValueError and a TypeError, so code that caught the frameworks' errors still does.
    """


def is_tensor(x: Any) -> bool:
    """Whether ``x`` is a tensor of the selected backend (of any dtype)."""
    return _backend().is_tensor(x)


def dtype(x: Tensor) -> str:
    """The NumPy name of ``x``'s dtype, e.g. ``"float32"``.

    A native dtype outside :data:`DTYPES` keeps its framework's name, e.g. ``"bfloat16"``.
    """
    _require_tensor("dtype", "x", x)
    return _backend().dtype(x)


def astype(x: Tensor, dtype: DType) -> Tensor:
    """``x`` converted to ``dtype`` (``x`` itself where it has that dtype already).

    ``x`` may have any native dtype: this is how a bool or float16 tensor enters the facade.
    Floats become integers by truncation toward zero.
    """
    _require_tensor("astype", "x", x)
    return _backend().astype(x, _dtype_arg("astype", dtype))


def tensor(data: Any, dtype: DType = float32) -> Tensor:
    """A new tensor holding ``data`` as ``dtype``.

    ``data`` is anything NumPy reads as an array of real numbers (a scalar, nested lists of
    equal lengths, a NumPy array) or a tensor of the selected backend (then this is
    :func:`astype`); a list holding tensors is refused (join them with :func:`stack`). Unlike
    TensorFlow's ``tf.constant``, integers do not make an int32 tensor:
    the default is float32 on every backend. Floats become integers by truncation toward zero;
    values an integer dtype cannot hold (NaN, infinities, out of range) raise OpError.
    """
    dtype = _dtype_arg("tensor", dtype)
    if is_tensor(data):
        return _backend().astype(data, dtype)
    if isinstance(data, list | tuple) and _holds_tensor(data):
        raise OpError("tensor: data is a list holding tensors; join them with ops.stack(...)")
    # Ragged lists: NumPy >= 1.24 raises, older ones warn and read objects.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            array = np.asarray(data)
    except (ValueError, TypeError, RuntimeError):
        array = np.asarray(None)
    if array.dtype.kind not in "biuf":
        raise OpError(
            "tensor: data must be real numbers (a scalar, nested lists of equal lengths or an "
            f"array); got {_typename(data)}, which NumPy does not read as numbers"
        )
    if dtype in (int32, int64) and array.size and not _fits(array, dtype):
        raise OpError(f"tensor: data has values that {dtype} cannot hold (NaN, inf or too large)")
    _size("tensor", array.shape)
    with np.errstate(over="ignore"):  # beyond float32's range is inf, as in any cast
        return _backend().tensor(np.array(array, dtype=dtype, order="C"))


def zeros(shape: Shape, dtype: DType = float32) -> Tensor:
    """A tensor of zeros."""
    return _backend().zeros(_dims("zeros", shape), _dtype_arg("zeros", dtype))


def ones(shape: Shape, dtype: DType = float32) -> Tensor:
    """A tensor of ones."""
    return _backend().ones(_dims("ones", shape), _dtype_arg("ones", dtype))


def normal(shape: Shape, mean: float = 0.0, std: float = 1.0, dtype: DType = float32) -> Tensor:
    """Samples of N(mean, std**2) from the framework's generator (see :func:`manual_seed`).

    d2l's own ``normal`` takes ``(mean, std, size)`` on PyTorch and MXNet but ``(shape, mean,
    std)`` on TensorFlow; here it is ``(shape, mean, std)`` everywhere. The values differ between
    frameworks for the same seed: use NumPy noise where backends must see the same numbers.
    ``dtype`` must be a float dtype and ``std`` >= 0; a NaN or infinite ``mean`` or ``std`` gives
    NaN or infinite samples, as in NumPy.
    """
    shape, dtype = _dims("normal", shape), _dtype_arg("normal", dtype)
    if dtype not in FLOATS:
        raise OpError(f"normal: dtype must be float32 or float64; got {dtype}")
    mean, std = float(_real("normal", "mean", mean)), float(_real("normal", "std", std))
    if not (std >= 0 or math.isnan(std)):
        raise OpError(f"normal: std must be >= 0; got {std}")
    return _backend().normal(shape, mean, std, dtype)


def arange(
    start: float, stop: float | None = None, step: float = 1, dtype: DType = float32
) -> Tensor:
    """Evenly spaced values in ``[start, stop)``, like ``numpy.arange`` (float32 by default).

    NumPy computes the values (in float64 where a bound is a float) and :func:`tensor` converts
    them, so they are identical on every backend (the frameworks' own float32 ``arange``
    accumulate rounding differently).
    """
    dtype = _dtype_arg("arange", dtype)
    if stop is None:
        start, stop = 0, start
    bounds = {"start": start, "stop": stop, "step": step}
    start, stop, step = (_real("arange", name, value) for name, value in bounds.items())
    if not all(math.isfinite(b) for b in (start, stop, step)) or step == 0:
        raise OpError(f"arange: bounds must be finite and step not 0; got {(start, stop, step)}")
    return tensor(np.arange(start, stop, step), dtype)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """The matrix product ``a @ b``, like ``numpy.matmul``.

    ``a``'s last axis must match ``b``'s second-to-last axis (its only one where ``b`` is 1-D);
    a 1-D ``a`` is a row and a 1-D ``b`` a column, dropped from the result; leading axes are
    batch axes and broadcast.
    """
    (a_dtype, shape_a), (b_dtype, shape_b) = _info("matmul", "a", a), _info("matmul", "b", b)
    shapes = f"got shapes {shape_a} and {shape_b}"
    if not shape_a or not shape_b:
        raise OpError(f"matmul: a and b need at least one axis each; {shapes}")
    if shape_a[-1] != shape_b[-2 if len(shape_b) > 1 else 0]:
        raise OpError(f"matmul: a's last axis must match b's rows; {shapes}")
    batch = _broadcast(shape_a[:-2], shape_b[:-2], f"matmul: batch axes do not broadcast; {shapes}")
    backend = _backend()
    a, b = _in_result_dtype([a, b], [a_dtype, b_dtype])
    if len(shape_a) > 1 and len(shape_b) > 1:
        return backend.matmul(a, b)
    rows = shape_a[-2:-1]
    columns = shape_b[-1:] if len(shape_b) > 1 else ()
    a = a if len(shape_a) > 1 else backend.reshape(a, (1, *shape_a))
    b = b if len(shape_b) > 1 else backend.reshape(b, (*shape_b, 1))
    return backend.reshape(backend.matmul(a, b), (*batch, *rows, *columns))


def transpose(x: Tensor, axes: Sequence[int] | None = None) -> Tensor:
    """Permute the axes like ``numpy.transpose``: reversed when ``axes`` is None.

    PyTorch's ``transpose`` swaps two axes; this one takes a permutation of all of ``x``'s axes
    (a negative axis counts from the end) on every backend.
    """
    shape_x = _info("transpose", "x", x)[1]
    rank = len(shape_x)
    if axes is None:
        return _backend().transpose(x, tuple(reversed(range(rank))))
    permutation = _ints(axes)
    if permutation is not None:
        permutation = tuple(a + rank if -rank <= a < 0 else a for a in permutation)
    if permutation is None or sorted(permutation) != list(range(rank)):
        raise OpError(
            f"transpose: axes must be a permutation of {tuple(range(rank))} for shape {shape_x}; "
            f"got {_show(axes)}"
        )
    return _backend().transpose(x, permutation)


def reshape(x: Tensor, shape: Shape) -> Tensor:
    """``x`` with a new shape of the same size; one entry may be -1 (inferred)."""
    shape_x = _info("reshape", "x", x)[1]
    target = _ints(shape if isinstance(shape, Iterable) else (shape,))
    if target is None or any(d < -1 for d in target) or target.count(-1) > 1:
        raise OpError(f"reshape: shape must be ints >= 0 with at most one -1; got {_show(shape)}")
    size, known = math.prod(shape_x), math.prod(d for d in target if d != -1)
    if -1 in target and known and size % known == 0:
        target = tuple(size // known if d == -1 else d for d in target)
    if -1 in target or math.prod(target) != size:
        raise OpError(f"reshape: cannot reshape shape {shape_x} ({size} elements) to {target}")
    return _backend().reshape(x, _size("reshape", target))


def concat(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis: one rank (at least 1), the other axes equal."""
    dtypes, shapes = _joined("concat", tensors)
    if len({len(s) for s in shapes}) > 1:
        raise OpError(f"concat: every tensor must have the same rank; got {_list(shapes)}")
    if not shapes[0]:
        raise OpError("concat: tensors must have at least one axis; got shape ()")
    axis = _axis("concat", axis, len(shapes[0]), f"shape {shapes[0]}")
    if len({s[:axis] + s[axis + 1 :] for s in shapes}) > 1:
        raise OpError(f"concat: shapes must match except on axis {axis}; got {_list(shapes)}")
    return _backend().concat(_in_result_dtype(tensors, dtypes), axis)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors of one shape along a new axis (``axis`` counts the result's axes)."""
    dtypes, shapes = _joined("stack", tensors)
    if len(set(shapes)) > 1:
        raise OpError(f"stack: every tensor must have the same shape; got {_list(shapes)}")
    axis = _axis("stack", axis, len(shapes[0]) + 1, f"stacking shape {shapes[0]}")
    return _backend().stack(_in_result_dtype(tensors, dtypes), axis)


def sum(x: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    """The sum over ``axis`` (all axes when None, none when ``()``); 0 over no elements.

    int32 sums to int64, the array API's default integer; other dtypes are kept.
    """
    x_dtype, shape_x = _info("sum", "x", x)
    axes = _axes("sum", axis, shape_x)
    result = int64 if x_dtype == int32 else x_dtype
    if not axes:
        return _backend().astype(x, result)
    if math.prod(shape_x) == 0:
        return _empty_reduction(0, shape_x, axes, keepdims, result)
    return _backend().sum(_backend().astype(x, result), axes, bool(keepdims))


def mean(x: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    """The mean over ``axis`` (all axes when None, none when ``()``); NaN over no elements.

    Integer tensors are averaged in float32.
    """
    x_dtype, shape_x = _info("mean", "x", x)
    axes = _axes("mean", axis, shape_x)
    result = x_dtype if x_dtype in FLOATS else float32
    if not axes:
        return _backend().astype(x, result)
    if math.prod(shape_x) == 0:  # 0/0, where MXNet says 0 and NumPy warns
        return _empty_reduction(math.nan, shape_x, axes, keepdims, result)
    return _backend().mean(_backend().astype(x, result), axes, bool(keepdims))


def exp(x: Tensor) -> Tensor:
    """Elementwise e**x (integers in float32)."""
    return _backend().exp(_float("exp", x))


def log(x: Tensor) -> Tensor:
    """Elementwise natural logarithm (integers in float32): -inf at 0, NaN below."""
    return _backend().log(_float("log", x))


def abs(x: Tensor) -> Tensor:
    """Elementwise absolute value, in ``x``'s dtype."""
    _info("abs", "x", x)
    return _backend().abs(x)


def add(a: Tensor, b: Tensor | float) -> Tensor:
    """Elementwise ``a + b``; shapes broadcast and dtypes promote (see Promotion)."""
    return _binary("add", a, b)


def subtract(a: Tensor, b: Tensor | float) -> Tensor:
    """Elementwise ``a - b``; shapes broadcast and dtypes promote (see Promotion)."""
    return _binary("subtract", a, b)


def multiply(a: Tensor, b: Tensor | float) -> Tensor:
    """Elementwise ``a * b``; shapes broadcast and dtypes promote (see Promotion)."""
    return _binary("multiply", a, b)


def divide(a: Tensor, b: Tensor | float) -> Tensor:
    """Elementwise true division ``a / b``, like ``numpy.divide``: +-inf or NaN at 0.

    Two integer operands divide in float32.
    """
    return _binary("divide", a, b, floats_only=True)


def maximum(a: Tensor, b: Tensor | float) -> Tensor:
    """Elementwise maximum, NaN where either is NaN; shapes broadcast and dtypes promote.

    ``b`` may also be a real number (Python or NumPy scalar), promoted as in Promotion. Where
    ``a == b``, which of them receives the :func:`grad` is not specified (PyTorch and JAX split
    it, TensorFlow and MXNet give it to ``a``).
    """
    return _binary("maximum", a, b)


def relu(x: Tensor) -> Tensor:
    """max(x, 0), in ``x``'s dtype."""
    _info("relu", "x", x)
    return _backend().relu(x)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + exp(-x)) (integers in float32)."""
    return _backend().sigmoid(_float("sigmoid", x))


def tanh(x: Tensor) -> Tensor:
    """The hyperbolic tangent (integers in float32)."""
    return _backend().tanh(_float("tanh", x))


def leaky_relu(x: Tensor, alpha: float = 0.2) -> Tensor:
    """x where x > 0, else alpha * x (integers in float32).

    ``alpha`` is 0.2 by default, as in the DCGAN discriminator; it is used in ``x``'s dtype and
    must be finite there. At NaN and -inf the result is ``alpha * x`` (NaN for ``alpha = 0``).
    """
    alpha = float(_real("leaky_relu", "alpha", alpha))
    x = _float("leaky_relu", x)
    if not math.fabs(alpha) <= float(np.finfo(_backend().dtype(x)).max):
        raise OpError(f"leaky_relu: alpha must be finite in x's dtype; got {alpha}")
    return _backend().leaky_relu(x, alpha)


def numpy(x: Tensor) -> np.ndarray:
    """A NumPy array with ``x``'s values and dtype (a copy, detached from any gradient)."""
    _require_tensor("numpy", "x", x)
    return _backend().numpy(x)


def shape(x: Tensor) -> tuple[int, ...]:
    """The shape of ``x`` as a tuple of Python ints."""
    _require_tensor("shape", "x", x)
    return _backend().shape(x)


def manual_seed(seed: int) -> None:
    """Seed the selected framework's global generator (used by :func:`normal`).

    ``seed`` is an int in ``[0, 2**63)``; anything else raises OpError on every backend.
    """
    if (index := _ints((seed,))) is None:
        raise OpError(f"manual_seed: seed must be an int; got {_show(seed)}")
    if not 0 <= index[0] < 2**63:
        raise OpError(f"manual_seed: seed must be in [0, 2**63); got {index[0]}")
    _backend().manual_seed(index[0])


def grad(f: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """The gradient of ``sum(f(x))`` with respect to ``x``, as a tensor shaped like ``x``.

    Hides ``backward()`` (PyTorch), ``GradientTape`` (TensorFlow) and ``autograd.record()``
    (MXNet). ``x`` must be a float tensor and ``f(x)`` a float tensor of the same backend; where
    ``f(x)`` does not depend on ``x`` the gradient is zeros (as in JAX). ``f`` computes with
    tensors only: taking ``x`` out to NumPy inside ``f`` is outside the contract (JAX, which
    traces ``f``, cannot). ``x`` itself is left untouched.

    >>> ops.numpy(ops.grad(ops.relu, ops.tensor([-1.0, 2.0])))
    array([0., 1.], dtype=float32)
    """
    x_dtype = _info("grad", "x", x)[0]
    if x_dtype not in FLOATS:
        raise OpError(
            f"grad: x must be a float tensor (float32 or float64); got {x_dtype}. "
            'Convert it with ops.astype(x, "float32")'
        )
    if not callable(f):
        raise OpError(f"grad: f must be a function of x; got {_typename(f)}")

    def checked(x: Tensor) -> Tensor:
        y = f(x)
        _require_tensor("grad", "f(x)", y, fix="")
        if (y_dtype := _backend().dtype(y)) not in FLOATS:
            raise OpError(f"grad: f(x) must be a float tensor (float32 or float64); got {y_dtype}")
        return y

    return _backend().grad(checked, x)


def _backend():
    return selection.current().ops


def _require_tensor(
    op: str, name: str, x: Any, or_else: str = "", fix: str = ". Make one with ops.tensor(...)"
) -> None:
    if not _backend().is_tensor(x):
        backend = selection.current_name()
        raise OpError(
            f"{op}: {name} must be a tensor of the {backend} backend{or_else}; "
            f"got {_typename(x)}{fix}"
        )


def _info(op: str, name: str, x: Any) -> tuple[str, tuple[int, ...]]:
    """``x``'s dtype and shape, once it is known to be a tensor of a supported dtype."""
    _require_tensor(op, name, x)
    if (x_dtype := _backend().dtype(x)) not in DTYPES:
        raise OpError(
            f"{op}: {name} has dtype {x_dtype}, which ops does not support "
            f"({', '.join(DTYPES)}); convert it with ops.astype(...)"
        )
    return x_dtype, _backend().shape(x)


def _float(op: str, x: Any) -> Tensor:
    """``x``, checked, in float32 if it holds integers."""
    return x if _info(op, "x", x)[0] in FLOATS else _backend().astype(x, float32)


def _in_result_dtype(tensors: Sequence[Tensor], dtypes: Sequence[str]) -> list[Tensor]:
    """The tensors converted to the dtype they promote to together (see Promotion)."""
    result = max([d for d in dtypes if d in FLOATS] or dtypes, key=lambda d: np.dtype(d).itemsize)
    backend = _backend()
    return [
        x if d == result else backend.astype(x, result)
        for x, d in zip(tensors, dtypes, strict=True)
    ]


def _binary(op: str, a: Tensor, b: Tensor | float, floats_only: bool = False) -> Tensor:
    """``a`` and ``b`` checked, promoted and broadcast-checked, then the backend's ``op``."""
    backend = _backend()
    a_dtype, shape_a = _info(op, "a", a)
    if isinstance(b, numbers.Real) and not isinstance(b, bool):
        integral = isinstance(b, numbers.Integral)
        result = a_dtype if a_dtype in FLOATS or integral else float32
        if result in (int32, int64) and not np.iinfo(result).min <= int(b) <= np.iinfo(result).max:
            raise OpError(f"{op}: b = {b} does not fit a's dtype {result}")
        if floats_only and result not in FLOATS:
            result = float32
        with np.errstate(over="ignore"):  # beyond float32's range is inf, as in any cast
            b = backend.tensor(np.array(b, dtype=result))
        return getattr(backend, op)(backend.astype(a, result), b)
    _require_tensor(op, "b", b, or_else=" or a real number")
    b_dtype, shape_b = _info(op, "b", b)
    _broadcast(shape_a, shape_b, f"{op}: shapes {shape_a} and {shape_b} do not broadcast")
    a, b = _in_result_dtype([a, b], [a_dtype, b_dtype])
    if floats_only and backend.dtype(a) not in FLOATS:
        a, b = backend.astype(a, float32), backend.astype(b, float32)
    return getattr(backend, op)(a, b)


def _holds_tensor(data: list | tuple) -> bool:
    return any(
        is_tensor(item) or (isinstance(item, list | tuple) and _holds_tensor(item)) for item in data
    )


def _size(op: str, dims: tuple[int, ...]) -> tuple[int, ...]:
    if max(dims, default=0) > MAX_SIZE or math.prod(dims) > MAX_SIZE:
        raise OpError(
            f"{op}: shape {dims} is too large; a tensor has at most 2**31 - 1 elements and no "
            "longer axis"
        )
    return dims


def _joined(op: str, tensors: Any) -> tuple[list[str], list[tuple[int, ...]]]:
    """The dtypes and shapes of the tensors to concat or stack, once they are checked."""
    if not isinstance(tensors, list | tuple):
        raise OpError(f"{op}: tensors must be a list or tuple of tensors; got {_typename(tensors)}")
    if not tensors:
        raise OpError(f"{op}: tensors must hold at least one tensor; got an empty sequence")
    infos = [_info(op, f"tensors[{i}]", x) for i, x in enumerate(tensors)]
    return [d for d, _ in infos], [s for _, s in infos]


def _dtype_arg(op: str, dtype: Any) -> str:
    # JAX's and MXNet's dtype objects are NumPy's to np.dtype, PyTorch's and TensorFlow's are not
    numpy_type = isinstance(dtype, type) and (
        issubclass(dtype, np.generic) or dtype.__module__ == "builtins"
    )
    try:
        name = np.dtype(dtype).name if isinstance(dtype, str | np.dtype) or numpy_type else None
    except (TypeError, ValueError, SyntaxError):  # np.dtype("0:") raises SyntaxError
        name = None
    if name not in DTYPES:
        raise OpError(f"{op}: dtype must be one of {', '.join(DTYPES)}; got {name or _show(dtype)}")
    return name


def _dims(op: str, shape: Any) -> tuple[int, ...]:
    dims = _ints(shape if isinstance(shape, Iterable) else (shape,))
    if dims is None or any(d < 0 for d in dims):
        raise OpError(f"{op}: shape must be an int >= 0 or a sequence of them; got {_show(shape)}")
    return _size(op, dims)


def _ints(values: Any) -> tuple[int, ...] | None:
    """``values`` as a tuple of Python ints, or None where one is not an integer."""
    try:
        return tuple(operator.index(v) for v in values)
    except TypeError:
        return None


def _real(op: str, name: str, value: Any) -> int | float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise OpError(f"{op}: {name} must be a real number; got {_typename(value)}")
    return operator.index(value) if isinstance(value, numbers.Integral) else float(value)


def _axis(op: str, axis: Any, rank: int, where: str) -> int:
    """``axis`` in ``range(rank)``, counting negative ones from the end."""
    if (index := _ints((axis,))) is None:
        raise OpError(f"{op}: axis must be an int; got {_show(axis)}")
    if not -rank <= index[0] < rank:
        valid = f"; use {-rank} to {rank - 1}" if rank else ", which has no axes"
        raise OpError(f"{op}: axis {axis} is out of range for {where}{valid}")
    return index[0] % rank


def _axes(op: str, axis: Any, shape_x: tuple[int, ...]) -> tuple[int, ...]:
    """The axes to reduce, in range and without repeats (all of them for None)."""
    if axis is None:
        return tuple(range(len(shape_x)))
    if (axes := _ints(axis if isinstance(axis, Iterable) else (axis,))) is None:
        raise OpError(f"{op}: axis must be None, an int or a sequence of ints; got {_show(axis)}")
    normalized = tuple(_axis(op, a, len(shape_x), f"shape {shape_x}") for a in axes)
    if len(set(normalized)) < len(normalized):
        raise OpError(f"{op}: axis {_show(axis)} names an axis twice for shape {shape_x}")
    return normalized


def _empty_reduction(
    value: float, shape_x: tuple[int, ...], axes: tuple[int, ...], keepdims: bool, dtype: str
) -> Tensor:
    """A reduction of a tensor without elements, filled with ``value`` (MXNet's own reductions
    fail where the result has no elements either)."""
    kept = [1 if a in axes else d for a, d in enumerate(shape_x) if keepdims or a not in axes]
    return _backend().tensor(np.full(kept, value, dtype))


def _broadcast(shape_a: tuple[int, ...], shape_b: tuple[int, ...], message: str) -> tuple[int, ...]:
    try:
        return tuple(int(d) for d in np.broadcast_shapes(shape_a, shape_b))
    except ValueError:
        raise OpError(message) from None


def _fits(array: np.ndarray, dtype: str) -> bool:
    """Whether every value of ``array`` is an integer ``dtype`` can hold (after truncation)."""
    if array.dtype.kind not in "biuf" or not np.isfinite(array).all():  # or an int beyond int64
        return False
    # Python compares ints with floats exactly, where NumPy 1 rounds int64 bounds to float64
    exact = int if array.dtype.kind in "biu" else lambda value: np.trunc(value).item()
    low, high = exact(array.min()), exact(array.max())
    return np.iinfo(dtype).min <= low and high <= np.iinfo(dtype).max


def _typename(value: Any) -> str:
    if value is None:
        return "None"
    cls = type(value)
    package = cls.__module__.partition(".")[0]
    return cls.__qualname__ if package == "builtins" else f"{package}.{cls.__qualname__}"


def _show(value: Any) -> str:
    """``value`` as a message shows it: numbers, strings and sequences as written, else a type."""
    if isinstance(value, list | tuple) and all(isinstance(v, int | float | str) for v in value):
        return repr(tuple(value))
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return repr(value)
    return _typename(value)


def _list(shapes: Sequence[tuple[int, ...]]) -> str:
    return ", ".join(str(s) for s in shapes)
