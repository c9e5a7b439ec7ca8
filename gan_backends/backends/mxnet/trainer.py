"""The GAN training step on MXNet: the losses as hybridized blocks, Adam as one fused update.

Each call into MXNet costs tens of microseconds, which on the 2-D GAN outweighs the arithmetic,
so a step makes few of them: the generator, each loss with its discriminator passes, each
backward, and one multi-tensor Adam update per network. The batches and noise of a ``run`` are
gathered and split a few megabytes at a time, not per step, and the losses summed once at its
end. The generator's loss goes through a view of the discriminator whose weights are no autograd
variables, so its backward pass computes no discriminator weight gradients (about a tenth of a
DCGAN step).
"""

import math

import numpy as np
from mxnet import autograd, gluon, nd
from mxnet import np as mnp

from gan_backends.backends.mxnet.device import CONTEXT
from gan_backends.backends.mxnet.nn import build, slots
from gan_backends.datasets import LEVELS
from gan_backends.layouts import to_canonical, to_native

__all__ = ["TrainStep"]

GATHER_BYTES = 1 << 24


def _softplus(F, x):
    return F.npx.activation(x, act_type="softrelu")


class DiscriminatorLoss(gluon.HybridBlock):
    def __init__(self, discriminator):
        super().__init__()
        self.discriminator = discriminator

    def hybrid_forward(self, F, x, fake):
        real_term = _softplus(F, -self.discriminator(x)).mean()
        fake_term = _softplus(F, self.discriminator(fake)).mean()
        # MXNet moves batch norm's statistics in the backward pass, visiting the terms of a
        # sum last to first: this order moves them by the real batch first, as the other
        # backends do in their forward passes.
        return (fake_term + real_term) / 2


class GeneratorLoss(gluon.HybridBlock):
    def __init__(self, discriminator):
        super().__init__()
        self.discriminator = discriminator

    def hybrid_forward(self, F, fake):
        return _softplus(F, -self.discriminator(fake)).mean()


def _frozen_view(model):
    """A copy of ``model`` on the same weight and statistics arrays, without gradients."""
    view = build(model.network)
    view.collect_params().setattr("grad_req", "null")
    for source, target in zip(
        model.collect_params().values(), view.collect_params().values(), strict=True
    ):
        # Gluon 1.x cannot share arrays between parameters of different grad_req publicly; a
        # detached array shares memory and the engine's dependency tracking with its source.
        target._data = [array.detach() for array in source.list_data()]
    return view


class Adam:
    """Adam over a model's trainable parameters, all updated by one ``multi_adamw_update``
    (decoupled weight decay 0, so plain Adam, in the form MXNet's own optimizer uses)."""

    def __init__(self, model, lr, beta1, beta2, epsilon):
        self.parameters = [p for p in model.collect_params().values() if p.grad_req != "null"]
        self.weights = [p.data().as_nd_ndarray() for p in self.parameters]
        self.gradients = [p.grad().as_nd_ndarray() for p in self.parameters]
        self.m = [nd.zeros_like(w) for w in self.weights]
        self.v = [nd.zeros_like(w) for w in self.weights]
        self.lr, self.beta1, self.beta2, self.epsilon = lr, beta1, beta2, epsilon
        self.steps = 0
        self.rescale_gradient = nd.ones((1,), ctx=CONTEXT)
        self.zeros = [0.0] * len(self.weights)
        self.ones = [1.0] * len(self.weights)

    def step(self):
        self.steps += 1
        rate = self.lr * math.sqrt(1 - self.beta2**self.steps) / (1 - self.beta1**self.steps)
        nd.contrib.multi_adamw_update(
            self.weights, self.gradients, self.m, self.v, self.rescale_gradient,
            lrs=[rate] * len(self.weights), wds=self.zeros, etas=self.ones,
            beta1=self.beta1, beta2=self.beta2, epsilon=self.epsilon, out=self.weights,
        )  # fmt: skip


