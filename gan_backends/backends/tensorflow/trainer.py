"""The GAN training step on TensorFlow: a whole run of steps is one ``tf.function`` graph.

In a distributed run every step runs through the strategy (``strategy.run``) in each worker's one
replica: Keras' ``apply_gradients`` sums the replicas' gradients, so each replica differentiates
its loss divided by the number of workers; batch norm's moving statistics stay each worker's own
until the step averages them.

With precision bf16-mixed every layer runs under Keras' ``mixed_bfloat16`` policy while the
steps run (and trace): bfloat16 compute on float32 variables, batch norm in float32.
"""

import contextlib
import functools

import keras
import numpy as np
import tensorflow as tf

from gan_backends.backends.tensorflow.nn import slots
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
        if cluster is not None:
            self._check_scope(cluster.engine)
        self.optimizers = {
            "D": self._adam(discriminator, lr_D, beta1, beta2, epsilon),
            "G": self._adam(generator, lr_G, beta1, beta2, epsilon),
        }
        self.compiled = compiled
        self.compile_note = "tracing the training step into a tf.function" if compiled else None
        self._graphs = {}

    def _graph(self, data_dtype):
        """The steps as one tf.function for data of ``data_dtype``: one trace for any count of
        steps, batch size and data size."""
        steps = self._steps if self.cluster is None else self._distributed_steps
        if not self.compiled:
            return steps
        if data_dtype not in self._graphs:
            generator, discriminator = self.models["G"], self.models["D"]
            signature = [
                tf.TensorSpec([None, *discriminator.network.input_shape], data_dtype),
                tf.TensorSpec([None, None], tf.int64),
                tf.TensorSpec([None, None, *generator.network.input_shape], self.settings.dtype),
            ]
            self._graphs[data_dtype] = tf.function(steps, input_signature=signature)
        return self._graphs[data_dtype]

    @staticmethod
    def compiles_by_default(generator_network):
        return True

    def _check_scope(self, strategy):
        variables = [v.value for model in self.models.values() for v in model.weights]
        created_in = strategy.extended.variable_created_in_scope
        if tf.distribute.get_strategy() is not strategy or not all(map(created_in, variables)):
            raise ValueError(
                "a worker's networks and Trainer must be built in "
                "gan_backends.distributed.scope(), where TensorFlow's strategy mirrors them"
            )

    def _adam(self, model, lr, beta1, beta2, epsilon):
        if self.settings.dtype != "float32":
            # Keras casts Python numbers to the weights' dtype through float32 (and keeps a
            # number learning rate in a float32 variable): give it tensors of the dtype.
            beta1, beta2, epsilon = (
                tf.constant(h, self.settings.dtype) for h in (beta1, beta2, epsilon)
            )
            lr = functools.partial(tf.constant, lr, self.settings.dtype)
        optimizer = keras.optimizers.Adam(lr, beta_1=beta1, beta_2=beta2, epsilon=epsilon)
        optimizer.build(model.trainable_variables)
        return optimizer

    @contextlib.contextmanager
    def _compute_policy(self):
        """precision bf16-mixed: every layer under ``mixed_bfloat16`` for the duration, then
        back to its own policy, so that sampling and models built later compute as before (a
        global ``keras.mixed_precision.set_global_policy`` would reach those too)."""
        if self.settings.precision != "bf16-mixed":
            yield
            return
        layers = [layer for model in self.models.values() for layer in model.layers]
        policies = [layer.dtype_policy for layer in layers]
        for layer in layers:
            layer.dtype_policy = "mixed_bfloat16"
        try:
            yield
        finally:
            for layer, policy in zip(layers, policies, strict=True):
                layer.dtype_policy = policy

    def _logits(self, x):
        """The discriminator's logits in the step's dtype (bfloat16 layers return bfloat16)."""
        return tf.cast(self.models["D"](x, training=True), self.settings.dtype)

    def _step(self, x, z):
        generator, discriminator = self.models["G"], self.models["D"]
        D_variables, G_variables = discriminator.trainable_variables, generator.trainable_variables
        with tf.GradientTape() as G_tape:
            fake = generator(z, training=True)
            with tf.GradientTape() as D_tape:
                loss_D = (
                    tf.reduce_mean(tf.nn.softplus(-self._logits(x)))
                    + tf.reduce_mean(tf.nn.softplus(self._logits(tf.stop_gradient(fake))))
                ) / 2
                share_D = self._share(loss_D)
            gradients = D_tape.gradient(share_D, D_variables)
            self.optimizers["D"].apply_gradients(zip(gradients, D_variables, strict=True))
            loss_G = tf.reduce_mean(tf.nn.softplus(-self._logits(fake)))
            share_G = self._share(loss_G)
        gradients = G_tape.gradient(share_G, G_variables)
        self.optimizers["G"].apply_gradients(zip(gradients, G_variables, strict=True))
        return loss_D, loss_G

    def _share(self, loss):
        """This replica's share of the loss whose summed gradients Keras applies."""
        return loss if self.cluster is None else loss / self.cluster.size

    def _steps(self, data, batches, Z):
        total_D, total_G = tf.zeros((), self.settings.dtype), tf.zeros((), self.settings.dtype)
        for i in tf.range(tf.shape(batches)[0]):
            loss_D, loss_G = self._step(self._examples(data, batches[i]), Z[i])
            total_D += loss_D
            total_G += loss_G
        return total_D, total_G

    def _distributed_steps(self, data, batches, Z):
        strategy = self.cluster.engine
        totals = tf.zeros(2, self.settings.dtype)
        for i in tf.range(tf.shape(batches)[0]):
            totals = strategy.run(
                self._replica_step, (self._examples(data, batches[i]), Z[i], totals)
            )
        return tf.unstack(strategy.run(self._averaged, (totals,)))

    def _replica_step(self, x, z, totals):
        """One step in this worker's replica; ``totals`` plus its (loss_D, loss_G)."""
        losses = tf.stack(self._step(x, z))
        self._average_statistics()
        return totals + losses

    def _average_statistics(self):
        """Batch norm's moving statistics, averaged over the workers after every step."""
        statistics = [v for model in self.models.values() for v in model.non_trainable_variables]
        if statistics:
            for variable, mean in zip(statistics, self._averaged(statistics), strict=True):
                variable.assign(mean)

    @staticmethod
    def _averaged(tensors):
        """Each tensor's mean over the workers, by one all-reduce of them all (in a replica)."""
        # In a graph, all_reduce needs tensors on the replica's device: copies made there.
        tensors = tf.nest.map_structure(tf.identity, tensors)
        return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.MEAN, tensors)

    def _examples(self, data, batch):
        """The batch's examples in the step's dtype (uint8 images through the table of levels)."""
        x = tf.gather(data, batch)
        if x.dtype == tf.uint8:
            x = tf.gather(self.levels, tf.cast(x, tf.int32))
        return x

    def load_data(self, data):
        self.data = tf.constant(data)
        self.levels = tf.constant(levels(self.settings.dtype))

    def run(self, batches, Z):
        run = self._graph(self.data.dtype)
        with self._compute_policy():
            total_D, total_G = run(self.data, tf.constant(batches, tf.int64), tf.constant(Z))
        return float(total_D), float(total_G)

    def _moments(self, role):
        """(canonical name, axes, m, v) of each trainable variable of a network."""
        optimizer = self.optimizers[role]
        for name, (variable, axes) in slots(self.models[role]).items():
            if variable.trainable:
                index = optimizer._get_variable_index(variable)
                yield name, axes, optimizer._momentums[index], optimizer._velocities[index]

    def optimizer_state(self):
        state = {}
        for role, optimizer in self.optimizers.items():
            for name, axes, m, v in self._moments(role):
                state[moment_key(role, name, "m")] = to_canonical(np.asarray(m), axes)
                state[moment_key(role, name, "v")] = to_canonical(np.asarray(v), axes)
            # float() refuses a variable that a strategy mirrors; NumPy reads it.
            state[step_key(role)] = np.asarray(optimizer.iterations).astype(np.float32)
        return state

    def load_optimizer_state(self, state):
        for role, optimizer in self.optimizers.items():
            for name, axes, m, v in self._moments(role):
                m.assign(to_native(state[moment_key(role, name, "m")], axes))
                v.assign(to_native(state[moment_key(role, name, "v")], axes))
            optimizer.iterations.assign(int(state[step_key(role)]))
