"""The GAN training step on MXNet: hybridized Gluon blocks, gradients of batch-mean losses."""

import numpy as np
from mxnet import autograd, gluon, npx
from mxnet import np as mnp

from gan_backends.backends.mxnet.device import CONTEXT
from gan_backends.backends.mxnet.nn import slots
from gan_backends.layouts import to_canonical, to_native

__all__ = ["TrainStep"]


def _softplus(x):
    return npx.activation(x, act_type="softrelu")


class TrainStep:
    def __init__(
        self, generator, discriminator, lr_D, lr_G, beta1, beta2, epsilon, compiled,
        mixed_precision,
    ):  # fmt: skip
        if mixed_precision:
            raise NotImplementedError("mixed precision is not supported with mxnet")
        self.generator, self.discriminator = generator, discriminator
        if compiled:
            generator.hybridize(static_alloc=True, static_shape=True)
            discriminator.hybridize(static_alloc=True, static_shape=True)
        self.optimizers = {
            "D": self._adam(discriminator, lr_D, beta1, beta2, epsilon),
            "G": self._adam(generator, lr_G, beta1, beta2, epsilon),
        }

    @staticmethod
    def _adam(model, lr, beta1, beta2, epsilon):
        hyperparameters = {"learning_rate": lr, "beta1": beta1, "beta2": beta2, "epsilon": epsilon}
        return gluon.Trainer(model.collect_params(), "adam", hyperparameters, kvstore=None)

    def _step(self, x, z):
        generator, discriminator = self.generator, self.discriminator
        with autograd.record():
            fake = generator(z)
            real_term = _softplus(-discriminator(x)).mean()
            fake_term = _softplus(discriminator(fake.detach())).mean()
            # MXNet moves batch norm's statistics in the backward pass, visiting the terms of a
            # sum last to first: this order moves them by the real batch first, as the other
            # backends do in their forward passes.
            loss_D = (fake_term + real_term) / 2
        loss_D.backward()
        # The losses are batch means already: step(1) applies the gradients unscaled.
        self.optimizers["D"].step(1)
        with autograd.record():
            loss_G = _softplus(-discriminator(fake)).mean()
        loss_G.backward()
        self.optimizers["G"].step(1)
        return loss_D, loss_G

    def load_data(self, data):
        self.data = mnp.array(data, ctx=CONTEXT)

    def run(self, batches, Z):
        batches, Z = mnp.array(batches, ctx=CONTEXT, dtype="int64"), mnp.array(Z, ctx=CONTEXT)
        total_D, total_G = mnp.zeros((), ctx=CONTEXT), mnp.zeros((), ctx=CONTEXT)
        for i in range(batches.shape[0]):
            loss_D, loss_G = self._step(mnp.take(self.data, batches[i], axis=0), Z[i])
            total_D = total_D + loss_D
            total_G = total_G + loss_G
        return float(total_D.item()), float(total_G.item())

    def _moments(self, model, trainer):
        trainer._init_kvstore()
        updater = trainer._updaters[0]
        for name, (parameter, axes) in slots(model).items():
            if parameter.grad_req != "null":
                index = trainer._param2idx[parameter.name]
                if index not in updater.states:
                    updater.states[index] = updater.optimizer.create_state(index, parameter.data())
                    updater.states_synced[index] = True
                yield name, axes, index, updater.states[index]

    def optimizer_state(self):
        state = {}
        for role, model in (("D", self.discriminator), ("G", self.generator)):
            trainer = self.optimizers[role]
            for name, axes, _, (m, v) in self._moments(model, trainer):
                state[f"{role}/{name}.m"] = to_canonical(m.asnumpy(), axes)
                state[f"{role}/{name}.v"] = to_canonical(v.asnumpy(), axes)
            state[f"{role}/step"] = np.array(float(trainer._optimizer.num_update), np.float32)
        return state

    def load_optimizer_state(self, state):
        for role, model in (("D", self.discriminator), ("G", self.generator)):
            trainer = self.optimizers[role]
            step = int(state[f"{role}/step"])
            for name, axes, index, (m, v) in self._moments(model, trainer):
                m[:] = to_native(state[f"{role}/{name}.m"], axes)
                v[:] = to_native(state[f"{role}/{name}.v"], axes)
                trainer._optimizer._index_update_count[index] = step
            trainer._optimizer.num_update = step
