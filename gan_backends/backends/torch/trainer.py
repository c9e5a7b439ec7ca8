"""The GAN training step on PyTorch: one function of the weights, compiled whole.

The compiled step is written with ``torch.func`` (``functional_call``, ``vjp``,
``grad_and_value``) and updates the weights, the batch-norm statistics and Adam's moments in
place, so that ``torch.compile`` makes one graph of the whole step: generator, both
discriminator passes, gradients and both Adam updates. ``torch.func`` costs a lot of Python per
call when it is not compiled, so ``compiled=False`` runs the same computation written with plain
autograd and PyTorch's fused Adam kernel instead, in as few calls as the networks allow (one
discriminator pass over the real and fake batches where it has no batch norm): the 2-D GAN's
step is bound by their count. Compiling takes a minute for the DCGAN and half a minute for the
GAN on 2 CPU cores the first time (seconds once the cache holds it); by default only the DCGAN,
whose default run lasts long enough to repay it, is compiled.
Images are channels-last, which oneDNN's and cuDNN's convolutions prefer.
"""

import contextlib
import math

import numpy as np
import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as collectives
import torch.nn.functional as F
from torch.func import functional_call, grad_and_value, vjp

from gan_backends.backends.torch.device import DEVICE
from gan_backends.backends.torch.nn import slots
from gan_backends.layouts import to_canonical, to_native
from gan_backends.step import levels, moment_key, step_key

__all__ = ["TrainStep"]


def inductor_cache():
    from torch._inductor.runtime.cache_dir_utils import cache_dir  # a second to import: lazily

    return cache_dir()


