"""The PyTorch backend."""

from gan_backends.backends.torch import device, nn, ops, trainer

__all__ = ["device", "nn", "ops", "trainer"]
