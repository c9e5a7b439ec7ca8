"""Native PyTorch networks built from architecture specs, with canonical weights in and out."""

from collections import OrderedDict

import torch
from torch import nn

from gan_backends.architectures import (
    BN_EPSILON,
    BN_MOMENTUM,
    LEAKY_SLOPE,
    Activation,
    BatchNorm,
    Conv,
    Dense,
)
from gan_backends.backends.torch.device import DEVICE
from gan_backends.layouts import to_canonical, to_native

__all__ = ["build", "forward", "get_weights", "owns", "set_weights"]

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "leaky_relu": lambda: nn.LeakyReLU(LEAKY_SLOPE),
}


class BiasedBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose moving variance tracks the biased batch variance, as in Keras and MXNet.

    PyTorch's own layer updates it with the unbiased variance; normalisation itself is the same.
    The batch variance comes from the kernel's saved inverse standard deviation, not a second
    pass over the activations.
    """

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        y, mean, inverse_std = torch.native_batch_norm(
            x, self.weight, self.bias, None, None, True, 0.0, self.eps
        )
        with torch.no_grad():
            dtype = self.running_mean.dtype  # bfloat16 statistics under autocast
            variance = (inverse_std.to(dtype) ** -2 - self.eps).clamp_(min=0.0)
            self.running_mean.lerp_(mean.to(dtype), self.momentum)
            self.running_var.lerp_(variance, self.momentum)
        return y


def _layer(spec):
    if isinstance(spec, Dense):
        return nn.Linear(spec.in_features, spec.out_features)
    if isinstance(spec, Conv):
        conv = nn.ConvTranspose2d if spec.transposed else nn.Conv2d
        return conv(
            spec.in_channels, spec.out_channels, spec.kernel_size, spec.stride, spec.padding,
            bias=False,
        )  # fmt: skip
    if isinstance(spec, BatchNorm):
        return BiasedBatchNorm2d(spec.channels, eps=BN_EPSILON, momentum=BN_MOMENTUM)
    if isinstance(spec, Activation):
        return ACTIVATIONS[spec.function]()
    raise NotImplementedError(f"{type(spec).__name__} is not supported with torch")


def build(network, dtype):
    model = nn.Sequential(OrderedDict((layer.name, _layer(layer)) for layer in network.layers))
    model.network = network
    return model.to(DEVICE, getattr(torch, dtype))


def slots(model):
    """Canonical name -> (native tensor, axes taking the canonical layout to the native one)."""
    table = {}
    for spec in model.network.layers:
        layer = getattr(model, spec.name)
        if isinstance(spec, Dense):
            table[f"{spec.name}.kernel"] = (layer.weight, (1, 0))
            table[f"{spec.name}.bias"] = (layer.bias, None)
        elif isinstance(spec, Conv):
            table[f"{spec.name}.kernel"] = (layer.weight, None)
        elif isinstance(spec, BatchNorm):
            table[f"{spec.name}.gamma"] = (layer.weight, None)
            table[f"{spec.name}.beta"] = (layer.bias, None)
            table[f"{spec.name}.moving_mean"] = (layer.running_mean, None)
            table[f"{spec.name}.moving_var"] = (layer.running_var, None)
    return table


def get_weights(model):
    return {
        name: to_canonical(tensor.detach().cpu().numpy(), axes)
        for name, (tensor, axes) in slots(model).items()
    }


def set_weights(model, weights):
    with torch.no_grad():
        for name, (tensor, axes) in slots(model).items():
            tensor.copy_(torch.from_numpy(to_native(weights[name], axes)))


def forward(model, x, training):
    model.train(training)
    dtype = next(model.parameters()).dtype
    with torch.no_grad():
        return model(torch.from_numpy(x).to(DEVICE, dtype)).cpu().numpy()


def owns(model):
    return isinstance(model, nn.Module) and hasattr(model, "network")
