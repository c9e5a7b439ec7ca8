"""The tensor facade on TensorFlow (arguments already checked by :mod:`gan_backends.ops`)."""

import numpy as np
import tensorflow as tf

__all__ = [
    "abs", "add", "astype", "concat", "divide", "dtype", "exp", "grad", "is_tensor", "leaky_relu",
    "log", "manual_seed", "matmul", "maximum", "mean", "multiply", "normal", "numpy", "ones",
    "relu", "reshape", "shape", "sigmoid", "stack", "subtract", "sum", "tanh", "tensor",
    "transpose", "zeros",
]  # fmt: skip


def is_tensor(x):
    return tf.is_tensor(x)


def dtype(x):
    return x.dtype.name


def astype(x, dtype):
    return tf.cast(x, dtype)


def tensor(array):
    return tf.constant(array)


def zeros(shape, dtype):
    return tf.zeros(shape, dtype=dtype)


def ones(shape, dtype):
    return tf.ones(shape, dtype=dtype)


def normal(shape, mean, std, dtype):
    return tf.random.normal(shape, mean, std, dtype=dtype)


def matmul(a, b):
    return tf.matmul(a, b)


def transpose(x, axes):
    return tf.transpose(x, axes)


def reshape(x, shape):
    return tf.reshape(x, shape)


def concat(tensors, axis):
    return tf.concat(tensors, axis)


def stack(tensors, axis):
    return tf.stack(tensors, axis)


def sum(x, axis, keepdims):
    return tf.reduce_sum(x, axis, keepdims)


def mean(x, axis, keepdims):
    return tf.reduce_mean(x, axis, keepdims)


def exp(x):
    return tf.exp(x)


def log(x):
    return tf.math.log(x)


def abs(x):
    return tf.abs(x)


def add(a, b):
    return tf.math.add(a, b)


def subtract(a, b):
    return tf.math.subtract(a, b)


def multiply(a, b):
    return tf.math.multiply(a, b)


def divide(a, b):
    return tf.math.truediv(a, b)


def maximum(a, b):
    return tf.maximum(a, b)


def relu(x):
    return tf.nn.relu(x)


def sigmoid(x):
    return tf.sigmoid(x)


def tanh(x):
    return tf.tanh(x)


def leaky_relu(x, alpha):
    return tf.where(x > 0, x, alpha * x)  # tf.nn.leaky_relu rounds alpha to float32


def numpy(x):
    return np.array(x)


def shape(x):
    return tuple(int(d) for d in x.shape)


def manual_seed(seed):
    tf.random.set_seed(seed)


def grad(f, x):
    x = tf.identity(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(f(x))
    return tape.gradient(y, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)
