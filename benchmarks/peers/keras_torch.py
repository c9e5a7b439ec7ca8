"""Keras 3 on PyTorch: a ``keras.Model`` whose ``train_step`` calls ``backward()`` and hands the
gradients to Keras' optimizers.

``fit`` runs the step eagerly (``jit_compile="auto"`` does not ``torch.compile`` it). Images
channels-last (NHWC), Keras' default: its PyTorch convolutions permute to NCHW and back around
each call.
"""

import torch
from keras import ops

from peers.keras_common import GAN

DATA_FORMAT = "channels_last"


class IdiomaticGAN(GAN):
    """keras.io's PyTorch step: ``zero_grad``, ``backward()``, the ``.grad`` of each weight. As
    there, the discriminator's loss backpropagates into the generator as well, and the
    generator's into the discriminator's weights (those gradients are cleared unused)."""

    def train_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        generator, discriminator = self.generator, self.discriminator
        z = self.noise(ops.shape(x)[0])
        fake = generator(z, training=True)
        self.zero_grad()
        loss_D = self.discriminator_loss(
            discriminator(x, training=True), discriminator(fake, training=True)
        )
        loss_D.backward()
        self.apply(self.optimizer_D, discriminator)
        self.zero_grad()
        loss_G = self.generator_loss(discriminator(generator(z, training=True), training=True))
        loss_G.backward()
        self.apply(self.optimizer_G, generator)
        return self.record(loss_D, loss_G)

    @staticmethod
    def apply(optimizer, network):
        gradients = [weight.value.grad for weight in network.trainable_weights]
        with torch.no_grad():
            optimizer.apply(gradients, network.trainable_weights)


class EqualWorkGAN(GAN):
    """The library's work: one generator forward serves both updates, and ``torch.autograd.grad``
    computes only the gradients each update needs."""

    def train_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        generator, discriminator = self.generator, self.discriminator
        z = self.noise(ops.shape(x)[0])
        fake = generator(z, training=True)
        loss_D = self.discriminator_loss(
            discriminator(x, training=True), discriminator(fake.detach(), training=True)
        )
        self.apply(self.optimizer_D, discriminator, loss_D)
        loss_G = self.generator_loss(discriminator(fake, training=True))
        self.apply(self.optimizer_G, generator, loss_G)
        return self.record(loss_D.detach(), loss_G.detach())

    @staticmethod
    def apply(optimizer, network, loss):
        weights = network.trainable_weights
        gradients = torch.autograd.grad(loss, [weight.value for weight in weights])
        with torch.no_grad():
            optimizer.apply(list(gradients), weights)


VARIANTS = {"idiomatic": IdiomaticGAN, "equal-work": EqualWorkGAN}


def device() -> str:
    return str(ops.zeros(()).device)  # where Keras puts tensors (KERAS_TORCH_DEVICE, else cuda)


def threads() -> int:
    return torch.get_num_threads()
