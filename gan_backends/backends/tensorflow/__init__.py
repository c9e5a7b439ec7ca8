"""The TensorFlow backend (Keras 3 layers and optimizers, compiled with tf.function)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow turns its oneDNN kernels on by default only on some Intel CPUs; elsewhere (this
# project's AMD machines) its convolutions run 1.4x slower without them.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from gan_backends.backends.quiet import native_stderr_silenced

# TensorFlow's C++ side logs twice at import, before TF_CPP_MIN_LOG_LEVEL applies.
with native_stderr_silenced():
    import tensorflow  # noqa: F401

from gan_backends.backends.tensorflow import device, distributed, nn, ops, trainer

__all__ = ["device", "distributed", "nn", "ops", "trainer"]
