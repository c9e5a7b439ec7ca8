"""The GAN training step on MXNet: the losses as hybridized blocks, Adam as one cached graph
(and MXNet's fused update for each large kernel).

Each call into MXNet costs tens of microseconds, which on the 2-D GAN outweighs the arithmetic,
so a step makes few of them: the generator, each loss with its discriminator passes, each
backward, and one Adam update per network (the 2-D GAN's parameters are all small). The
batches and noise of a ``run`` are gathered and split a few megabytes at a time, not per step,
and the losses summed once at its end. The generator's loss goes through a view of the
discriminator whose weights are no autograd variables, so its backward pass computes no
discriminator weight gradients (about a tenth of a DCGAN step).
"""

import math

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, nd
from mxnet import np as mnp

from gan_backends.backends.mxnet.device import CONTEXT
from gan_backends.backends.mxnet.distributed import all_mean
from gan_backends.backends.mxnet.nn import build, slots
from gan_backends.layouts import to_canonical, to_native
from gan_backends.step import levels, moment_key, step_key

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


def _frozen_view(model, dtype):
    """A copy of ``model`` (of ``dtype``) on the same weight and statistics arrays, without
    gradients."""
    view = build(model.network, dtype)
    view.collect_params().setattr("grad_req", "null")
    for source, target in zip(
        model.collect_params().values(), view.collect_params().values(), strict=True
    ):
        # Gluon 1.x cannot share arrays between parameters of different grad_req publicly; a
        # detached array shares memory and the engine's dependency tracking with its source.
        target._data = [array.detach() for array in source.list_data()]
    return view


def _adam_update(shapes, lr, beta1, beta2, epsilon, workers):
    """Keras' Adam in float32 as one symbol over the parameters of ``shapes`` ({index: shape}),
    their moments flat and concatenated. Inputs: ``parameter{i}`` and ``gradient{i}``, ``m`` and
    ``v``, and ``steps`` (one element); outputs: the new parameters (in index order), m, v and
    steps. Gradients summed over ``workers`` workers are divided by their number first."""

    def var(name):
        return mx.sym.var(name).as_np_ndarray()

    steps = var("steps") + 1
    rate = lr * mx.sym.np.sqrt(1 - beta2**steps) / (1 - beta1**steps)
    gradients = [var(f"gradient{i}") for i in shapes]
    gradient = mx.sym.np.concatenate(gradients, axis=None) if len(gradients) > 1 else gradients[0]
    gradient = gradient.reshape(-1)
    if workers > 1:
        gradient = gradient / workers
    m, v = var("m"), var("v")
    m = m + (gradient - m) * (1 - beta1)
    v = v + (mx.sym.np.square(gradient) - v) * (1 - beta2)
    changes = m * rate / (mx.sym.np.sqrt(v) + epsilon)
    parameters, start = [], 0
    for i, shape in shapes.items():
        end = start + math.prod(shape)
        parameters.append(var(f"parameter{i}") - changes[start:end].reshape(shape))
        start = end
    return mx.sym.Group([*parameters, m, v, steps], create_fn=type(steps))


def _float32_rate(lr, beta1, beta2, steps):
    """Adam's step size after ``steps`` updates, in float32 as the symbol computes it."""
    f = np.float32
    return f(lr) * np.sqrt(f(1) - f(beta2) ** f(steps)) / (f(1) - f(beta1) ** f(steps))


