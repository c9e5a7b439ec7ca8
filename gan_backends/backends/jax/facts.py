"""What the core knows about the JAX backend, without importing JAX."""

from gan_backends.backends import BackendInfo

FACTS = BackendInfo(
    name="jax", module="jax", pip_extra="jax", distribution="jax", order=4,
    engine="jax.distributed", launcher_variables=("JAX_COORDINATOR_ADDRESS",), keras_name="jax",
    tox_env="jax", image_layout="NHWC",
)  # fmt: skip
