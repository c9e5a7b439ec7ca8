"""The tensor facade on MXNet's NumPy interface, ``mxnet.np`` (arguments already checked by
:mod:`gan_backends.ops`)."""

import mxnet as mx
import numpy as onp
from mxnet import autograd, npx
from mxnet import np as mnp

__all__ = [
    "abs", "astype", "concat", "dtype", "exp", "grad", "is_tensor", "leaky_relu", "log",
    "manual_seed", "matmul", "maximum", "mean", "normal", "numpy", "ones", "relu", "reshape",
    "shape", "sigmoid", "stack", "sum", "tanh", "tensor", "transpose", "zeros",
]  # fmt: skip


def is_tensor(x):
    return isinstance(x, mnp.ndarray)


def dtype(x):
    return onp.dtype(x.dtype).name


def astype(x, dtype):
    return x.astype(dtype, copy=False)


def tensor(array):
    return mnp.array(array, dtype=array.dtype)  # mxnet.np.array makes float32 of float64 data


def zeros(shape, dtype):
    return mnp.zeros(shape, dtype=dtype)


def ones(shape, dtype):
    return mnp.ones(shape, dtype=dtype)


def normal(shape, mean, std, dtype):
    return mnp.random.normal(mean, std, size=shape).astype(dtype, copy=False)


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
    return mnp.sum(x, axis=axis, keepdims=keepdims)


def mean(x, axis, keepdims):
    return mnp.mean(x, axis=axis, keepdims=keepdims)


def exp(x):
    return mnp.exp(x)


def log(x):
    return mnp.log(x)


def abs(x):
    return mnp.abs(x)


def maximum(a, b):
    return mnp.maximum(a, b)


def relu(x):
    return npx.relu(x)


def sigmoid(x):
    return npx.sigmoid(x)


def tanh(x):
    return mnp.tanh(x)


def leaky_relu(x, alpha):
    return npx.leaky_relu(x, act_type="leaky", slope=alpha)


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
