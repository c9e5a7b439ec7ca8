"""d2l's TensorFlow code (d2l 20.1 and 20.2): eager, one step at a time.

Keras layers in Keras' own initialisation and defaults (batch norm epsilon 1e-3), images
channels-last (NHWC, as TensorFlow convolves on a CPU), ``GradientTape`` with no
``tf.function``, batch norm called with ``training=True``, ``BinaryCrossentropy(from_logits=True,
reduction="sum")`` scaled to PyTorch's sum, ``keras.optimizers.Adam`` (its default epsilon,
1e-7), a shuffling ``tf.data`` pipeline, noise drawn by ``tf.random.normal`` every step,
``update_D`` then ``update_G`` each running the generator, and both losses read back every step.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

from peers import Settings, Side


def networks(settings: Settings) -> tuple[keras.Model, keras.Model]:
    layers = keras.layers
    if settings.model == "gan":
        net_G = layers.Dense(2)
        net_D = keras.Sequential(
            [
                layers.Dense(5, activation="tanh"),
                layers.Dense(3, activation="tanh"),
                layers.Dense(1),
            ]
        )
        return net_G, net_D
    widths = settings.dcgan_widths()

    def g_block(out_channels: int, strides: int = 2, padding: str = "same"):
        return [
            layers.Conv2DTranspose(out_channels, 4, strides, padding, use_bias=False),
            layers.BatchNormalization(),
            layers.ReLU(),
        ]

    def d_block(out_channels: int):
        return [
            layers.Conv2D(out_channels, 4, 2, "same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(0.2),
        ]

    generator_layers = g_block(widths[-1], strides=1, padding="valid")
    for out_channels in widths[-2::-1]:
        generator_layers += g_block(out_channels)
    net_G = keras.Sequential(
        [
            *generator_layers,
            layers.Conv2DTranspose(3, 4, 2, "same", use_bias=False, activation="tanh"),
        ]
    )
    discriminator_layers = [layer for width in widths for layer in d_block(width)]
    net_D = keras.Sequential([*discriminator_layers, layers.Conv2D(1, 4, use_bias=False)])
    return net_G, net_D


def build(settings: Settings, data: np.ndarray) -> Side:
    gpus = tf.config.get_visible_devices("GPU")
    if settings.device == "gpu" and not gpus:
        raise RuntimeError("--device gpu, but TensorFlow sees no GPU")
    net_G, net_D = networks(settings)
    if settings.model == "dcgan":
        data = data.transpose(0, 2, 3, 1)  # channels-last, as TensorFlow convolves on a CPU
    latent_shape = settings.latent_shape[::-1]  # DCGAN noise (1, 1, latent_dim), channels-last
    # Keras averages over the last axis, here the batch, so "sum" is a batch mean: the seed
    # multiplies by the batch size to get PyTorch's sum.
    loss = keras.losses.BinaryCrossentropy(from_logits=True, reduction="sum")
    hyperparameters = settings.hyperparameters
    optimizer_D = keras.optimizers.Adam(
        learning_rate=hyperparameters.lr_D, beta_1=hyperparameters.beta1
    )
    optimizer_G = keras.optimizers.Adam(
        learning_rate=hyperparameters.lr_G, beta_1=hyperparameters.beta1
    )
    data_iter = (
        tf.data.Dataset.from_tensor_slices(data).shuffle(len(data)).batch(settings.batch_size)
    )

    def update_discriminator(X, Z):
        batch_size = X.shape[0]
        ones, zeros = tf.ones((batch_size,)), tf.zeros((batch_size,))
        fake_X = net_G(Z, training=True)  # outside the tape: no gradients for the generator
        with tf.GradientTape() as tape:
            real_Y = net_D(X, training=True)
            fake_Y = net_D(fake_X, training=True)
            loss_D = (
                (loss(ones, tf.squeeze(real_Y)) + loss(zeros, tf.squeeze(fake_Y))) * batch_size / 2
            )
        gradients = tape.gradient(loss_D, net_D.trainable_variables)
        optimizer_D.apply_gradients(zip(gradients, net_D.trainable_variables, strict=True))
        return loss_D

    def update_generator(Z):
        batch_size = Z.shape[0]
        ones = tf.ones((batch_size,))
        with tf.GradientTape() as tape:
            fake_Y = net_D(net_G(Z, training=True), training=True)
            loss_G = loss(ones, tf.squeeze(fake_Y)) * batch_size
        gradients = tape.gradient(loss_G, net_G.trainable_variables)
        optimizer_G.apply_gradients(zip(gradients, net_G.trainable_variables, strict=True))
        return loss_G

    def run_epoch() -> tuple[float, float]:
        total_D = total_G = 0.0
        examples = 0
        for X in data_iter:
            Z = tf.random.normal(mean=0, stddev=1, shape=(X.shape[0], *latent_shape))
            total_D += float(update_discriminator(X, Z))
            total_G += float(update_generator(Z))
            examples += X.shape[0]
        return total_D / examples, total_G / examples

    def trainable_parameters() -> int:
        variables = net_G.trainable_variables + net_D.trainable_variables
        return sum(int(np.prod(variable.shape)) for variable in variables)

    threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count() or 1
    device = "gpu:0" if gpus else "cpu"
    return Side(run_epoch, device, threads, trainable_parameters, "NHWC")
