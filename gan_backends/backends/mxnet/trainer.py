"""The GAN training step on MXNet: the losses as hybridized blocks, Adam as one cached graph.

Each call into MXNet costs tens of microseconds, which on the 2-D GAN outweighs the arithmetic,
so a step makes few of them: the generator, each loss with its discriminator passes, each
backward, and one Adam update per network. The batches and noise of a ``run`` are gathered and
split a few megabytes at a time, not per step, and the losses summed once at its end. The
generator's loss goes through a view of the discriminator whose weights are no autograd
variables, so its backward pass computes no discriminator weight gradients (about a tenth of a
DCGAN step).
"""

import math

import mxnet as mx
from mxnet import autograd, gluon, nd
from mxnet import np as mnp

from gan_backends.backends.mxnet.device import CONTEXT
from gan_backends.backends.mxnet.distributed import all_mean
from gan_backends.backends.mxnet.nn import build, slots
from gan_backends.datasets import LEVELS
from gan_backends.layouts import to_canonical, to_native

__all__ = ["TrainStep"]

GATHER_BYTES = 1 << 24
LARGE_PARAMETER = 1 << 16  # elements


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


def _chunks(sizes):
    """Indices of the parameters Adam updates as one flat array: each large parameter alone,
    the small ones together. (Concatenating saves a dozen calls per small parameter, and costs
    more than that on a large one: MXNet's concatenate copies about 0.4 GB/s on a CPU.)"""
    chunks = [[i] for i, size in enumerate(sizes) if size >= LARGE_PARAMETER]
    small = [i for i, size in enumerate(sizes) if size < LARGE_PARAMETER]
    return [*chunks, small] if small else chunks


def _adam_update(shapes, chunks, lr, beta1, beta2, epsilon, workers):
    """Keras' Adam in float32 as one symbol. Inputs: ``parameter{i}`` and ``gradient{i}`` of
    the given shapes, each chunk's moments ``m{c}`` and ``v{c}`` (flat) and ``steps`` (one
    element); outputs: the new parameters, each chunk's m and v, and steps. Gradients summed
    over ``workers`` workers are divided by their number first."""

    def var(name):
        return mx.sym.var(name).as_np_ndarray()

    steps = var("steps") + 1
    rate = lr * mx.sym.np.sqrt(1 - beta2**steps) / (1 - beta1**steps)
    parameters, moments = {}, []
    for c, chunk in enumerate(chunks):
        gradients = [var(f"gradient{i}") for i in chunk]
        if len(chunk) > 1:
            gradient = mx.sym.np.concatenate(gradients, axis=None)
        else:
            gradient = gradients[0].reshape(-1)
        if workers > 1:
            gradient = gradient / workers
        m, v = var(f"m{c}"), var(f"v{c}")
        m = m + (gradient - m) * (1 - beta1)
        v = v + (mx.sym.np.square(gradient) - v) * (1 - beta2)
        changes = m * rate / (mx.sym.np.sqrt(v) + epsilon)
        start = 0
        for i in chunk:
            end = start + math.prod(shapes[i])
            parameters[i] = var(f"parameter{i}") - changes[start:end].reshape(shapes[i])
            start = end
        moments += [m, v]
    outputs = [parameters[i] for i in range(len(shapes))] + moments + [steps]
    return mx.sym.Group(outputs, create_fn=type(steps))


class Adam:
    """Adam over a model's trainable parameters in Keras' form and float32 arithmetic (the step
    count and the rate too), one static ``CachedOp`` call updating the parameters, the moments
    and the step count in place.

    Not MXNet's fused updates: ``multi_adamw_update`` computes ``v`` as
    ``beta2 * (v - g*g) + g*g``, which cancels to 7e-5 relative error while ``v`` is small
    against ``g*g`` (the first steps), and ``adam_update`` scales ``g*g`` by
    ``1 - float32(beta2)``, 1.3e-5 off ``1 - beta2``. At the DCGAN's lr 0.005 either turns
    rounding-level agreement with the other backends into a different trajectory within 20 steps.
    """

    def __init__(self, model, lr, beta1, beta2, epsilon, workers=1):
        self.parameters = [p for p in model.collect_params().values() if p.grad_req != "null"]
        weights = [p.data() for p in self.parameters]
        self.chunks = _chunks([w.size for w in weights])
        # Legacy arrays, whose slices (moments()) are views; NumPy-mode slices copy.
        self.m = [
            nd.zeros(sum(weights[i].size for i in chunk), ctx=CONTEXT) for chunk in self.chunks
        ]
        self.v = [nd.zeros_like(m) for m in self.m]
        self.steps = mnp.zeros(1, ctx=CONTEXT)
        shapes = [w.shape for w in weights]
        update = _adam_update(shapes, self.chunks, lr, beta1, beta2, epsilon, workers)
        self._update = nd.CachedOp(update, [("static_alloc", True), ("static_shape", True)])
        arrays = {"steps": self.steps}
        for i, parameter in enumerate(self.parameters):
            arrays[f"parameter{i}"], arrays[f"gradient{i}"] = weights[i], parameter.grad()
        for c, moments in enumerate(zip(self.m, self.v, strict=True)):
            arrays[f"m{c}"], arrays[f"v{c}"] = moments
        self._inputs = [arrays[name] for name in update.list_inputs()]
        moments = [x for m_v in zip(self.m, self.v, strict=True) for x in m_v]
        self._outputs = [*weights, *moments, self.steps]

    def moments(self):
        """(m, v) of each parameter, views of its chunk's flat moments."""
        views = {}
        for chunk, m, v in zip(self.chunks, self.m, self.v, strict=True):
            start = 0
            for i in chunk:
                shape = self.parameters[i].shape
                end = start + math.prod(shape)
                views[i] = (m[start:end].reshape(shape), v[start:end].reshape(shape))
                start = end
        return [views[i] for i in range(len(self.parameters))]

    def step(self):
        self._update(*self._inputs, out=self._outputs)


