"""The JAX backend (``jax.numpy`` and ``lax``, a run of training steps as one ``jax.jit``).

JAX computes in 32 bits unless ``jax_enable_x64`` is on: float64 and int64 arrays silently
become float32 and int32. The facade promises both, so importing this backend turns it on for
the whole process, and code of your own that relies on JAX's 32-bit defaults (``jnp.arange(3)``
being int32) sees 64-bit ones instead. The networks, the training step and every array this
backend makes for them are float32 explicitly, so training computes exactly as with the flag
off.
"""

import jax

jax.config.update("jax_enable_x64", True)

from gan_backends.backends.jax import device, distributed, nn, ops, trainer  # noqa: E402

__all__ = ["device", "distributed", "nn", "ops", "trainer"]
