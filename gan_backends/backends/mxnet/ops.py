"""The tensor facade on MXNet's NumPy interface, ``mxnet.np`` (arguments already checked by
:mod:`gan_backends.ops`)."""

import math

import mxnet as mx
import numpy as onp
from mxnet import autograd, npx
from mxnet import np as mnp

__all__ = [
    "abs", "add", "astype", "concat", "divide", "dtype", "exp", "grad", "is_tensor", "leaky_relu",
    "log", "manual_seed", "matmul", "maximum", "mean", "multiply", "normal", "numpy", "ones",
    "relu", "reshape", "shape", "sigmoid", "stack", "subtract", "sum", "tanh", "tensor",
    "transpose", "zeros",
]  # fmt: skip


def is_tensor(x):
    return isinstance(x, mnp.ndarray)


def dtype(x):
    return onp.dtype(x.dtype).name


def astype(x, dtype):
    if onp.dtype(dtype).kind == "i":  # MXNet's cast to an integer passes the gradient through
        x = x.detach()
    return x.astype(dtype, copy=False)


def tensor(array):
    return mnp.array(array, dtype=array.dtype)  # mxnet.np.array makes float32 of float64 data


def zeros(shape, dtype):
    return mnp.zeros(shape, dtype=dtype)


def ones(shape, dtype):
    return mnp.ones(shape, dtype=dtype)


def normal(shape, mean, std, dtype):
    # MXNet refuses a NaN, infinite or subnormal mean or std as a parameter, so they are arrays
    mean, std = (mnp.array(onp.array(value, dtype)) for value in (mean, std))
    return mean + std * (_normal64(shape) if dtype == "float64" else mnp.random.normal(size=shape))


def _normal64(shape):
    """Box-Muller from uniforms of 48 random bits: MXNet draws float64 in float32 precision."""
    u, v = (
        mnp.random.uniform(size=shape, dtype="float64")
        + mnp.random.uniform(size=shape, dtype="float64") * 2.0**-24
        for _ in range(2)
    )
    return mnp.sqrt(-2 * mnp.log1p(-u)) * mnp.cos(2 * onp.pi * v)


def matmul(a, b):
    if a.dtype.kind == "i":  # MXNet's matmul has no integer kernels; its einsum has
        return mnp.einsum("...ij,...jk->...ik", a, b)
    return mnp.matmul(a, b)


def transpose(x, axes):
    return mnp.transpose(x, axes)


def reshape(x, shape):
    return mnp.reshape(x, shape)


def concat(tensors, axis):
    return mnp.concatenate(tensors, axis=axis)


def stack(tensors, axis):
    return mnp.stack(tensors, axis=axis)


def sum(x, axis, keepdims):
    if x.dtype.kind != "f":
        return mnp.sum(x, axis=axis, keepdims=keepdims)
    # MXNet sums floats with Kahan's compensation, which makes inf + 1 NaN; a dot product does not
    kept = [a for a in range(x.ndim) if a not in axis]
    rows = mnp.transpose(x, (*kept, *axis)).reshape(-1, math.prod(x.shape[a] for a in axis))
    total = mnp.dot(rows, mnp.ones(rows.shape[1], dtype=x.dtype))
    shape = [1 if a in axis else d for a, d in enumerate(x.shape) if keepdims or a in kept]
    return total.reshape(tuple(shape))


def mean(x, axis, keepdims):
    return sum(x, axis, keepdims) / math.prod(x.shape[a] for a in axis)


def exp(x):
    return mnp.exp(x)


def log(x):
    return mnp.log(x)


def abs(x):
    return mnp.abs(x) if x.dtype.kind == "f" else mnp.where(x < 0, -x, x)  # its int64 abs is wrong


def add(a, b):
    return mnp.add(a, b)


def subtract(a, b):
    return mnp.subtract(a, b)


def multiply(a, b):
    return mnp.multiply(a, b)


def divide(a, b):
    return mnp.true_divide(a, b)


def maximum(a, b):
    return mnp.maximum(a, b)


def relu(x):
    return npx.relu(x)


def sigmoid(x):
    return npx.sigmoid(x)


def tanh(x):
    return mnp.tanh(x)


def leaky_relu(x, alpha):
    return mnp.where(x > 0, x, alpha * x)  # npx.leaky_relu: float32 alpha, no 0-d, no alpha < 0


def numpy(x):
    return x.asnumpy()


def shape(x):
    return tuple(int(d) for d in x.shape)


def manual_seed(seed):
    mx.random.seed(seed)


def grad(f, x):
    x = x.copy()
    x.attach_grad()
    with autograd.record():
        # backward() raises where f(x) does not depend on x; the zero term keeps x in the graph
        y = f(x).sum() + (x * 0).sum()
    y.backward()
    return x.grad
