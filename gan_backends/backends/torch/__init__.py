"""The PyTorch backend."""

from gan_backends.backends.torch import device, distributed, nn, ops, trainer

__all__ = ["device", "distributed", "nn", "ops", "trainer"]
