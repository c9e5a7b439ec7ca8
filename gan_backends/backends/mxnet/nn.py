"""Native Gluon networks built from architecture specs, with canonical weights in and out."""

from mxnet import autograd, gluon
from mxnet import np as mnp
from mxnet.gluon import nn

from gan_backends.architectures import (
    BN_EPSILON,
    BN_MOMENTUM,
    LEAKY_SLOPE,
    Activation,
    BatchNorm,
    Conv,
    Dense,
)
from gan_backends.backends.mxnet.device import CONTEXT
from gan_backends.layouts import to_canonical, to_native

__all__ = ["build", "forward", "get_weights", "owns", "set_weights"]

ACTIVATIONS = {
    "relu": lambda: nn.Activation("relu"),
    "tanh": lambda: nn.Activation("tanh"),
    "leaky_relu": lambda: nn.LeakyReLU(LEAKY_SLOPE),
}


class ExactLeakyReLU(gluon.HybridBlock):
    """Leaky ReLU with its slope in the input's dtype: ``nn.LeakyReLU`` takes the slope as a
    float32 parameter, 1.5e-8 off 0.2, which float64 models would see."""

    def hybrid_forward(self, F, x):
        return F.np.where(x > 0, x, x * LEAKY_SLOPE)


def _layer(spec, dtype):
    if isinstance(spec, Dense):
        return nn.Dense(spec.out_features, in_units=spec.in_features)
    if isinstance(spec, Conv):
        conv = nn.Conv2DTranspose if spec.transposed else nn.Conv2D
        return conv(
            spec.out_channels, spec.kernel_size, spec.stride, spec.padding,
            in_channels=spec.in_channels, use_bias=False,
        )  # fmt: skip
    if isinstance(spec, BatchNorm):
        return nn.BatchNorm(
            momentum=1.0 - BN_MOMENTUM, epsilon=BN_EPSILON, in_channels=spec.channels
        )
    if isinstance(spec, Activation):
        if spec.function == "leaky_relu" and dtype != "float32":
            return ExactLeakyReLU()
        return ACTIVATIONS[spec.function]()
    raise NotImplementedError(f"{type(spec).__name__} is not supported with mxnet")


def build(network, dtype):
    model = nn.HybridSequential()
    for spec in network.layers:
        model.add(_layer(spec, dtype))
    model.initialize(ctx=CONTEXT)
    model.cast(dtype)
    model.network = network
    return model


def slots(model):
    """Canonical name -> (native parameter, axes taking the canonical layout to the native one)."""
    table = {}
    for spec, layer in zip(model.network.layers, model, strict=True):
        if isinstance(spec, Dense):
            table[f"{spec.name}.kernel"] = (layer.weight, (1, 0))
            table[f"{spec.name}.bias"] = (layer.bias, None)
        elif isinstance(spec, Conv):
            table[f"{spec.name}.kernel"] = (layer.weight, None)
        elif isinstance(spec, BatchNorm):
            table[f"{spec.name}.gamma"] = (layer.gamma, None)
            table[f"{spec.name}.beta"] = (layer.beta, None)
            table[f"{spec.name}.moving_mean"] = (layer.running_mean, None)
            table[f"{spec.name}.moving_var"] = (layer.running_var, None)
    return table


def get_weights(model):
    return {
        name: to_canonical(parameter.data().asnumpy(), axes)
        for name, (parameter, axes) in slots(model).items()
    }


def set_weights(model, weights):
    for name, (parameter, axes) in slots(model).items():
        parameter.set_data(mnp.array(to_native(weights[name], axes), dtype=parameter.dtype))


def forward(model, x, training):
    x = mnp.array(x, ctx=CONTEXT, dtype=next(iter(model.collect_params().values())).dtype)
    if not training:
        with autograd.predict_mode():
            return model(x).asnumpy()
    # MXNet moves batch norm's statistics in the backward pass: run one, so that a
    # training-mode forward moves them as on the other backends.
    with autograd.record():
        y = model(x)
    y.backward()
    return y.asnumpy()


def owns(model):
    return isinstance(model, gluon.Block) and hasattr(model, "network")
