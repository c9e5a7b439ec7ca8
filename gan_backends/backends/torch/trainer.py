"""The GAN training step on PyTorch (eager: the step is a handful of kernels, so a compiler has
little to fuse and costs more to start than it saves on these models)."""

import contextlib
import math

import numpy as np
import torch
import torch.nn.functional as F

from gan_backends.backends.torch.device import DEVICE
from gan_backends.backends.torch.nn import slots
from gan_backends.layouts import to_canonical, to_native

__all__ = ["TrainStep"]


class TrainStep:
    def __init__(
        self, generator, discriminator, lr_D, lr_G, beta1, beta2, epsilon, compiled,
        mixed_precision,
    ):  # fmt: skip
        self.generator, self.discriminator = generator, discriminator
        self.mixed_precision = mixed_precision
        self.memory_format = torch.preserve_format
        if mixed_precision and generator.network.is_image:
            self.memory_format = torch.channels_last
            generator.to(memory_format=self.memory_format)
            discriminator.to(memory_format=self.memory_format)
        self.optimizers = {
            "D": self._adam(discriminator, lr_D, beta1, beta2, epsilon),
            "G": self._adam(generator, lr_G, beta1, beta2, epsilon),
        }
        self.generator_parameters = list(generator.parameters())
        self.epsilon, self.beta2, self.adam_steps = epsilon, beta2, 0

    @staticmethod
    def _adam(model, lr, beta1, beta2, epsilon):
        return torch.optim.Adam(
            model.parameters(), lr=lr, betas=(beta1, beta2), eps=epsilon, fused=True
        )

    def _set_epsilon(self):
        # Keras and MXNet add epsilon to the uncorrected sqrt(v), PyTorch to the bias-corrected
        # one; this epsilon makes PyTorch's step equal theirs.
        self.adam_steps += 1
        epsilon = self.epsilon / math.sqrt(1.0 - self.beta2**self.adam_steps)
        for optimizer in self.optimizers.values():
            optimizer.param_groups[0]["eps"] = epsilon

    def _step(self, x, z):
        generator, discriminator = self.generator, self.discriminator
        self._set_epsilon()
        with self._autocast():
            fake = generator(z)
            real_term = F.softplus(-discriminator(x)).mean()
            loss_D = (real_term + F.softplus(discriminator(fake.detach())).mean()) / 2
        self.optimizers["D"].zero_grad(set_to_none=True)
        loss_D.backward()
        self.optimizers["D"].step()
        with self._autocast():
            loss_G = F.softplus(-discriminator(fake)).mean()
        self.optimizers["G"].zero_grad(set_to_none=True)
        loss_G.backward(inputs=self.generator_parameters)
        self.optimizers["G"].step()
        return loss_D.detach(), loss_G.detach()

    def _autocast(self):
        if not self.mixed_precision:
            return contextlib.nullcontext()
        return torch.autocast(DEVICE.type, torch.bfloat16)

    def load_data(self, data):
        self.data = torch.from_numpy(data).to(DEVICE)

    def run(self, batches, Z):
        self.generator.train()
        self.discriminator.train()
        batches, Z = torch.from_numpy(batches).to(DEVICE), torch.from_numpy(Z).to(DEVICE)
        losses = []
        for batch, z in zip(batches, Z, strict=True):
            x = self.data[batch].contiguous(memory_format=self.memory_format)
            losses.extend(self._step(x, z))
        total_D, total_G = torch.stack(losses).view(-1, 2).sum(0).tolist()
        return total_D, total_G

    def _moments(self, model, optimizer):
        for name, (tensor, axes) in slots(model).items():
            if isinstance(tensor, torch.nn.Parameter):
                yield name, axes, optimizer.state[tensor], tensor

    def optimizer_state(self):
        state = {}
        for role, model in (("D", self.discriminator), ("G", self.generator)):
            optimizer = self.optimizers[role]
            state[f"{role}/step"] = np.array(0.0, np.float32)
            for name, axes, moments, parameter in self._moments(model, optimizer):
                zeros = torch.zeros_like(parameter)
                for key, native in (("m", "exp_avg"), ("v", "exp_avg_sq")):
                    value = moments.get(native, zeros).detach().cpu().numpy()
                    state[f"{role}/{name}.{key}"] = to_canonical(value, axes)
                state[f"{role}/step"] = np.array(float(moments.get("step", 0)), np.float32)
        return state

    def load_optimizer_state(self, state):
        self.adam_steps = int(state["D/step"])
        for role, model in (("D", self.discriminator), ("G", self.generator)):
            optimizer = self.optimizers[role]
            for name, axes, _, parameter in self._moments(model, optimizer):
                m, v = (to_native(state[f"{role}/{name}.{key}"], axes) for key in "mv")
                optimizer.state[parameter] = {
                    "step": torch.tensor(float(state[f"{role}/step"])),
                    "exp_avg": torch.from_numpy(m).to(DEVICE),
                    "exp_avg_sq": torch.from_numpy(v).to(DEVICE),
                }
