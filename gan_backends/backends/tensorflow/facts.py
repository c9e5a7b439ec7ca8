"""What the core knows about the TensorFlow backend, without importing TensorFlow."""

from gan_backends.backends import BackendInfo

FACTS = BackendInfo(
    name="tensorflow", module="tensorflow", pip_extra="tensorflow", distribution="tensorflow-cpu",
    order=2, engine="tf.distribute with TF_CONFIG",
    launcher_variables=("TF_CONFIG",), keras_name="tensorflow", tox_env="tensorflow",
    image_layout="NHWC",
)  # fmt: skip
