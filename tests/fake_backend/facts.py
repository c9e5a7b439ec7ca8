"""What the core knows about the fake backend."""

from gan_backends.backends import BackendInfo

FACTS = BackendInfo(
    name="fake", module="numpy", pip_extra="test", distribution="numpy", order=99,
    engine="none (one process)", launcher_variables=(), keras_name="numpy", tox_env="torch",
    image_layout="NCHW",
)  # fmt: skip
