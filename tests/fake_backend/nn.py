"""Dense networks as float64 NumPy weights, with the backward pass the trainer needs."""

import numpy as np

from gan_backends.architectures import LEAKY_SLOPE, Activation, Dense

__all__ = ["build", "forward", "get_weights", "owns", "set_weights"]


class Model:
    def __init__(self, network, dtype):
        for spec in network.layers:
            if not isinstance(spec, Dense | Activation):
                raise NotImplementedError(f"{type(spec).__name__} is not supported with fake")
        self.network, self.dtype = network, dtype  # computed in float64, reported in dtype
        self.weights = {name: np.zeros(shape) for name, shape in network.weight_shapes().items()}


def build(network, dtype):
    return Model(network, dtype)


def get_weights(model):
    return {name: value.astype(model.dtype) for name, value in model.weights.items()}


def set_weights(model, weights):
    for name in model.weights:
        model.weights[name] = np.array(weights[name], np.float64)


def forward(model, x, training):
    return apply(model, np.asarray(x, np.float64))[0].astype(np.float32)


def owns(model):
    return isinstance(model, Model)


def apply(model, x):
    """The output for ``x`` and each layer's (spec, input, output), for :func:`backward`."""
    trace = []
    for spec in model.network.layers:
        if isinstance(spec, Dense):
            y = x @ model.weights[f"{spec.name}.kernel"] + model.weights[f"{spec.name}.bias"]
        elif spec.function == "tanh":
            y = np.tanh(x)
        elif spec.function == "relu":
            y = np.maximum(x, 0)
        else:
            y = np.where(x > 0, x, LEAKY_SLOPE * x)
        trace.append((spec, x, y))
        x = y
    return x, trace


def backward(model, trace, gradient):
    """The gradients of the weights and of the input, given the output's ``gradient``."""
    gradients = {}
    for spec, x, y in reversed(trace):
        if isinstance(spec, Dense):
            gradients[f"{spec.name}.kernel"] = x.T @ gradient
            gradients[f"{spec.name}.bias"] = gradient.sum(axis=0)
            gradient = gradient @ model.weights[f"{spec.name}.kernel"].T
        elif spec.function == "tanh":
            gradient = gradient * (1 - y * y)
        elif spec.function == "relu":
            gradient = gradient * (x > 0)
        else:
            gradient = gradient * np.where(x > 0, 1.0, LEAKY_SLOPE)
    return gradients, gradient
