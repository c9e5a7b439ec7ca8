"""The tensor facade on PyTorch (arguments already checked by :mod:`gan_backends.ops`)."""

import torch
import torch.nn.functional as F

__all__ = [
    "abs", "add", "astype", "concat", "divide", "dtype", "exp", "grad", "is_tensor", "leaky_relu",
    "log", "manual_seed", "matmul", "maximum", "mean", "multiply", "normal", "numpy", "ones",
    "relu", "reshape", "shape", "sigmoid", "stack", "subtract", "sum", "tanh", "tensor",
    "transpose", "zeros",
]  # fmt: skip


def is_tensor(x):
    return isinstance(x, torch.Tensor)


def dtype(x):
    return str(x.dtype).removeprefix("torch.")


def astype(x, dtype):
    return x.to(getattr(torch, dtype))


def tensor(array):
    return torch.from_numpy(array)


def zeros(shape, dtype):
    return torch.zeros(shape, dtype=getattr(torch, dtype))


def ones(shape, dtype):
    return torch.ones(shape, dtype=getattr(torch, dtype))


def normal(shape, mean, std, dtype):
    return torch.normal(mean, std, size=shape, dtype=getattr(torch, dtype))


def matmul(a, b):
    return torch.matmul(a, b)


def transpose(x, axes):
    return x.permute(axes)


def reshape(x, shape):
    return torch.reshape(x, shape)


def concat(tensors, axis):
    return torch.cat(tensors, dim=axis)


def stack(tensors, axis):
    return torch.stack(tensors, dim=axis)


def sum(x, axis, keepdims):
    return torch.sum(x, dim=axis, keepdim=keepdims)


def mean(x, axis, keepdims):
    return torch.mean(x, dim=axis, keepdim=keepdims)


def exp(x):
    return torch.exp(x)


def log(x):
    return torch.log(x)


def abs(x):
    return torch.abs(x)


def add(a, b):
    return torch.add(a, b)


def subtract(a, b):
    return torch.subtract(a, b)


def multiply(a, b):
    return torch.multiply(a, b)


def divide(a, b):
    return torch.divide(a, b)


def maximum(a, b):
    return torch.maximum(a, b)


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
        y = f(x).sum()
    if not y.requires_grad:  # nothing in f(x) is differentiable: autograd.grad would raise
        return torch.zeros_like(x)
    (gradient,) = torch.autograd.grad(y, x, allow_unused=True, materialize_grads=True)
    return gradient
