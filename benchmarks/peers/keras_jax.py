"""Keras 3 on JAX: a ``keras.Model`` whose ``train_step`` is a pure function of the training
state, the way keras.io's JAX guide writes it: ``stateless_call`` for the networks,
``jax.value_and_grad`` for the gradients, ``optimizer.stateless_apply`` for the updates.

``fit`` compiles the step with ``jax.jit`` (``jit_compile="auto"``) and hands it, every step,
the state: the trainable and non-trainable variables (batch norm's moving statistics, the noise's
seed), the optimizer's variables and the metrics', which it returns updated. That state has one
optimizer's slot; a GAN has two, so :class:`StatelessGAN` puts both Adams' variables in it, as a
Keras user with two optimizers has to. Images channels-last (NHWC), Keras' default.
"""

import jax
from keras import StatelessScope, ops

from peers import jax_d2l
from peers.keras_common import GAN

DATA_FORMAT = "channels_last"


class BothOptimizers:
    """What ``fit`` reads of ``model.optimizer`` on JAX: the variables it carries in the state
    (here the discriminator's Adam's, then the generator's), already built."""

    built = True

    def __init__(self, optimizer_D, optimizer_G):
        self.optimizer_D, self.optimizer_G = optimizer_D, optimizer_G

    @property
    def variables(self):
        return [*self.optimizer_D.variables, *self.optimizer_G.variables]


class StatelessGAN(GAN):
    """Splits ``fit``'s state into each network's and each optimizer's part, and back."""

    def compile(self, optimizer_D, optimizer_G):
        super().compile(optimizer_D, optimizer_G)
        optimizer_D.build(self.discriminator.trainable_variables)
        optimizer_G.build(self.generator.trainable_variables)
        self.optimizer = BothOptimizers(optimizer_D, optimizer_G)

    def unpack(self, state):
        """``fit``'s state as per-network ``[trainable, non_trainable]`` lists, the two
        optimizers' variables and the noise's seed state (the metrics' are ``state[3]``)."""
        trainable, non_trainable, optimizer_variables, _ = state
        parts = {}
        for name in ("generator", "discriminator"):
            network = getattr(self, name)
            parts[name] = [
                pick(trainable, self.trainable_variables, network.trainable_variables),
                pick(non_trainable, self.non_trainable_variables, network.non_trainable_variables),
            ]
        split = len(self.optimizer_D.variables)
        optimizers = [optimizer_variables[:split], optimizer_variables[split:]]
        seed = pick(non_trainable, self.non_trainable_variables, [self.seed_generator.state])
        return parts, optimizers, seed

    def pack(self, parts, optimizers, seed):
        """The model's trainable and non-trainable variables, and the optimizers', as ``fit``'s
        state lists."""
        trainable = {}
        non_trainable = {id(self.seed_generator.state): seed[0]}
        for name, (network_trainable, network_non_trainable) in parts.items():
            network = getattr(self, name)
            for values, variables, new in (
                (trainable, network.trainable_variables, network_trainable),
                (non_trainable, network.non_trainable_variables, network_non_trainable),
            ):
                values.update(zip(map(id, variables), new, strict=True))
        return (
            [trainable[id(variable)] for variable in self.trainable_variables],
            [non_trainable[id(variable)] for variable in self.non_trainable_variables],
            [*optimizers[0], *optimizers[1]],
        )

    def stateless_noise(self, seed, batch_size):
        with StatelessScope(state_mapping=[(self.seed_generator.state, seed[0])]) as scope:
            z = self.noise(batch_size)
        return z, [current(scope, self.seed_generator.state, seed[0])]

    def stateless_record(self, metrics_variables, loss_D, loss_G):
        mapping = list(zip(self.metrics_variables, metrics_variables, strict=True))
        with StatelessScope(state_mapping=mapping) as scope:
            logs = self.record(loss_D, loss_G)
        return logs, [current(scope, variable, value) for variable, value in mapping]

    def discriminator_update(self, discriminator, optimizer, x, fake):
        """One Adam step of the discriminator on ``x`` and ``fake`` (a constant here):
        (loss_D, the discriminator's new ``[trainable, non_trainable]``, Adam's variables)."""

        def loss(trainable, non_trainable):
            real_logits, non_trainable = self.discriminator.stateless_call(
                trainable, non_trainable, x, training=True
            )
            fake_logits, non_trainable = self.discriminator.stateless_call(
                trainable, non_trainable, fake, training=True
            )
            return self.discriminator_loss(real_logits, fake_logits), non_trainable

        (loss_D, non_trainable), gradients = jax.value_and_grad(loss, has_aux=True)(*discriminator)
        trainable, optimizer = self.optimizer_D.stateless_apply(
            optimizer, gradients, discriminator[0]
        )
        return loss_D, [trainable, non_trainable], optimizer

    def finish(self, state, parts, optimizers, seed, loss_D, loss_G):
        logs, metrics_variables = self.stateless_record(state[3], loss_D, loss_G)
        return logs, (*self.pack(parts, optimizers, seed), metrics_variables)


