"""d2l's MXNet code (d2l 20.1 and 20.2): eager, one step at a time.

Gluon ``nn.Sequential`` networks, not hybridized, initialised from N(0, 0.02) as d2l does,
``autograd.record``, ``SigmoidBCELoss`` per example (the trainer divides by the batch),
``gluon.Trainer(..., 'adam')`` (its default epsilon, 1e-8), a shuffling Gluon ``DataLoader``,
noise drawn by ``np.random.normal`` every step, ``update_D`` then ``update_G`` each running the
generator, and both losses read back every step. Images NCHW.
"""

from __future__ import annotations

import os

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, init, npx
from mxnet import np as mnp
from mxnet.gluon import nn

from peers import Settings, Side


def networks(settings: Settings) -> tuple[nn.Sequential, nn.Sequential]:
    net_G, net_D = nn.Sequential(), nn.Sequential()
    if settings.model == "gan":
        net_G.add(nn.Dense(2))
        net_D.add(nn.Dense(5, activation="tanh"), nn.Dense(3, activation="tanh"), nn.Dense(1))
        return net_G, net_D
    widths = settings.dcgan_widths()

    def g_block(channels: int, strides: int = 2, padding: int = 1):
        return [
            nn.Conv2DTranspose(channels, 4, strides, padding, use_bias=False),
            nn.BatchNorm(),
            nn.Activation("relu"),
        ]

    def d_block(channels: int):
        return [
            nn.Conv2D(channels, 4, 2, 1, use_bias=False),
            nn.BatchNorm(),
            nn.LeakyReLU(0.2),
        ]

    net_G.add(*g_block(widths[-1], strides=1, padding=0))
    for channels in widths[-2::-1]:
        net_G.add(*g_block(channels))
    net_G.add(nn.Conv2DTranspose(3, 4, 2, 1, use_bias=False, activation="tanh"))
    for channels in widths:
        net_D.add(*d_block(channels))
    net_D.add(nn.Conv2D(1, kernel_size=4, use_bias=False))
    return net_G, net_D


def build(settings: Settings, data: np.ndarray) -> Side:
    npx.set_np()
    if settings.device == "gpu" and mx.context.num_gpus() == 0:
        raise RuntimeError("--device gpu, but MXNet sees no GPU")
    device = mx.gpu() if settings.device == "gpu" else mx.cpu()
    net_G, net_D = networks(settings)
    loss = gluon.loss.SigmoidBCELoss()
    net_D.initialize(init=init.Normal(0.02), ctx=device)
    net_G.initialize(init=init.Normal(0.02), ctx=device)
    hyperparameters = settings.hyperparameters
    trainer_D = gluon.Trainer(
        net_D.collect_params(),
        "adam",
        {"learning_rate": hyperparameters.lr_D, "beta1": hyperparameters.beta1},
    )
    trainer_G = gluon.Trainer(
        net_G.collect_params(),
        "adam",
        {"learning_rate": hyperparameters.lr_G, "beta1": hyperparameters.beta1},
    )
    data_iter = gluon.data.DataLoader(
        gluon.data.ArrayDataset(mnp.array(data)), settings.batch_size, shuffle=True
    )

    def update_discriminator(X, Z) -> float:
        batch_size = X.shape[0]
        ones = mnp.ones((batch_size,), ctx=X.ctx)
        zeros = mnp.zeros((batch_size,), ctx=X.ctx)
        with autograd.record():
            real_Y = net_D(X)
            fake_X = net_G(Z)
            fake_Y = net_D(fake_X.detach())
            loss_D = (loss(real_Y, ones) + loss(fake_Y, zeros)) / 2
        loss_D.backward()
        trainer_D.step(batch_size)
        return float(loss_D.sum())

    def update_generator(Z) -> float:
        batch_size = Z.shape[0]
        ones = mnp.ones((batch_size,), ctx=Z.ctx)
        with autograd.record():
            fake_Y = net_D(net_G(Z))
            loss_G = loss(fake_Y, ones)
        loss_G.backward()
        trainer_G.step(batch_size)
        return float(loss_G.sum())

    def run_epoch() -> tuple[float, float]:
        total_D = total_G = 0.0
        examples = 0
        for batch in data_iter:
            X = batch.as_in_ctx(device)
            Z = mnp.random.normal(0, 1, size=(X.shape[0], *settings.latent_shape), ctx=device)
            total_D += update_discriminator(X, Z)
            total_G += update_generator(Z)
            examples += X.shape[0]
        return total_D / examples, total_G / examples

    def trainable_parameters() -> int:
        parameters = [*net_G.collect_params().values(), *net_D.collect_params().values()]
        return sum(p.data().size for p in parameters if p.grad_req != "null")

    threads = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1))
    device_name = f"gpu:{device.device_id}" if settings.device == "gpu" else "cpu"
    return Side(run_epoch, device_name, threads, trainable_parameters, "NCHW")
