"""Where TensorFlow computes: its default placement (a GPU when it sees one), or the CPU only
when GAN_DEVICE=cpu."""

import os

import tensorflow as tf

__all__ = ["describe", "framework_version", "threads"]

if os.environ.get("GAN_DEVICE") == "cpu":
    tf.config.set_visible_devices([], "GPU")


def describe():
    return "gpu:0" if tf.config.get_visible_devices("GPU") else "cpu"


def framework_version():
    return tf.__version__


def threads():
    return tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
