"""The PyTorch backend."""

import os

# PyTorch's CPU threads are GNU OpenMP's, which spin while they wait for work: on cores that
# other processes share, the spinning threads and those processes take turns and a DCGAN step
# slows to a third (benchmarks/train_step.py --busy). Waiting passively costs nothing measurable
# on a quiet machine. libgomp reads this once, when torch loads it; --busy-wait sets ACTIVE.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from gan_backends.backends.torch import device, distributed, nn, ops, trainer

__all__ = ["device", "distributed", "nn", "ops", "trainer"]
