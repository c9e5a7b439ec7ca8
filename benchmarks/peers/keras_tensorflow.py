"""Keras 3 on TensorFlow: a ``keras.Model`` whose ``train_step`` uses ``tf.GradientTape``.

``fit`` runs the step as a ``tf.function`` (no XLA on a CPU: ``jit_compile="auto"``). Images
channels-last (NHWC): TensorFlow convolves only channels-last on a CPU.
"""

import os

import tensorflow as tf
from keras import ops

from peers.keras_common import GAN

DATA_FORMAT = "channels_last"


class IdiomaticGAN(GAN):
    """keras.io's step: the discriminator's update runs the generator outside the tape, the
    generator's update runs it again under its own tape."""

    def train_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        generator, discriminator = self.generator, self.discriminator
        z = self.noise(ops.shape(x)[0])
        fake = generator(z, training=True)
        with tf.GradientTape() as tape:
            loss_D = self.discriminator_loss(
                discriminator(x, training=True), discriminator(fake, training=True)
            )
        update(self.optimizer_D, tape, loss_D, discriminator)
        with tf.GradientTape() as tape:
            loss_G = self.generator_loss(discriminator(generator(z, training=True), training=True))
        update(self.optimizer_G, tape, loss_G, generator)
        return self.record(loss_D, loss_G)


class EqualWorkGAN(GAN):
    """The library's work: one generator forward, recorded on the generator's tape, serves both
    updates."""

    def train_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        generator, discriminator = self.generator, self.discriminator
        z = self.noise(ops.shape(x)[0])
        with tf.GradientTape() as generator_tape:
            fake = generator(z, training=True)
            with tf.GradientTape() as tape:
                loss_D = self.discriminator_loss(
                    discriminator(x, training=True),
                    discriminator(tf.stop_gradient(fake), training=True),
                )
            update(self.optimizer_D, tape, loss_D, discriminator)
            loss_G = self.generator_loss(discriminator(fake, training=True))
        update(self.optimizer_G, generator_tape, loss_G, generator)
        return self.record(loss_D, loss_G)


def update(optimizer, tape, loss, network):
    weights = network.trainable_weights
    optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights, strict=True))


VARIANTS = {"idiomatic": IdiomaticGAN, "equal-work": EqualWorkGAN}


def device() -> str:
    return "gpu:0" if tf.config.get_visible_devices("GPU") else "cpu"


def threads() -> int:
    return tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count() or 1
