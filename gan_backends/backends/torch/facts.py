"""What the core knows about the PyTorch backend, without importing PyTorch."""

from gan_backends.backends import BackendInfo

FACTS = BackendInfo(
    name="torch", module="torch", pip_extra="torch", distribution="torch", order=1,
    engine="torch.distributed with torchrun",
    launcher_variables=("TORCHELASTIC_RUN_ID", "WORLD_SIZE"), keras_name="torch",
    tox_env="torch", image_layout="NHWC",  # NCHW tensors in channels-last memory
)  # fmt: skip
