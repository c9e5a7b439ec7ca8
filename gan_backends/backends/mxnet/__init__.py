"""The MXNet backend (Gluon blocks in NumPy mode, hybridized)."""

import os

# MXNet's operators run on one OpenMP thread unless told otherwise; use every core.
os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
# Its OpenMP threads are GNU libgomp's, which spin while they wait: see the torch backend.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from mxnet import npx

npx.set_np()

from gan_backends.backends.mxnet import device, distributed, nn, ops, trainer  # noqa: E402

__all__ = ["device", "distributed", "nn", "ops", "trainer"]