class Adam:
    """Adam over a model's trainable parameters in Keras' form and float32 arithmetic.

    The small parameters are updated together by one static ``CachedOp`` call (parameters,
    moments and step count in place): on the 2-D GAN a step is bound by the count of calls into
    MXNet. Each large one (a DCGAN's convolution kernel) by MXNet's fused ``adam_update``, one
    pass over its arrays where the symbol makes a dozen, on one thread (measured: 17 against
    78 ms a DCGAN step for both networks).

    ``adam_update`` computes ``v`` as ``beta2 * v + (1 - beta2) * g*g`` with ``1 - beta2`` in
    float32, 1.3e-5 below Keras' ``1 - beta2``: a bias that, at the DCGAN's lr 0.005, turns
    rounding-level agreement with the other backends into a different trajectory within 20
    steps. So it gets the gradient scaled by ``sqrt(keras / float32)`` of that coefficient (its
    ``v`` is then Keras' to rounding; its ``m`` is that much larger, stored so, and the learning
    rate that much smaller). Not ``multi_adamw_update``: it computes ``v`` as
    ``beta2 * (v - g*g) + g*g``, which cancels to 7e-5 relative error while ``v`` is small.
    """

    def __init__(self, model, lr, beta1, beta2, epsilon, workers=1, dtype="float32"):
        self.parameters = [p for p in model.collect_params().values() if p.grad_req != "null"]
        self.hyperparameters = lr, beta1, beta2, epsilon
        self.workers = workers
        weights = [p.data() for p in self.parameters]
        gradients = [p.grad() for p in self.parameters]
        # adam_update takes its coefficients in float32 whatever the dtype: in float64 every
        # parameter goes through the symbol.
        large = LARGE_PARAMETER if dtype == "float32" else math.inf
        self.large = [i for i, w in enumerate(weights) if w.size >= large]
        self.small = small = [i for i, w in enumerate(weights) if w.size < large]
        # Legacy arrays, whose slices (moments()) are views; NumPy-mode slices copy.
        self.small_m = nd.zeros(sum(weights[i].size for i in small), ctx=CONTEXT, dtype=dtype)
        self.small_v = nd.zeros_like(self.small_m)
        self.large_m = {i: nd.zeros(weights[i].shape, ctx=CONTEXT) for i in self.large}
        self.large_v = {i: nd.zeros(weights[i].shape, ctx=CONTEXT) for i in self.large}
        self.count = 0  # of updates; the graph keeps its own copy, ``steps``, in ``dtype``
        self.steps = mnp.zeros(1, ctx=CONTEXT, dtype=dtype)
        self.m_scale = math.sqrt(np.float32(1 - beta2) / (1 - np.float64(np.float32(beta2))))
        self._fused = [
            (weights[i].as_nd_ndarray(), gradients[i].as_nd_ndarray(), self.large_m[i],
             self.large_v[i])
            for i in self.large
        ]  # fmt: skip
        self._update = None
        if small:
            update = _adam_update(
                {i: weights[i].shape for i in small}, lr, beta1, beta2, epsilon, workers
            )
            self._update = nd.CachedOp(update, [("static_alloc", True), ("static_shape", True)])
            arrays = {"steps": self.steps, "m": self.small_m, "v": self.small_v}
            for i in small:
                arrays[f"parameter{i}"], arrays[f"gradient{i}"] = weights[i], gradients[i]
            self._inputs = [arrays[name] for name in update.list_inputs()]
            self._outputs = [*(weights[i] for i in small), self.small_m, self.small_v, self.steps]

    def moments(self):
        """(m, v) of each parameter as Keras' Adam holds them: views of the small parameters'
        flat moments, copies (m unscaled) of a large one's."""
        views, start = {}, 0
        for i in self.small:
            shape = self.parameters[i].shape
            end = start + math.prod(shape)
            views[i] = (
                self.small_m[start:end].reshape(shape),
                self.small_v[start:end].reshape(shape),
            )
            start = end
        for i in self.large:
            views[i] = (self.large_m[i] / self.m_scale, self.large_v[i])
        return [views[i] for i in range(len(self.parameters))]

    def load_moments(self, moments, steps):
        """Keras' (m, v) of each parameter (NumPy, native layout) and the count of updates."""
        start = 0
        for i in self.small:
            m, v = moments[i]
            end = start + m.size
            self.small_m[start:end] = m.reshape(-1)
            self.small_v[start:end] = v.reshape(-1)
            start = end
        for i in self.large:
            m, v = moments[i]
            self.large_m[i][:] = m * self.m_scale
            self.large_v[i][:] = v
        self.steps[:] = steps
        self.count = int(steps)

    def step(self):
        self.count += 1
        if self._update is not None:
            self._update(*self._inputs, out=self._outputs)
        if self._fused:
            lr, beta1, beta2, epsilon = self.hyperparameters
            rate = float(_float32_rate(lr, beta1, beta2, self.count)) / self.m_scale
            for weight, gradient, m, v in self._fused:
                nd.adam_update(
                    weight, gradient, m, v, lr=rate, beta1=beta1, beta2=beta2, epsilon=epsilon,
                    rescale_grad=self.m_scale / self.workers, out=weight,
                )  # fmt: skip


