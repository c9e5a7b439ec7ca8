"""The tensor facade on ``jax.numpy`` (arguments already checked by :mod:`gan_backends.ops`).

JAX has no global random generator: :func:`manual_seed` replaces a key this module holds, and
each :func:`normal` splits a fresh key off it. The key is made on first use, since making one
starts JAX's runtime, which a distributed worker must not do before it joins its cluster.

JAX computes in 32 bits unless its x64 mode is on: float64 and int64 arrays silently become
float32 and int32. The facade promises both, so every op here runs inside x64 mode, switched on
for the call only (:func:`~gan_backends.backends.jax.nn.precision`): code of your own outside the
facade keeps JAX's 32-bit defaults. On the facade's 64-bit tensors use the facade's ops: outside
x64 mode JAX's own operators may compute in 32 bits (``x * 2`` of a float64 tensor is float32,
an int64 tensor ``+ 1`` wraps around in int32).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "abs", "add", "astype", "concat", "divide", "dtype", "exp", "grad", "is_tensor", "leaky_relu",
    "log", "manual_seed", "matmul", "maximum", "mean", "multiply", "normal", "numpy", "ones",
    "relu", "reshape", "shape", "sigmoid", "stack", "subtract", "sum", "tanh", "tensor",
    "transpose", "zeros",
]  # fmt: skip

from gan_backends.backends.jax.nn import precision

_key = None
_seed = 0


def is_tensor(x):
    return isinstance(x, jax.Array)  # tracers too, so that ops work inside grad


def dtype(x):
    return x.dtype.name


def astype(x, dtype):
    return x.astype(dtype)


def tensor(array):
    return jnp.array(array)  # a copy: jnp.asarray may share a NumPy array's memory on a CPU


def zeros(shape, dtype):
    return jnp.zeros(shape, dtype)


def ones(shape, dtype):
    return jnp.ones(shape, dtype)


def normal(shape, mean, std, dtype):
    global _key
    if _key is None:
        _key = jax.random.PRNGKey(_seed)
    _key, key = jax.random.split(_key)
    return mean + std * jax.random.normal(key, shape, dtype)


def matmul(a, b):
    return jnp.matmul(a, b, precision=jax.lax.Precision.HIGHEST)


def transpose(x, axes):
    return jnp.transpose(x, axes)


def reshape(x, shape):
    return jnp.reshape(x, shape)


def concat(tensors, axis):
    return jnp.concatenate(tensors, axis)


def stack(tensors, axis):
    return jnp.stack(tensors, axis)


def sum(x, axis, keepdims):
    return jnp.sum(x, axis, keepdims=keepdims)


def mean(x, axis, keepdims):
    return jnp.mean(x, axis, keepdims=keepdims)


def exp(x):
    return jnp.exp(x)


def log(x):
    return jnp.log(x)


def abs(x):
    return x * jnp.sign(x) if x.dtype.kind == "f" else jnp.abs(x)  # jnp.abs: gradient 1 at 0


def add(a, b):
    return jnp.add(a, b)


def subtract(a, b):
    return jnp.subtract(a, b)


def multiply(a, b):
    return jnp.multiply(a, b)


def divide(a, b):
    return jnp.divide(a, b)


def maximum(a, b):
    return jnp.maximum(a, b)


def relu(x):
    return jax.nn.relu(x)


def sigmoid(x):
    return jax.nn.sigmoid(x)


def tanh(x):
    return jnp.tanh(x)


def leaky_relu(x, alpha):
    return jnp.where(x > 0, x, alpha * x)  # jax.nn.leaky_relu's gradient at 0 is 1, elsewhere alpha


def numpy(x):
    return np.array(x)


def shape(x):
    return tuple(x.shape)


def manual_seed(seed):
    global _key, _seed
    _key, _seed = None, seed


def grad(f, x):
    return jax.grad(lambda x: jnp.sum(f(x)))(x)


def _in_x64_mode(op):
    @functools.wraps(op)
    def scoped(*args, **kwargs):
        with precision("float64"):
            return op(*args, **kwargs)

    return scoped


for _name in __all__:
    globals()[_name] = _in_x64_mode(globals()[_name])
