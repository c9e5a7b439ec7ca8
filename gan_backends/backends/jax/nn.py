"""Networks as pure functions of their weights, built from architecture specs.

A model is a :class:`Model`: the spec and its state, JAX arrays by canonical name: ``params``
(what Adam trains) and ``stats`` (batch norm's moving statistics). :func:`apply_native` runs a
network and returns the statistics that a training-mode pass moved; the training step calls it
directly on channels-last images, which XLA's CPU convolutions run up to 12% faster than
channels-first ones (measured). Kernels are stored as TensorFlow stores them: ``(k, k, in, out)``,
and ``(k, k, out, in)`` for transposed convolutions.

XLA differentiates each kind of convolution into the other kind, and on a CPU it runs a
transposed convolution in its textbook form (the input dilated with zeros) 3 to 5 times slower
than a strided one on jax 0.4.30, and its kernel gradient dozens of times slower still
(jax-ml/jax#23783). So :func:`conv` and :func:`conv_transpose` have their own gradients, written
with the forms that XLA runs well: strided convolutions, their kernel gradients, and
:func:`_conv_transpose`, a transposed convolution without dilation.
"""

import contextlib
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

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

KERNEL_AXES = (2, 3, 1, 0)  # (out, in, k, k) -> (k, k, in, out); transposed: (k, k, out, in)
DIMENSIONS = ("NHWC", "HWIO", "NHWC")  # a transposed kernel read this way maps out to in
STATISTICS = ("moving_mean", "moving_var")
ACTIVATIONS = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    # jax.nn.leaky_relu's gradient at 0 is 1; the other frameworks' is the slope.
    "leaky_relu": lambda x: jnp.where(x > 0, x, LEAKY_SLOPE * x),
}
HIGHEST = lax.Precision.HIGHEST  # float32 products on GPUs too, not TensorFloat-32


class Model:
    """An architecture spec and its weights: ``params`` and ``stats``, JAX arrays by canonical
    name, kernels in the layout above, in ``dtype``. Training replaces the arrays; the object
    stays."""

    def __init__(self, network, params, stats, dtype):
        self.network, self.params, self.stats, self.dtype = network, params, stats, dtype


def precision(dtype):
    """A context in which JAX computes in ``dtype``: float64 needs JAX's x64 mode, switched on
    only inside (it is a global setting that changes every other JAX code's default dtypes)."""
    if dtype == "float32":
        return contextlib.nullcontext()
    if hasattr(jax, "enable_x64"):  # jax >= 0.5
        return jax.enable_x64(True)
    from jax.experimental import enable_x64

    return enable_x64()


def _conv(x, kernel, stride, padding):
    return lax.conv_general_dilated(
        x, kernel, (stride, stride), [(padding, padding)] * 2,
        dimension_numbers=DIMENSIONS, precision=HIGHEST,
    )  # fmt: skip