class IdiomaticGAN(StatelessGAN):
    """keras.io's step: the discriminator's update runs the generator outside its gradient, the
    generator's update runs it again inside its own ``value_and_grad``."""

    def train_step(self, state, data):
        x = data[0] if isinstance(data, tuple) else data
        parts, optimizers, seed = self.unpack(state)
        z, seed = self.stateless_noise(seed, ops.shape(x)[0])
        generator, discriminator = parts["generator"], parts["discriminator"]
        fake, generator[1] = self.generator.stateless_call(*generator, z, training=True)
        loss_D, discriminator, optimizers[0] = self.discriminator_update(
            discriminator, optimizers[0], x, fake
        )

        def loss(trainable, non_trainable, discriminator_non_trainable):
            fake, non_trainable = self.generator.stateless_call(
                trainable, non_trainable, z, training=True
            )
            logits, discriminator_non_trainable = self.discriminator.stateless_call(
                discriminator[0], discriminator_non_trainable, fake, training=True
            )
            return self.generator_loss(logits), (non_trainable, discriminator_non_trainable)

        (loss_G, (generator[1], discriminator[1])), gradients = jax.value_and_grad(
            loss, has_aux=True
        )(*generator, discriminator[1])
        generator[0], optimizers[1] = self.optimizer_G.stateless_apply(
            optimizers[1], gradients, generator[0]
        )
        parts = {"generator": generator, "discriminator": discriminator}
        return self.finish(state, parts, optimizers, seed, loss_D, loss_G)


class EqualWorkGAN(StatelessGAN):
    """The library's work: one generator forward (``jax.vjp``) serves both updates, and the
    generator's gradient flows back through the updated discriminator into that forward."""

    def train_step(self, state, data):
        x = data[0] if isinstance(data, tuple) else data
        parts, optimizers, seed = self.unpack(state)
        z, seed = self.stateless_noise(seed, ops.shape(x)[0])
        generator, discriminator = parts["generator"], parts["discriminator"]

        def generate(trainable):
            return self.generator.stateless_call(trainable, generator[1], z, training=True)

        fake, generator_backward, generator[1] = jax.vjp(generate, generator[0], has_aux=True)
        loss_D, discriminator, optimizers[0] = self.discriminator_update(
            discriminator, optimizers[0], x, fake
        )

        def loss(fake, non_trainable):
            logits, non_trainable = self.discriminator.stateless_call(
                discriminator[0], non_trainable, fake, training=True
            )
            return self.generator_loss(logits), non_trainable

        (loss_G, discriminator[1]), fake_gradient = jax.value_and_grad(loss, has_aux=True)(
            fake, discriminator[1]
        )
        (gradients,) = generator_backward(fake_gradient)
        generator[0], optimizers[1] = self.optimizer_G.stateless_apply(
            optimizers[1], gradients, generator[0]
        )
        parts = {"generator": generator, "discriminator": discriminator}
        return self.finish(state, parts, optimizers, seed, loss_D, loss_G)


def current(scope, variable, value):
    """``variable``'s value at the end of ``scope``: ``value`` where the scope left it as it was."""
    updated = scope.get_current_value(variable)
    return value if updated is None else updated


def pick(values, variables, wanted):
    """The entries of ``values`` (one per variable of ``variables``) of the ``wanted`` ones."""
    position = {id(variable): index for index, variable in enumerate(variables)}
    return [values[position[id(variable)]] for variable in wanted]


VARIANTS = {"idiomatic": IdiomaticGAN, "equal-work": EqualWorkGAN}


def device() -> str:
    return jax.devices()[0].platform


def threads() -> int:
    return jax_d2l.threads()
