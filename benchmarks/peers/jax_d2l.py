"""d2l 20.1 and 20.2 the way a JAX user writes them without a layers library (d2l has no JAX
edition): networks as functions of a dict of weights, images channels-last (NHWC, JAX's and
Flax's default), ``lax.conv_general_dilated`` and ``lax.conv_transpose`` as they are, batch norm
with batch statistics and moving averages, Adam written out (optax's form: epsilon added to the
bias-corrected sqrt(v)), ``jax.jit`` around each update, a NumPy permutation per epoch, noise
drawn by ``jax.random.normal`` every step, ``update_discriminator`` then ``update_generator``
each running the generator, and both losses read back every step.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from peers import LATENT_DIM, Settings, Side

Weights = dict[str, Any]
BN_MOMENTUM, BN_EPSILON = 0.9, 1e-5
NHWC = ("NHWC", "HWIO", "NHWC")


def _dense(weights: Weights, name: str, x: jax.Array) -> jax.Array:
    return x @ weights[f"{name}.kernel"] + weights[f"{name}.bias"]


def _batch_norm(
    weights: Weights, stats: Weights, name: str, x: jax.Array
) -> tuple[jax.Array, Weights]:
    mean, var = jnp.mean(x, (0, 1, 2)), jnp.var(x, (0, 1, 2))
    y = (x - mean) * lax.rsqrt(var + BN_EPSILON) * weights[f"{name}.scale"] + weights[
        f"{name}.bias"
    ]
    moved = {
        f"{name}.mean": BN_MOMENTUM * stats[f"{name}.mean"] + (1 - BN_MOMENTUM) * mean,
        f"{name}.var": BN_MOMENTUM * stats[f"{name}.var"] + (1 - BN_MOMENTUM) * var,
    }
    return y, moved


def networks(settings: Settings) -> tuple[Callable, Callable]:
    """(generator, discriminator): ``f(weights, stats, x) -> (y, stats)``, training mode."""
    if settings.model == "gan":

        def generator(weights, stats, x):
            return _dense(weights, "dense", x), stats

        def discriminator(weights, stats, x):
            x = jnp.tanh(_dense(weights, "dense0", x))
            x = jnp.tanh(_dense(weights, "dense1", x))
            return _dense(weights, "dense2", x), stats

        return generator, discriminator
    blocks = len(settings.dcgan_widths())

    def generator(weights, stats, x):
        stats = dict(stats)
        for i in range(blocks + 1):
            # PyTorch's ConvTranspose2d(k=4) with padding 0 (the first) or stride 2, padding 1.
            stride, padding = (1, 3) if i == 0 else (2, 2)
            x = lax.conv_transpose(
                x, weights[f"conv{i}"], (stride, stride), [(padding, padding)] * 2,
                dimension_numbers=NHWC,
            )  # fmt: skip
            if i < blocks:
                x, moved = _batch_norm(weights, stats, f"bn{i}", x)
                stats.update(moved)
                x = jax.nn.relu(x)
        return jnp.tanh(x), stats

    def discriminator(weights, stats, x):
        stats = dict(stats)
        for i in range(blocks):
            x = lax.conv_general_dilated(x, weights[f"conv{i}"], (2, 2), [(1, 1)] * 2,
                                         dimension_numbers=NHWC)  # fmt: skip
            x, moved = _batch_norm(weights, stats, f"bn{i}", x)
            stats.update(moved)
            x = jax.nn.leaky_relu(x, 0.2)
        x = lax.conv_general_dilated(x, weights[f"conv{blocks}"], (1, 1), "VALID",
                                     dimension_numbers=NHWC)  # fmt: skip
        return x, stats

    return generator, discriminator


def _initial_weights(settings: Settings, rng: np.random.Generator) -> tuple[Weights, ...]:
    """(weights_G, stats_G, weights_D, stats_D): LeCun-normal kernels (Flax's default), zero
    biases, batch norm's scale 1 and shift 0."""

    def kernel(*shape):
        fan_in = int(np.prod(shape[:-1]))
        return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)

    def zeros(n):
        return np.zeros(n, np.float32)

    if settings.model == "gan":
        weights_G = {"dense.kernel": kernel(2, 2), "dense.bias": zeros(2)}
        weights_D = {}
        for i, (n_in, n_out) in enumerate([(2, 5), (5, 3), (3, 1)]):
            weights_D |= {f"dense{i}.kernel": kernel(n_in, n_out), f"dense{i}.bias": zeros(n_out)}
        return weights_G, {}, weights_D, {}
    widths = settings.dcgan_widths()
    weights_G, stats_G, weights_D, stats_D = {}, {}, {}, {}
    channels_G = [LATENT_DIM["dcgan"], *widths[::-1], 3]
    channels_D = [3, *widths, 1]
    for weights, stats, channels in [
        (weights_G, stats_G, channels_G),
        (weights_D, stats_D, channels_D),
    ]:
        for i, (n_in, n_out) in enumerate(itertools.pairwise(channels)):
            weights[f"conv{i}"] = kernel(4, 4, n_in, n_out)
            if i < len(channels) - 2:
                weights |= {f"bn{i}.scale": np.ones(n_out, np.float32), f"bn{i}.bias": zeros(n_out)}
                stats |= {f"bn{i}.mean": zeros(n_out), f"bn{i}.var": np.ones(n_out, np.float32)}
    return weights_G, stats_G, weights_D, stats_D


