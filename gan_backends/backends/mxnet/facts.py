"""What the core knows about the MXNet backend, without importing MXNet."""

from gan_backends.backends import BackendInfo

FACTS = BackendInfo(
    name="mxnet", module="mxnet", pip_extra="mxnet", distribution="mxnet", order=3,
    engine="MXNet's KVStore dist_sync",
    launcher_variables=("DMLC_ROLE",), keras_name=None, tox_env="mxnet", image_layout="NCHW",
)  # fmt: skip
