"""The TensorFlow backend (Keras 3 layers and optimizers, compiled with tf.function)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from gan_backends.backends.tensorflow import device, nn, ops, trainer

__all__ = ["device", "nn", "ops", "trainer"]