class TrainStep:
    def __init__(
        self, generator, discriminator, lr_D, lr_G, beta1, beta2, epsilon, compiled,
        mixed_precision,
    ):  # fmt: skip
        if mixed_precision:
            raise NotImplementedError("mixed precision is not supported with mxnet")
        self.models = {"D": discriminator, "G": generator}
        self.loss_D = DiscriminatorLoss(discriminator)
        self.loss_G = GeneratorLoss(_frozen_view(discriminator))
        if compiled:
            for block in (generator, self.loss_D, self.loss_G):
                block.hybridize(static_alloc=True, static_shape=True)
        self.optimizers = {
            "D": Adam(discriminator, lr_D, beta1, beta2, epsilon),
            "G": Adam(generator, lr_G, beta1, beta2, epsilon),
        }
        self.compile_note = "hybridizing the losses into MXNet graphs" if compiled else None

    @staticmethod
    def compiles_by_default(generator_network):
        return True

    def _step(self, x, z):
        with autograd.record():
            fake = self.models["G"](z)
            loss_D = self.loss_D(x, fake.detach())
        loss_D.backward()
        self.optimizers["D"].step()
        with autograd.record():
            loss_G = self.loss_G(fake)
        loss_G.backward()
        self.optimizers["G"].step()
        return loss_D, loss_G

    def load_data(self, data):
        self.data = mnp.array(data, ctx=CONTEXT, dtype=data.dtype)
        self.levels = mnp.array(LEVELS, ctx=CONTEXT)

    def _batches(self, batches, Z):
        """(x, z) of each step, gathered and split at most GATHER_BYTES of data at a time."""
        example_bytes = self.data.dtype.itemsize * self.data.size // self.data.shape[0]
        steps = max(1, GATHER_BYTES // (example_bytes * batches.shape[1]))
        for first in range(0, len(batches), steps):
            indices, noise = batches[first : first + steps], Z[first : first + steps]
            count = len(indices)
            indices = mnp.array(indices.reshape(-1), ctx=CONTEXT, dtype="int64")
            X = mnp.take(self.data, indices, axis=0)
            if X.dtype == np.uint8:  # images: through the table of levels, to float32
                X = mnp.take(self.levels, X.astype("int32"))
            X = mnp.split(X, count)
            noise = mnp.array(noise.reshape(-1, *noise.shape[2:]), ctx=CONTEXT)
            yield from zip(X, mnp.split(noise, count), strict=True)

    def run(self, batches, Z):
        losses = []
        for x, z in self._batches(batches, Z):
            losses.extend(self._step(x, z))
        total_D, total_G = mnp.stack(losses).reshape(-1, 2).sum(axis=0).tolist()
        return total_D, total_G

    def _moments(self, role):
        """(canonical name, axes, m, v) of each trainable parameter of a network."""
        adam = self.optimizers[role]
        position = {id(parameter): i for i, parameter in enumerate(adam.parameters)}
        for name, (parameter, axes) in slots(self.models[role]).items():
            if id(parameter) in position:
                i = position[id(parameter)]
                yield name, axes, adam.m[i], adam.v[i]

    def optimizer_state(self):
        state = {}
        for role, adam in self.optimizers.items():
            for name, axes, m, v in self._moments(role):
                state[f"{role}/{name}.m"] = to_canonical(m.asnumpy(), axes)
                state[f"{role}/{name}.v"] = to_canonical(v.asnumpy(), axes)
            state[f"{role}/step"] = np.array(float(adam.steps), np.float32)
        return state

    def load_optimizer_state(self, state):
        for role, adam in self.optimizers.items():
            adam.steps = int(state[f"{role}/step"])
            for name, axes, m, v in self._moments(role):
                m[:] = to_native(state[f"{role}/{name}.m"], axes)
                v[:] = to_native(state[f"{role}/{name}.v"], axes)
