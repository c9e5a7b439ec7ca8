"""The tensor facade on PyTorch."""

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "abs", "concat", "exp", "grad", "leaky_relu", "log", "manual_seed", "matmul",
    "maximum", "mean", "normal", "numpy", "ones", "relu", "reshape", "shape", "sigmoid", "stack",
    "sum", "tanh", "tensor", "transpose", "zeros",
]  # fmt: skip


def _dtype(name):
    return getattr(torch, name)


def tensor(data, dtype):
    return torch.as_tensor(np.asarray(data, dtype=dtype))


def zeros(shape, dtype):
    return torch.zeros(shape, dtype=_dtype(dtype))


def ones(shape, dtype):
    return torch.ones(shape, dtype=_dtype(dtype))


def normal(shape, mean, std, dtype):
    return torch.normal(mean, std, size=shape, dtype=_dtype(dtype))


def matmul(a, b):
    return torch.matmul(a, b)


def transpose(x, axes):
    return x.permute(*(axes or reversed(range(x.dim()))))


def reshape(x, shape):
    return torch.reshape(x, shape)


def concat(tensors, axis):
    return torch.cat(tensors, dim=axis)


def stack(tensors, axis):
    return torch.stack(tensors, dim=axis)


def sum(x, axis, keepdims):
    return torch.sum(x, dim=axis, keepdim=keepdims) if axis is not None else torch.sum(x)


def mean(x, axis, keepdims):
    return torch.mean(x, dim=axis, keepdim=keepdims) if axis is not None else torch.mean(x)


def exp(x):
    return torch.exp(x)


def log(x):
    return torch.log(x)


def abs(x):
    return torch.abs(x)


def maximum(a, b):
    return torch.maximum(a, torch.as_tensor(b, dtype=a.dtype))


def relu(x):
    return torch.relu(x)


def sigmoid(x):
    return torch.sigmoid(x)


def tanh(x):
    return torch.tanh(x)


def leaky_relu(x, alpha):
    return F.leaky_relu(x, alpha)


def numpy(x):
    return x.detach().cpu().numpy().copy()


def shape(x):
    return tuple(x.shape)


def manual_seed(seed):
    torch.manual_seed(seed)


def grad(f, x):
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        (gradient,) = torch.autograd.grad(f(x).sum(), x)
    return gradient