class TrainStep:
    def __init__(self, generator, discriminator, settings):
        self.settings = settings
        lr_D, lr_G, beta1, beta2 = settings.lr_D, settings.lr_G, settings.beta1, settings.beta2
        epsilon, compiled, cluster = settings.epsilon, settings.compiled, settings.cluster
        if settings.precision == "bf16-mixed":
            raise NotImplementedError(
                "precision bf16-mixed (--precision bf16-mixed) is not supported with mxnet: "
                "MXNet 1.9.1's AMP converts a hybridized block, for inference, into a copy with "
                "its own weights, and runs only Convolution and FullyConnected in bfloat16 (not "
                "the generator's Deconvolution); use precision 32 with mxnet"
            )
        self.models = {"D": discriminator, "G": generator}
        self.loss_D = DiscriminatorLoss(discriminator)
        self.loss_G = GeneratorLoss(_frozen_view(discriminator, settings.dtype))
        if compiled:
            for block in (generator, self.loss_D, self.loss_G):
                block.hybridize(static_alloc=True, static_shape=True)
        workers, dtype = 1 if cluster is None else cluster.size, settings.dtype
        self.optimizers = {
            "D": Adam(discriminator, lr_D, beta1, beta2, epsilon, workers, dtype),
            "G": Adam(generator, lr_G, beta1, beta2, epsilon, workers, dtype),
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
        self.levels = mnp.array(levels(self.settings.dtype), ctx=CONTEXT)

    def _batches(self, batches, Z):
        """(x, z) of each step, gathered and split at most GATHER_BYTES of data at a time."""
        example_bytes = self.data.dtype.itemsize * self.data.size // self.data.shape[0]
        steps = max(1, GATHER_BYTES // (example_bytes * batches.shape[1]))
        for first in range(0, len(batches), steps):
            indices, noise = batches[first : first + steps], Z[first : first + steps]
            count = len(indices)
            indices = mnp.array(indices.reshape(-1), ctx=CONTEXT, dtype="int64")
            X = mnp.take(self.data, indices, axis=0)
            if X.dtype == "uint8":  # images: through the table of levels, to the dtype
                X = mnp.take(self.levels, X.astype("int32"))
            X = mnp.split(X, count)
            noise = mnp.array(noise.reshape(-1, *noise.shape[2:]), ctx=CONTEXT, dtype=noise.dtype)
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

    def _slots(self, role):
        """(canonical name, axes, index in Adam's parameters) of each trainable parameter."""
        adam = self.optimizers[role]
        index = {id(parameter): i for i, parameter in enumerate(adam.parameters)}
        for name, (parameter, axes) in slots(self.models[role]).items():
            if id(parameter) in index:
                yield name, axes, index[id(parameter)]

    def optimizer_state(self):
        state = {}
        for role, adam in self.optimizers.items():
            moments = adam.moments()
            for name, axes, i in self._slots(role):
                state[moment_key(role, name, "m")] = to_canonical(moments[i][0].asnumpy(), axes)
                state[moment_key(role, name, "v")] = to_canonical(moments[i][1].asnumpy(), axes)
            state[step_key(role)] = np.array(adam.count, np.float32)
        return state

    def load_optimizer_state(self, state):
        for role, adam in self.optimizers.items():
            moments = [None] * len(adam.parameters)
            for name, axes, i in self._slots(role):
                moments[i] = tuple(
                    to_native(state[moment_key(role, name, moment)], axes) for moment in "mv"
                )
            adam.load_moments(moments, float(state[step_key(role)]))
