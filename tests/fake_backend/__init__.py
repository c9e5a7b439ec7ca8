"""A test-only backend on NumPy alone: the proof that a backend is one folder and one row.

Registered only by tests (``GAN_EXTRA_BACKENDS=fake=tests.fake_backend``, or a row added to
:data:`gan_backends.backends.REGISTRY`). It trains the GAN (dense layers) in float64 with
hand-written backward passes and Adam; what it lacks raises ``NotImplementedError``.
"""

from tests.fake_backend import device, distributed, nn, ops, trainer

__all__ = ["device", "distributed", "nn", "ops", "trainer"]
