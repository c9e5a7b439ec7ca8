"""The tensor facade on MXNet (its NumPy interface, ``mxnet.np``)."""

import mxnet as mx
import numpy as onp
from mxnet import autograd, npx
from mxnet import np as mnp

__all__ = [
    "abs", "concat", "exp", "grad", "leaky_relu", "log", "manual_seed", "matmul",
    "maximum", "mean", "normal", "numpy", "ones", "relu", "reshape", "shape", "sigmoid", "stack",
    "sum", "tanh", "tensor", "transpose", "zeros",
]  # fmt: skip


def tensor(data, dtype):
    return mnp.array(onp.asarray(data, dtype=dtype), dtype=dtype)


def zeros(shape, dtype):
    return mnp.zeros(shape, dtype=dtype)


def ones(shape, dtype):
    return mnp.ones(shape, dtype=dtype)


def normal(shape, mean, std, dtype):
    return mnp.random.normal(mean, std, size=shape).astype(dtype, copy=False)


def matmul(a, b):
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
        y = f(x)
    y.backward()
    return x.grad