def _conv_transpose(x, kernel, stride, padding, size):
    """The input gradient of ``_conv`` (from ``size`` pixels square) with a ``(k, k, out, in)``
    kernel: PyTorch's ``conv_transpose2d``.

    Output pixel ``s * q + a`` (``s`` the stride, ``a < s`` its phase) sums the kernel taps
    ``a, a + s, ...`` only, so each phase is a stride-1 convolution with a sub-kernel; one
    convolution computes all ``s * s`` phases as channels, which are then interleaved into
    pixels. No zeros are multiplied, as they are in the dilated form.
    """
    k, _, out_channels, in_channels = kernel.shape
    taps = -(-k // stride)
    kernel = jnp.pad(kernel, [(0, stride * taps - k)] * 2 + [(0, 0)] * 2)
    # Tap ky = stride * j + a: (j, a, l, b, out, in), j and l reversed -> (j, l, in, (a, b, out)).
    kernel = kernel.reshape(taps, stride, taps, stride, out_channels, in_channels)
    kernel = jnp.flip(kernel, (0, 2)).transpose(0, 2, 5, 1, 3, 4)
    kernel = kernel.reshape(taps, taps, in_channels, stride * stride * out_channels)
    phases = lax.conv_general_dilated(
        x, kernel, (1, 1), [(taps - 1, taps - 1)] * 2,
        dimension_numbers=DIMENSIONS, precision=HIGHEST,
    )  # fmt: skip
    n, q = phases.shape[:2]
    y = phases.reshape(n, q, q, stride, stride, out_channels).transpose(0, 1, 3, 2, 4, 5)
    y = y.reshape(n, q * stride, q * stride, out_channels)
    # Past the last phase the output is zeros: pixels a strided convolution skipped (where
    # size + 2 * padding - k is not a multiple of the stride) get no gradient.
    beyond = max(0, padding + size - q * stride)
    y = jnp.pad(y, [(0, 0), (0, beyond), (0, beyond), (0, 0)])
    return y[:, padding : padding + size, padding : padding + size]


def _kernel_gradient(x, gradient, kernel, stride, padding):
    """The gradient of ``sum(_conv(x, kernel) * gradient)`` with respect to ``kernel``."""
    return jax.vjp(lambda kernel: _conv(x, kernel, stride, padding), kernel)[1](gradient)[0]


@partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv(x, kernel, stride, padding):
    """PyTorch's ``conv2d`` without bias."""
    return _conv(x, kernel, stride, padding)


def _conv_forward(x, kernel, stride, padding):
    return _conv(x, kernel, stride, padding), (x, kernel)


def _conv_backward(stride, padding, residuals, gradient):
    x, kernel = residuals
    return (
        _conv_transpose(gradient, kernel, stride, padding, x.shape[1]),
        _kernel_gradient(x, gradient, kernel, stride, padding),
    )


conv.defvjp(_conv_forward, _conv_backward)


@partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def conv_transpose(x, kernel, stride, padding, size):
    """PyTorch's ``conv_transpose2d`` without bias, to ``size`` pixels square."""
    return _conv_transpose(x, kernel, stride, padding, size)


def _conv_transpose_forward(x, kernel, stride, padding, size):
    return _conv_transpose(x, kernel, stride, padding, size), (x, kernel)


def _conv_transpose_backward(stride, padding, size, residuals, gradient):
    x, kernel = residuals
    return (
        _conv(gradient, kernel, stride, padding),
        _kernel_gradient(gradient, x, kernel, stride, padding),
    )


conv_transpose.defvjp(_conv_transpose_forward, _conv_transpose_backward)


def _channel_mean(x):
    """The mean of each channel (the last axis), over each example's pixels first: XLA sums a
    single float32 reduction in one long chain, which loses five times the digits (measured,
    against PyTorch's batch norm)."""
    return jnp.mean(jnp.mean(x, tuple(range(1, x.ndim - 1))), 0)


def _batch_norm(name, params, stats, x, training):
    """``x`` normalised per channel (its last axis), and the moving statistics it moved."""
    mean, var = stats[f"{name}.moving_mean"], stats[f"{name}.moving_var"]
    moved = {}
    if training:
        batch_mean = _channel_mean(x)
        batch_var = _channel_mean(jnp.square(x - batch_mean))  # biased
        moved = {
            f"{name}.moving_mean": mean + BN_MOMENTUM * (batch_mean - mean),
            f"{name}.moving_var": var + BN_MOMENTUM * (batch_var - var),
        }
        mean, var = batch_mean, batch_var
    scale = params[f"{name}.gamma"] * lax.rsqrt(var + BN_EPSILON)
    return (x - mean) * scale + params[f"{name}.beta"], moved


def apply_native(network, params, stats, x, training):
    """(output, statistics after the pass) for ``x`` with images channels-last."""
    stats = dict(stats)
    for spec in network.layers:
        if isinstance(spec, Dense):
            x = jnp.matmul(x, params[f"{spec.name}.kernel"], precision=HIGHEST)
            x = x + params[f"{spec.name}.bias"]
        elif isinstance(spec, Conv):
            kernel = params[f"{spec.name}.kernel"]
            if spec.transposed:
                size = spec.output_size(x.shape[1])
                x = conv_transpose(x, kernel, spec.stride, spec.padding, size)
            else:
                x = conv(x, kernel, spec.stride, spec.padding)
        elif isinstance(spec, BatchNorm):
            x, moved = _batch_norm(spec.name, params, stats, x, training)
            stats.update(moved)
        elif isinstance(spec, Activation):
            x = ACTIVATIONS[spec.function](x)
        else:
            raise NotImplementedError(f"{type(spec).__name__} is not supported with jax")
    return x, stats


def to_native_images(x):
    """Images (N, C, H, W) as (N, H, W, C); any other array as it is."""
    return jnp.transpose(x, (0, 2, 3, 1)) if x.ndim == 4 else x


def to_public_images(x):
    return jnp.transpose(x, (0, 3, 1, 2)) if x.ndim == 4 else x


@partial(jax.jit, static_argnums=(0, 4))
def apply(network, params, stats, x, training):
    """:func:`apply_native` on the public layout."""
    y, stats = apply_native(network, params, stats, to_native_images(x), training)
    return to_public_images(y), stats


def slots(network):
    """Canonical name -> axes taking the canonical layout to the native one."""
    return {
        name: KERNEL_AXES if len(shape) == 4 else None
        for name, shape in network.weight_shapes().items()
    }


def build(network, dtype):
    model = Model(network, {}, {}, dtype)
    set_weights(model, {name: np.zeros(shape) for name, shape in network.weight_shapes().items()})
    return model


def get_weights(model):
    arrays = model.params | model.stats
    return {
        name: to_canonical(np.asarray(arrays[name]), axes)
        for name, axes in slots(model.network).items()
    }


def set_weights(model, weights):
    model.params, model.stats = {}, {}
    with precision(model.dtype):
        for name, axes in slots(model.network).items():
            # A copy: on a CPU, jnp.asarray may share the caller's NumPy memory.
            value = jnp.array(to_native(weights[name], axes), model.dtype)
            (model.stats if name.endswith(STATISTICS) else model.params)[name] = value


def forward(model, x, training):
    with precision(model.dtype):
        x = jnp.asarray(x, model.dtype)
        y, stats = apply(model.network, model.params, model.stats, x, training)
    if training:
        model.stats = stats
    return np.array(y)


def owns(model):
    return isinstance(model, Model)
