"""Native Keras networks built from architecture specs, with canonical weights in and out.

TensorFlow convolves channels-last on a CPU, so image networks take and return the public
NCHW layout and permute to NHWC inside, at their boundary.
"""

import keras
import numpy as np

from gan_backends.architectures import (
    BN_EPSILON,
    BN_MOMENTUM,
    LEAKY_SLOPE,
    Activation,
    BatchNorm,
    Conv,
    Dense,
)
from gan_backends.layouts import to_canonical, to_native

__all__ = ["build", "forward", "get_weights", "owns", "set_weights"]

ACTIVATIONS = {
    "relu": lambda **named: keras.layers.ReLU(**named),
    "tanh": lambda **named: keras.layers.Activation("tanh", **named),
    "leaky_relu": lambda **named: keras.layers.LeakyReLU(LEAKY_SLOPE, **named),
}


def exact_leaky_relu(x):
    """Leaky ReLU with its slope in the input's dtype: ``LeakyReLU``'s op takes the slope as a
    float32 attribute, 3e-9 off 0.2, which float64 models would see."""
    return keras.ops.where(x > 0, x, x * LEAKY_SLOPE)


KERNEL_AXES = (2, 3, 1, 0)  # (out, in, k, k) -> (k, k, in, out); transposed: (k, k, out, in)


def _conv(spec, size, dtype):
    """Keras layers for a convolution spec whose input is ``size`` pixels square."""
    p, k, s = spec.padding, spec.kernel_size, spec.stride
    conv = keras.layers.Conv2DTranspose if spec.transposed else keras.layers.Conv2D
    # "same" pads k - s in all (on sizes the stride divides), half of it before: PyTorch's
    # symmetric padding when that is 2p, without copying the activations into a padded (or out
    # of a cropped) tensor.
    if p and k - s == 2 * p and (spec.transposed or size % s == 0):
        return [conv(spec.out_channels, k, s, "same", use_bias=False, name=spec.name, dtype=dtype)]
    layer = conv(spec.out_channels, k, s, use_bias=False, name=spec.name, dtype=dtype)
    if not p:
        return [layer]
    if spec.transposed:
        return [layer, keras.layers.Cropping2D(p, name=f"{spec.name}_crop", dtype=dtype)]
    return [keras.layers.ZeroPadding2D(p, name=f"{spec.name}_pad", dtype=dtype), layer]


def _layers(spec, size, dtype):
    if isinstance(spec, Dense):
        return [keras.layers.Dense(spec.out_features, name=spec.name, dtype=dtype)]
    if isinstance(spec, Conv):
        return _conv(spec, size, dtype)
    if isinstance(spec, BatchNorm):
        return [
            keras.layers.BatchNormalization(
                momentum=1.0 - BN_MOMENTUM, epsilon=BN_EPSILON, name=spec.name, dtype=dtype
            )
        ]
    if isinstance(spec, Activation):
        if spec.function == "leaky_relu" and dtype != "float32":
            return [keras.layers.Activation(exact_leaky_relu, name=spec.name, dtype=dtype)]
        return [ACTIVATIONS[spec.function](name=spec.name, dtype=dtype)]
    raise NotImplementedError(f"{type(spec).__name__} is not supported with tensorflow")


def build(network, dtype):
    layers = [keras.Input(shape=network.input_shape, dtype=dtype)]
    if network.is_image:
        layers.append(keras.layers.Permute((2, 3, 1), name="to_channels_last", dtype=dtype))
    size = network.input_shape[-1]
    for spec in network.layers:
        layers.extend(_layers(spec, size, dtype))
        if isinstance(spec, Conv):
            size = spec.output_size(size)
    if network.is_image:
        layers.append(keras.layers.Permute((3, 1, 2), name="to_channels_first", dtype=dtype))
    model = keras.Sequential(layers, name=network.name)
    model.network = network
    return model


def slots(model):
    """Canonical name -> (native variable, axes taking the canonical layout to the native one)."""
    table = {}
    for spec in model.network.layers:
        if isinstance(spec, Activation):
            continue
        layer = model.get_layer(spec.name)
        if isinstance(spec, Dense):
            table[f"{spec.name}.kernel"] = (layer.kernel, None)
            table[f"{spec.name}.bias"] = (layer.bias, None)
        elif isinstance(spec, Conv):
            table[f"{spec.name}.kernel"] = (layer.kernel, KERNEL_AXES)
        elif isinstance(spec, BatchNorm):
            table[f"{spec.name}.gamma"] = (layer.gamma, None)
            table[f"{spec.name}.beta"] = (layer.beta, None)
            table[f"{spec.name}.moving_mean"] = (layer.moving_mean, None)
            table[f"{spec.name}.moving_var"] = (layer.moving_variance, None)
    return table


def get_weights(model):
    return {
        name: to_canonical(np.asarray(variable), axes)
        for name, (variable, axes) in slots(model).items()
    }


def set_weights(model, weights):
    for name, (variable, axes) in slots(model).items():
        variable.assign(to_native(weights[name], axes))


def forward(model, x, training):
    return np.asarray(model(x.astype(model.weights[0].dtype, copy=False), training=training))


def owns(model):
    return isinstance(model, keras.Model) and hasattr(model, "network")