class TrainStep:
    def __init__(self, generator, discriminator, settings):
        self.settings = settings
        lr_D, lr_G, beta1, beta2 = settings.lr_D, settings.lr_G, settings.beta1, settings.beta2
        epsilon, compiled, cluster = settings.epsilon, settings.compiled, settings.cluster
        self.models = {"D": discriminator, "G": generator}
        self.cluster = cluster
        self.memory_format = torch.preserve_format
        if generator.network.is_image:
            self.memory_format = torch.channels_last
        self.parameters, self.buffers = {}, {}
        for role, model in self.models.items():
            model.to(memory_format=self.memory_format)
            # Detached views share the modules' storage: updating them updates the modules.
            self.parameters[role] = {k: p.detach() for k, p in model.named_parameters()}
            buffers = model.named_buffers()
            self.buffers[role] = {k: b for k, b in buffers if b.is_floating_point()}
        self.moments = {
            role: {key: {k: torch.zeros_like(p) for k, p in parameters.items()} for key in "mv"}
            for role, parameters in self.parameters.items()
        }
        self.module_parameters = {role: list(m.parameters()) for role, m in self.models.items()}
        self.dtype = getattr(torch, settings.dtype)
        self.adam_steps = torch.zeros((), dtype=self.dtype, device=DEVICE)
        self.fused_adam_lists = {
            role: (
                list(parameters.values()), list(self.moments[role]["m"].values()),
                list(self.moments[role]["v"].values()), [self.adam_steps] * len(parameters),
            )
            for role, parameters in self.parameters.items()
        }  # fmt: skip
        self.eager_updates = 0  # adam_steps as a Python number, which the eager step reads
        self.one_discriminator_pass = not discriminator.network.mixes_examples
        self.learning_rates = {"D": lr_D, "G": lr_G}
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.bf16_mixed = settings.precision == "bf16-mixed"
        self.train_step, self.compile_note = self._eager_step, None
        if compiled:
            self.train_step = torch.compile(self._step, fullgraph=True)
            self.compile_note = (
                "compiling the training step with torch.compile (up to a minute the first "
                f"time; later runs reuse the cache in {inductor_cache()})"
            )

    @staticmethod
    def compiles_by_default(generator_network):
        return generator_network.is_image

    def _apply(self, role, parameters, buffers, x):
        return functional_call(self.models[role], (parameters, buffers), (x,))

    def _logits(self, parameters, buffers, x):
        """The discriminator's logits in the step's dtype (autocast leaves them bfloat16)."""
        return self._apply("D", parameters, buffers, x).to(self.dtype)

    def _discriminator_loss(self, parameters, buffers, x, fake):
        real_term = F.softplus(-self._logits(parameters, buffers, x)).mean()
        return (real_term + F.softplus(self._logits(parameters, buffers, fake)).mean()) / 2

    def _generator_loss(self, fake, parameters, buffers):
        return F.softplus(-self._logits(parameters, buffers, fake)).mean()

    def _adam(self, role, gradients):
        """Keras' and MXNet's form: epsilon is added to the uncorrected sqrt(v)."""
        t = self.adam_steps
        rate = self.learning_rates[role] * torch.sqrt(1 - self.beta2**t) / (1 - self.beta1**t)
        m, v = self.moments[role]["m"], self.moments[role]["v"]
        for name, parameter in self.parameters[role].items():
            gradient = gradients[name]
            m[name].lerp_(gradient, 1 - self.beta1)
            v[name].lerp_(gradient * gradient, 1 - self.beta2)
            parameter.sub_(rate * m[name] / (v[name].sqrt() + self.epsilon))

    def _step(self, data, batch, z, totals):
        """One update of D then of G; adds (loss_D, loss_G) to ``totals``."""
        x = self._examples(data, batch)
        self.adam_steps += 1
        parameters_D, buffers_D = self.parameters["D"], self.buffers["D"]
        with self._autocast():
            # Buffers are arguments, not captured, because batch norm updates them in place.
            fake, generator_vjp = vjp(
                lambda parameters, buffers: self._apply("G", parameters, buffers, z),
                self.parameters["G"], self.buffers["G"],
            )  # fmt: skip
            gradients_D, loss_D = grad_and_value(self._discriminator_loss)(
                parameters_D, buffers_D, x, fake
            )
        self._adam("D", self._averaged(gradients_D))
        with self._autocast():
            gradient_fake, loss_G = grad_and_value(self._generator_loss)(
                fake, parameters_D, buffers_D
            )
        self._adam("G", self._averaged(generator_vjp(gradient_fake)[0]))
        self._average_statistics()
        totals.add_(torch.stack([loss_D, loss_G]).to(totals.dtype))

    def _eager_step(self, data, batch, z, totals):
        """``_step`` with plain autograd, for eager runs."""
        x = self._examples(data, batch)
        self.adam_steps += 1
        self.eager_updates += 1
        with self._autocast():
            fake = self.models["G"](z)
            if self.one_discriminator_pass:
                both = self._eager_logits(torch.cat([x, fake.detach()]))
                real_logits, fake_logits = both.split(len(x))
            else:
                real_logits, fake_logits = self._eager_logits(x), self._eager_logits(fake.detach())
            real_term = F.softplus(-real_logits).mean()
            loss_D = (real_term + F.softplus(fake_logits).mean()) / 2
        self._fused_adam("D", self._averaged_list("D", loss_D))
        with self._autocast():
            loss_G = F.softplus(-self._eager_logits(fake)).mean()
        self._fused_adam("G", self._averaged_list("G", loss_G))
        self._average_statistics()
        totals.add_(torch.stack([loss_D.detach(), loss_G.detach()]).to(totals.dtype))

    def _eager_logits(self, x):
        """``_logits`` of the discriminator module itself."""
        return self.models["D"](x).to(self.dtype)

    def _averaged_list(self, role, loss):
        """The gradients of ``loss`` for the network in ``role``, averaged over the workers."""
        gradients = torch.autograd.grad(loss, self.module_parameters[role])
        if self.cluster is None:
            return list(gradients)
        names = list(self.parameters[role])
        return list(self._averaged(dict(zip(names, gradients, strict=True))).values())

    def _averaged(self, tensors):
        """Each tensor's mean over the workers, by one all-reduce of them all (or the tensors
        themselves in a one-process run)."""
        if self.cluster is None or not tensors:
            return tensors
        flat = torch.cat([tensor.reshape(-1) for tensor in tensors.values()])
        flat = collectives.all_reduce(flat, "sum", self.cluster.engine) / self.cluster.size
        pieces = torch.split(flat, [tensor.numel() for tensor in tensors.values()])
        return {
            name: piece.view_as(tensor)
            for (name, tensor), piece in zip(tensors.items(), pieces, strict=True)
        }

    @torch.no_grad()
    def _average_statistics(self):
        """Batch norm's moving statistics, averaged over the workers after every step."""
        if self.cluster is None:
            return
        statistics = {(role, k): b for role in self.models for k, b in self.buffers[role].items()}
        for name, mean in self._averaged(statistics).items():
            statistics[name].copy_(mean)

    @torch.no_grad()
    def _fused_adam(self, role, gradients):
        """``_adam`` in one call of PyTorch's fused Adam kernel. PyTorch adds epsilon to the
        bias-corrected sqrt(v): epsilon / sqrt(1 - beta2**t) there is the same update."""
        parameters, m, v, steps = self.fused_adam_lists[role]
        torch._fused_adam_(
            parameters, gradients, m, v, [], steps, lr=self.learning_rates[role],
            beta1=self.beta1, beta2=self.beta2, weight_decay=0.0, amsgrad=False, maximize=False,
            eps=self.epsilon / math.sqrt(1 - self.beta2**self.eager_updates),
        )  # fmt: skip

    def _autocast(self):
        """bfloat16 compute for precision bf16-mixed, on the CPU as on a GPU: autocast runs
        the convolutions and matrix products in bfloat16 from the float32 weights."""
        if not self.bf16_mixed:
            return contextlib.nullcontext()
        return torch.autocast(DEVICE.type, torch.bfloat16)

    def _examples(self, data, batch):
        """The batch's examples in the step's dtype (uint8 images through the table of levels)."""
        x = data[batch]
        if x.dtype == torch.uint8:
            x = self.levels[x.long()]
        return x.contiguous(memory_format=self.memory_format)

    def load_data(self, data):
        self.data = torch.from_numpy(data).to(DEVICE)
        self.levels = torch.from_numpy(levels(self.settings.dtype)).to(DEVICE)

    def run(self, batches, Z):
        for model in self.models.values():
            model.train()  # sampling between epochs puts them in inference mode
        batches, Z = torch.from_numpy(batches).to(DEVICE), torch.from_numpy(Z).to(DEVICE)
        totals = torch.zeros(2, dtype=self.dtype, device=DEVICE)
        try:
            for batch, z in zip(batches, Z, strict=True):
                self.train_step(self.data, batch, z, totals)
        except torch._dynamo.exc.BackendCompilerFailed as error:
            raise RuntimeError(
                f"torch.compile could not build the training step: {error}\nInstall what it "
                "names (on a CPU, a C++ compiler such as g++), or train without compiling: "
                "Trainer(..., compiled=False), or --eager on the command line"
            ) from error
        if self.cluster is not None:
            dist.all_reduce(totals, group=self.cluster.engine)
            totals /= self.cluster.size
        total_D, total_G = totals.tolist()
        return total_D, total_G

    def _moments(self, role):
        """(canonical name, axes, m, v) of each trainable parameter of a network."""
        model, moments = self.models[role], self.moments[role]
        native_names = {id(parameter): k for k, parameter in model.named_parameters()}
        for name, (tensor, axes) in slots(model).items():
            if id(tensor) in native_names:
                native = native_names[id(tensor)]
                yield name, axes, moments["m"][native], moments["v"][native]

    def optimizer_state(self):
        state = {}
        for role in self.models:
            for name, axes, m, v in self._moments(role):
                state[moment_key(role, name, "m")] = to_canonical(m.cpu().numpy(), axes)
                state[moment_key(role, name, "v")] = to_canonical(v.cpu().numpy(), axes)
            state[step_key(role)] = np.array(self.adam_steps.item(), np.float32)
        return state

    def load_optimizer_state(self, state):
        self.adam_steps.fill_(float(state[step_key("D")]))
        self.eager_updates = int(state[step_key("D")])
        for role in self.models:
            for name, axes, m, v in self._moments(role):
                m.copy_(torch.from_numpy(to_native(state[moment_key(role, name, "m")], axes)))
                v.copy_(torch.from_numpy(to_native(state[moment_key(role, name, "v")], axes)))