def _adam(weights, gradients, state, lr, beta1, beta2=0.999, epsilon=1e-8):
    m, v, t = state
    t = t + 1
    m = jax.tree.map(lambda m, g: beta1 * m + (1 - beta1) * g, m, gradients)
    v = jax.tree.map(lambda v, g: beta2 * v + (1 - beta2) * g * g, v, gradients)
    correction1, correction2 = 1 - beta1**t, 1 - beta2**t
    weights = jax.tree.map(
        lambda w, m, v: w - lr * (m / correction1) / (jnp.sqrt(v / correction2) + epsilon),
        weights, m, v,
    )  # fmt: skip
    return weights, (m, v, t)


def _bce_sum(logits: jax.Array, label: float) -> jax.Array:
    """PyTorch's BCEWithLogitsLoss(reduction='sum') against a constant label."""
    return jnp.sum(jax.nn.softplus(-logits) if label else jax.nn.softplus(logits))


def threads() -> int:
    """XLA's CPU thread pool: one thread, or one per core this process may run on."""
    if "--xla_cpu_multi_thread_eigen=false" in os.environ.get("XLA_FLAGS", ""):
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def build(settings: Settings, data: np.ndarray) -> Side:
    device = jax.devices("gpu" if settings.device == "gpu" else "cpu")[0]
    generator, discriminator = networks(settings)
    hyperparameters = settings.hyperparameters
    put = partial(jax.device_put, device=device)
    weights_G, stats_G, weights_D, stats_D = put(
        _initial_weights(settings, np.random.default_rng(0))
    )

    def adam_state(weights):
        zeros = jax.tree.map(jnp.zeros_like, weights)
        return zeros, zeros, put(jnp.zeros((), jnp.float32))

    state = {
        "G": [weights_G, stats_G, adam_state(weights_G)],
        "D": [weights_D, stats_D, adam_state(weights_D)],
    }
    images = data.transpose(0, 2, 3, 1) if data.ndim == 4 else data  # NHWC, once
    latent_shape = (LATENT_DIM["gan"],) if settings.model == "gan" else (1, 1, LATENT_DIM["dcgan"])
    rng = np.random.default_rng(0)
    key = put(jax.random.PRNGKey(0))

    @jax.jit
    def update_discriminator(weights_D, stats_D, adam_D, weights_G, stats_G, X, Z):
        fake_X, stats_G = generator(weights_G, stats_G, Z)

        def loss(weights_D, stats_D):
            real_Y, stats_D = discriminator(weights_D, stats_D, X)
            fake_Y, stats_D = discriminator(weights_D, stats_D, fake_X)
            return (_bce_sum(real_Y, 1.0) + _bce_sum(fake_Y, 0.0)) / 2, stats_D

        (loss_D, stats_D), gradients = jax.value_and_grad(loss, has_aux=True)(weights_D, stats_D)
        weights_D, adam_D = _adam(weights_D, gradients, adam_D, hyperparameters.lr_D,
                                  hyperparameters.beta1)  # fmt: skip
        return weights_D, stats_D, adam_D, stats_G, loss_D

    @jax.jit
    def update_generator(weights_G, stats_G, adam_G, weights_D, stats_D, Z):
        def loss(weights_G, stats_G, stats_D):
            fake_X, stats_G = generator(weights_G, stats_G, Z)
            fake_Y, stats_D = discriminator(weights_D, stats_D, fake_X)
            return _bce_sum(fake_Y, 1.0), (stats_G, stats_D)

        (loss_G, (stats_G, stats_D)), gradients = jax.value_and_grad(loss, has_aux=True)(
            weights_G, stats_G, stats_D
        )
        weights_G, adam_G = _adam(weights_G, gradients, adam_G, hyperparameters.lr_G,
                                  hyperparameters.beta1)  # fmt: skip
        return weights_G, stats_G, adam_G, stats_D, loss_G

    def run_epoch() -> tuple[float, float]:
        nonlocal key
        total_D = total_G = 0.0
        examples = 0
        order = rng.permutation(len(images))
        for start in range(0, len(images), settings.batch_size):
            X = put(images[order[start : start + settings.batch_size]])
            key, subkey = jax.random.split(key)
            Z = jax.random.normal(subkey, (X.shape[0], *latent_shape), jnp.float32)
            (weights_G, stats_G, adam_G), (weights_D, stats_D, adam_D) = state["G"], state["D"]
            weights_D, stats_D, adam_D, stats_G, loss_D = update_discriminator(
                weights_D, stats_D, adam_D, weights_G, stats_G, X, Z
            )
            weights_G, stats_G, adam_G, stats_D, loss_G = update_generator(
                weights_G, stats_G, adam_G, weights_D, stats_D, Z
            )
            state["G"], state["D"] = [weights_G, stats_G, adam_G], [weights_D, stats_D, adam_D]
            total_D += float(loss_D)
            total_G += float(loss_G)
            examples += X.shape[0]
        return total_D / examples, total_G / examples

    def trainable_parameters() -> int:
        return sum(w.size for role in "GD" for w in jax.tree.leaves(state[role][0]))

    device_name = "cpu" if device.platform == "cpu" else f"{device.platform}:{device.id}"
    return Side(run_epoch, device_name, threads(), trainable_parameters, "NHWC")
