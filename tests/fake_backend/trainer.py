"""The GAN step in float64 NumPy: D's update on the real batch and a detached fake one, then
G's through the updated D; Adam in Keras' and MXNet's form, as on every backend."""

import numpy as np

from gan_backends.datasets import LEVELS
from gan_backends.step import moment_key, step_key
from tests.fake_backend.nn import apply, backward

__all__ = ["TrainStep"]


def softplus(x):
    return np.logaddexp(0, x)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


class TrainStep:
    compile_note = None

    def __init__(self, generator, discriminator, settings):
        if settings.cluster is not None or settings.precision != "32":
            raise NotImplementedError("distributed or bf16 steps are not supported with fake")
        self.settings = settings
        self.models = {"D": discriminator, "G": generator}
        self.learning_rates = {"D": settings.lr_D, "G": settings.lr_G}
        self.moments = {
            role: {key: {k: np.zeros_like(w) for k, w in model.weights.items()} for key in "mv"}
            for role, model in self.models.items()
        }
        self.adam_steps = 0

    @staticmethod
    def compiles_by_default(generator_network):
        return False

    def load_data(self, data):
        self.data = LEVELS[data].astype(np.float64) if data.dtype == np.uint8 else data

    def _adam(self, role, gradients):
        s, t = self.settings, self.adam_steps
        rate = self.learning_rates[role] * np.sqrt(1 - s.beta2**t) / (1 - s.beta1**t)
        weights, m, v = self.models[role].weights, *self.moments[role].values()
        for name, gradient in gradients.items():
            m[name] += (1 - s.beta1) * (gradient - m[name])
            v[name] += (1 - s.beta2) * (gradient * gradient - v[name])
            weights[name] = weights[name] - rate * m[name] / (np.sqrt(v[name]) + s.epsilon)

    def _step(self, x, z):
        self.adam_steps += 1
        generator, discriminator = self.models["G"], self.models["D"]
        fake, trace_G = apply(generator, z)
        real_logits, trace_real = apply(discriminator, x)
        fake_logits, trace_fake = apply(discriminator, fake)
        loss_D = (softplus(-real_logits).mean() + softplus(fake_logits).mean()) / 2
        gradients_real, _ = backward(
            discriminator, trace_real, -sigmoid(-real_logits) / (2 * len(x))
        )
        gradients_fake, _ = backward(discriminator, trace_fake, sigmoid(fake_logits) / (2 * len(z)))
        self._adam("D", {k: gradients_real[k] + gradients_fake[k] for k in gradients_real})
        fake_logits, trace_fake = apply(discriminator, fake)
        loss_G = softplus(-fake_logits).mean()
        _, gradient_fake = backward(discriminator, trace_fake, -sigmoid(-fake_logits) / len(z))
        self._adam("G", backward(generator, trace_G, gradient_fake)[0])
        return loss_D, loss_G

    def run(self, batches, Z):
        totals = np.zeros(2)
        for batch, z in zip(batches, Z, strict=True):
            totals += self._step(np.asarray(self.data[batch], np.float64), z.astype(np.float64))
        return tuple(totals)

    def optimizer_state(self):
        state = {}
        for role, moments in self.moments.items():
            for key, values in moments.items():
                state.update(
                    {moment_key(role, k, key): v.astype(np.float32) for k, v in values.items()}
                )
            state[step_key(role)] = np.array(self.adam_steps, np.float32)
        return state

    def load_optimizer_state(self, state):
        self.adam_steps = int(state[step_key("D")])
        for role, moments in self.moments.items():
            for key, values in moments.items():
                for k in values:
                    values[k] = np.array(state[moment_key(role, k, key)], np.float64)