class TrainStep:
    def __init__(
        self, generator, discriminator, lr_D, lr_G, beta1, beta2, epsilon, compiled,
        mixed_precision, cluster,
    ):  # fmt: skip
        if mixed_precision:
            raise NotImplementedError("mixed precision is not supported with mxnet")
        self.models = {"D": discriminator, "G": generator}
        self.loss_D = DiscriminatorLoss(discriminator)
        self.loss_G = GeneratorLoss(_frozen_view(discriminator))
        if compiled:
            for block in (generator, self.loss_D, self.loss_G):
                block.hybridize(static_alloc=True, static_shape=True)
        workers = 1 if cluster is None else cluster.size
        self.optimizers = {
            "D": Adam(discriminator, lr_D, beta1, beta2, epsilon, workers),
            "G": Adam(generator, lr_G, beta1, beta2, epsilon, workers),
        }
        self.cluster = cluster
        if cluster is not None:
            self._share_with_workers()
        self.compile_note = "hybridizing the losses into MXNet graphs" if compiled else None

    @staticmethod
    def compiles_by_default(generator_network):
        return True

    def _share_with_workers(self):
        """The KVStore keys of the gradients (summed, then averaged by Adam) and of batch norm's
        moving statistics (averaged after every step)."""
        self.shared = {}
        for role, model in self.models.items():
            gradients = [p.grad().as_nd_ndarray() for p in self.optimizers[role].parameters]
            statistics = [
                p.data().as_nd_ndarray()
                for p in model.collect_params().values()
                if p.grad_req == "null"
            ]
            self.shared[role] = [f"{role}/gradient{i}" for i in range(len(gradients))], gradients
            self.shared[f"{role}/statistics"] = (
                [f"{role}/statistic{i}" for i in range(len(statistics))], statistics
            )  # fmt: skip
        for keys, arrays in self.shared.values():
            if keys:
                self.cluster.engine.init(keys, [nd.zeros_like(a) for a in arrays])

    def _sum_over_workers(self, name):
        if self.cluster is not None and self.shared[name][0]:
            keys, arrays = self.shared[name]
            self.cluster.engine.pushpull(keys, arrays, out=arrays)

    def _step(self, x, z):
        with autograd.record():
            fake = self.models["G"](z)
            loss_D = self.loss_D(x, fake.detach())
        loss_D.backward()
        self._sum_over_workers("D")
        self.optimizers["D"].step()
        with autograd.record():
            loss_G = self.loss_G(fake)
        loss_G.backward()
        self._sum_over_workers("G")
        self.optimizers["G"].step()
        if self.cluster is not None:
            for role in self.models:
                self._sum_over_workers(f"{role}/statistics")
                for statistic in self.shared[f"{role}/statistics"][1]:
                    statistic /= self.cluster.size
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
            if X.dtype == "uint8":  # images: through the table of levels, to float32
                X = mnp.take(self.levels, X.astype("int32"))
            X = mnp.split(X, count)
            noise = mnp.array(noise.reshape(-1, *noise.shape[2:]), ctx=CONTEXT)
            yield from zip(X, mnp.split(noise, count), strict=True)

    def run(self, batches, Z):
        losses = []
        for x, z in self._batches(batches, Z):
            losses.extend(self._step(x, z))
        totals = mnp.stack(losses).reshape(-1, 2).sum(axis=0).asnumpy()
        if self.cluster is not None:
            (totals,) = all_mean(self.cluster, [totals])
        total_D, total_G = totals.tolist()
        return total_D, total_G

    def _moments(self, role):
        """(canonical name, axes, m, v) of each trainable parameter of a network."""
        adam = self.optimizers[role]
        moments = dict(zip(map(id, adam.parameters), adam.moments(), strict=True))
        for name, (parameter, axes) in slots(self.models[role]).items():
            if id(parameter) in moments:
                yield name, axes, *moments[id(parameter)]

    def optimizer_state(self):
        state = {}
        for role, adam in self.optimizers.items():
            for name, axes, m, v in self._moments(role):
                state[f"{role}/{name}.m"] = to_canonical(m.asnumpy(), axes)
                state[f"{role}/{name}.v"] = to_canonical(v.asnumpy(), axes)
            state[f"{role}/step"] = adam.steps.asnumpy().reshape(())
        return state

    def load_optimizer_state(self, state):
        for role, adam in self.optimizers.items():
            adam.steps[:] = float(state[f"{role}/step"])
            for name, axes, m, v in self._moments(role):
                m[:] = to_native(state[f"{role}/{name}.m"], axes)
                v[:] = to_native(state[f"{role}/{name}.v"], axes)
