"""The cost of XLA's transposed convolutions on a CPU (jax-ml/jax#23783), on the DCGAN generator.

    PYTHONPATH=. python benchmarks/jax_conv_transpose.py --batch-size 64 --repeats 5

Times one forward and backward pass (the gradients of every weight and of the noise, batch norm
in training mode) of the library's generator, compiled by ``jax.jit``, with its transposed
convolutions in two forms: ``lax.conv_transpose`` as it is, which XLA differentiates into a
convolution of the zero-dilated input and a kernel gradient that it runs slowly, and the
library's (``gan_backends.backends.jax.nn.conv_transpose``: stride phases as channels of one
stride-1 convolution, with gradients written as strided convolutions). Checks first that both
forms compute the same outputs and gradients.
"""

from __future__ import annotations

import argparse
import statistics
import time
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import gan_backends as gb
from gan_backends import models
from gan_backends.backends.jax import nn


def textbook_conv_transpose(x, kernel, stride, padding, size):
    """PyTorch's ``conv_transpose2d`` as ``lax.conv_transpose`` (``kernel``: (k, k, out, in))."""
    edge = kernel.shape[0] - 1 - padding
    y = lax.conv_transpose(
        x, kernel, (stride, stride), [(edge, edge)] * 2, dimension_numbers=nn.DIMENSIONS,
        transpose_kernel=True, precision=nn.HIGHEST,
    )  # fmt: skip
    return y[:, :size, :size]


def generator_gradients(generator):
    """A jitted ``(params, z) -> gradients of sum(G(z)^2)`` for both weights and noise."""

    def loss(params, z):
        y, _ = nn.apply_native(generator.network, params, generator.stats, z, True)
        return jnp.sum(jnp.square(y))

    return jax.jit(jax.grad(loss, argnums=(0, 1)))


def seconds(function, arguments, repeats: int) -> float:
    jax.block_until_ready(function(*arguments))  # compiles
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(function(*arguments))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    generator = models.dcgan_generator(
        latent_dim=100, width=args.width, image_size=args.image_size, seed=0
    )
    rng = np.random.default_rng(0)
    z = jnp.asarray(rng.standard_normal((args.batch_size, 1, 1, 100), np.float32))
    # The forms are checked in float64: in float32 they differ by up to 2e-3 of the largest
    # gradient here (sums in other orders; batch norm's gradient cancels much of what it sums).
    params64 = jax.tree.map(lambda w: w.astype(jnp.float64), generator.params)
    z64 = z[:4].astype(jnp.float64)
    library = generator_gradients(generator)
    with mock.patch.object(nn, "conv_transpose", textbook_conv_transpose):
        textbook = generator_gradients(generator)
        expected = textbook(params64, z64)  # traced with the textbook form while patched
        textbook(generator.params, z)
    for ours, theirs in zip(
        jax.tree.leaves(library(params64, z64)), jax.tree.leaves(expected), strict=True
    ):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)
    print(
        f"DCGAN generator {args.image_size}x{args.image_size}, width {args.width}, batch "
        f"{args.batch_size}, jax {jax.__version__}: one forward and backward, median of "
        f"{args.repeats}"
    )
    textbook_seconds = seconds(textbook, (generator.params, z), args.repeats)
    library_seconds = seconds(library, (generator.params, z), args.repeats)
    print(f"lax.conv_transpose        {textbook_seconds * 1000:10.1f} ms")
    print(f"the library's form        {library_seconds * 1000:10.1f} ms")
    print(f"lax.conv_transpose / library: {textbook_seconds / library_seconds:.2f}x")


if __name__ == "__main__":
    gb.set_backend("jax")
    main()
