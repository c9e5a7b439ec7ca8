"""The GAN training step on JAX: one pure function of the weights, the batch-norm statistics and
Adam's moments, compiled whole by ``jax.jit``. With precision bf16-mixed the networks run on
bfloat16 copies of the weights, inside the compiled step.

The GAN runs a whole ``run`` of steps as one compiled loop inside XLA: its steps take
microseconds, and a jitted call per step would cost 17 to 25 times as much (measured). Its
batches are padded to a power of two steps, so that runs of different lengths (the progress
bar's chunks) share a few compiled loops. The DCGAN calls its jitted step once per step instead:
XLA's CPU backend runs convolutions inside a loop 10 to 20 times slower than outside one
(jax-ml/jax#12868; measured here too). The state lives in the models (weights and statistics)
and here (Adam's moments and step count); a run takes it in and hands it back.

In a distributed run each worker's steps run inside ``shard_map`` over the workers' mesh
(:func:`gan_backends.backends.jax.distributed.per_worker`): each worker differentiates the mean
losses over its part of the batch, and one ``lax.pmean`` per network averages its gradients
(and the loss) before Adam; another averages batch norm's moving statistics after every step.
A distributed step is compiled even when ``compiled`` is False (see ``per_worker``).
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import PartitionSpec

from gan_backends.backends.jax.distributed import AXIS, REPLICATED, SPLIT, per_worker
from gan_backends.backends.jax.nn import apply_native, precision, slots, to_native_images
from gan_backends.layouts import to_canonical, to_native
from gan_backends.step import levels, moment_key, step_key

__all__ = ["TrainStep"]


class TrainStep:
    def __init__(self, generator, discriminator, settings):
        self.settings = settings
        lr_D, lr_G, beta1, beta2 = settings.lr_D, settings.lr_G, settings.beta1, settings.beta2
        epsilon, compiled, cluster = settings.epsilon, settings.compiled, settings.cluster
        self.models = {"D": discriminator, "G": generator}
        self.cluster = cluster
        self.dtype = settings.dtype
        self.compute_dtype = jnp.bfloat16 if settings.precision == "bf16-mixed" else self.dtype
        with precision(self.dtype):
            self.moments = {
                role: {key: {k: jnp.zeros_like(p) for k, p in model.params.items()} for key in "mv"}
                for role, model in self.models.items()
            }
            self.adam_steps = jnp.zeros((), self.dtype)
        self.learning_rates = {"D": lr_D, "G": lr_G}
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.loops_in_xla = compiled and not generator.network.is_image
        self._accumulate_step, self._loop, self.compile_note = self._accumulate, None, None
        if compiled or cluster is not None:
            self.compile_note = "compiling the training step with jax.jit"
        if cluster is not None:
            steps_split = PartitionSpec(None, AXIS)
            self._accumulate_step = per_worker(
                self._accumulate, cluster, (REPLICATED, REPLICATED, SPLIT, SPLIT), REPLICATED
            )
            self._loop = per_worker(
                self._steps, cluster,
                (REPLICATED, REPLICATED, steps_split, steps_split, REPLICATED), REPLICATED,
            )  # fmt: skip
        elif compiled:
            self._accumulate_step = jax.jit(self._accumulate, donate_argnums=0)
            self._loop = jax.jit(self._steps)

    @staticmethod
    def compiles_by_default(generator_network):
        return True

    def _apply(self, role, params, stats, x):
        """The network's output in the step's dtype, computed in ``compute_dtype`` from a copy
        of the weights cast to it (the gradients reach the weights in their own dtype); the
        moving statistics stay in the step's dtype."""
        params = {name: value.astype(self.compute_dtype) for name, value in params.items()}
        y, stats = apply_native(
            self.models[role].network, params, stats, x.astype(self.compute_dtype), True
        )
        return y.astype(self.dtype), stats

    def _discriminator_loss(self, params, stats, x, fake):
        real_logits, stats = self._apply("D", params, stats, x)
        fake_logits, stats = self._apply("D", params, stats, fake)
        real_term = jnp.mean(jax.nn.softplus(-real_logits))
        return (real_term + jnp.mean(jax.nn.softplus(fake_logits))) / 2, stats

    def _generator_loss(self, fake, params, stats):
        logits, stats = self._apply("D", params, stats, fake)
        return jnp.mean(jax.nn.softplus(-logits)), stats

    def _adam(self, role, state, gradients, t):
        """Keras' and MXNet's form: epsilon is added to the uncorrected sqrt(v)."""
        rate = self.learning_rates[role] * jnp.sqrt(1 - self.beta2**t) / (1 - self.beta1**t)
        params, m, v = {}, {}, {}
        for name, parameter in state["params"].items():
            gradient = gradients[name]
            m[name] = state["m"][name] + (1 - self.beta1) * (gradient - state["m"][name])
            v[name] = state["v"][name] + (1 - self.beta2) * (gradient * gradient - state["v"][name])
            params[name] = parameter - rate * m[name] / (jnp.sqrt(v[name]) + self.epsilon)
        return state | {"params": params, "m": m, "v": v}

    def _step(self, state, x, z):
        """One update of D then of G; the new state and (loss_D, loss_G)."""
        D, G, t = state["D"], state["G"], state["t"] + 1
        fake, generator_vjp, G_stats = jax.vjp(
            lambda params: self._apply("G", params, G["stats"], z), G["params"], has_aux=True
        )
        (loss_D, D_stats), gradients = jax.value_and_grad(self._discriminator_loss, has_aux=True)(
            D["params"], D["stats"], x, fake
        )
        gradients, loss_D = self._averaged((gradients, loss_D))
        D = self._adam("D", D | {"stats": D_stats}, gradients, t)
        (loss_G, D_stats), fake_gradient = jax.value_and_grad(self._generator_loss, has_aux=True)(
            fake, D["params"], D["stats"]
        )
        gradients, loss_G = self._averaged((generator_vjp(fake_gradient)[0], loss_G))
        G = self._adam("G", G, gradients, t)
        G_stats, D_stats = self._averaged((G_stats, D_stats))
        D, G = D | {"stats": D_stats}, G | {"stats": G_stats}
        return {"D": D, "G": G, "t": t}, jnp.stack([loss_D, loss_G])

    def _averaged(self, tree):
        """Each array's mean over the workers (the arrays themselves in a one-process run)."""
        if self.cluster is None or not jax.tree.leaves(tree):
            return tree
        return lax.pmean(tree, AXIS)

    def _accumulate(self, carry, data, batch, z):
        """One step on the examples ``batch`` indexes, its losses added to the carried sums."""
        state, totals = carry
        state, losses = self._step(state, self._examples(data, batch), to_native_images(z))
        return state, totals + losses

    def _examples(self, data, batch):
        """The batch's examples in the step's dtype (uint8 images through the table of levels)."""
        x = jnp.take(data, batch, axis=0)
        if x.dtype == jnp.uint8:
            x = jnp.take(jnp.asarray(levels(self.dtype)), x.astype(jnp.int32), axis=0)
        return x

    def _steps(self, carry, data, batches, Z, count):
        """The first ``count`` steps of ``batches`` and ``Z``, as one loop."""
        step = lambda i, carry: self._accumulate(carry, data, batches[i], Z[i])  # noqa: E731
        return lax.fori_loop(0, count, step, carry)

    def load_data(self, data):
        with precision(self.dtype):
            self.data = to_native_images(jnp.array(data))

    def run(self, batches, Z):
        with precision(self.dtype):
            return self._run(batches, Z)

    def _run(self, batches, Z):
        state = {
            role: {"params": model.params, "stats": model.stats, **self.moments[role]}
            for role, model in self.models.items()
        }
        carry = (state | {"t": self.adam_steps}, jnp.zeros(2, self.dtype))
        if self.loops_in_xla:
            count = len(batches)
            padding = (0, (1 << (count - 1).bit_length()) - count)
            batches = np.pad(batches, [padding, (0, 0)])
            Z = np.pad(Z, [padding] + [(0, 0)] * (Z.ndim - 1))
            carry = self._loop(carry, self.data, batches, Z, count)
        else:
            for batch, z in zip(batches, Z, strict=True):
                carry = self._accumulate_step(carry, self.data, batch, z)
        state, totals = carry
        for role, model in self.models.items():
            model.params, model.stats = state[role]["params"], state[role]["stats"]
            self.moments[role] = {"m": state[role]["m"], "v": state[role]["v"]}
        self.adam_steps = state["t"]
        total_D, total_G = np.asarray(totals).tolist()
        return total_D, total_G

    def _moments(self, role):
        """(canonical name, axes) of each trainable parameter of a network."""
        model = self.models[role]
        for name, axes in slots(model.network).items():
            if name in model.params:
                yield name, axes

    def optimizer_state(self):
        state = {}
        for role, moments in self.moments.items():
            for name, axes in self._moments(role):
                state[moment_key(role, name, "m")] = to_canonical(
                    np.asarray(moments["m"][name]), axes
                )
                state[moment_key(role, name, "v")] = to_canonical(
                    np.asarray(moments["v"][name]), axes
                )
            state[step_key(role)] = np.array(float(self.adam_steps), np.float32)
        return state

    def load_optimizer_state(self, state):
        with precision(self.dtype):
            self.adam_steps = jnp.asarray(float(state[step_key("D")]), self.dtype)
            for role, moments in self.moments.items():
                for name, axes in self._moments(role):
                    m, v = (state[moment_key(role, name, key)] for key in "mv")
                    moments["m"][name] = jnp.array(to_native(m, axes), self.dtype)
                    moments["v"][name] = jnp.array(to_native(v, axes), self.dtype)
