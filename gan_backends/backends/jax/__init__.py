"""The JAX backend (``jax.numpy`` and ``lax``, a run of training steps as one ``jax.jit``).

JAX's x64 mode is switched on only inside the facade's ops and float64 training, never for the
process: code of your own keeps JAX's 32-bit defaults.
"""

from gan_backends.backends.jax import device, distributed, nn, ops, trainer

__all__ = ["device", "distributed", "nn", "ops", "trainer"]
