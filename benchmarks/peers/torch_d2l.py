"""d2l's PyTorch code (d2l 20.1 and 20.2): eager, one step at a time.

``nn.Sequential`` networks in PyTorch's own initialisation, ``BCEWithLogitsLoss(reduction='sum')``
halved for the discriminator, ``torch.optim.Adam`` (its default epsilon, 1e-8, added to the
bias-corrected sqrt(v)), the d2l ``load_array`` pipeline (a shuffling ``DataLoader``), noise drawn
by ``torch.normal`` every step, ``update_D`` then ``update_G`` each running the generator, and both
losses read back every step. Images NCHW.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn

from peers import LATENT_DIM, Settings, Side


def networks(settings: Settings) -> tuple[nn.Module, nn.Module]:
    if settings.model == "gan":
        net_G = nn.Sequential(nn.Linear(2, 2))
        net_D = nn.Sequential(
            nn.Linear(2, 5), nn.Tanh(), nn.Linear(5, 3), nn.Tanh(), nn.Linear(3, 1)
        )
        return net_G, net_D
    widths = settings.dcgan_widths()

    def g_block(in_channels: int, out_channels: int, strides: int = 2, padding: int = 1):
        return [
            nn.ConvTranspose2d(in_channels, out_channels, 4, strides, padding, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        ]

    def d_block(in_channels: int, out_channels: int):
        return [
            nn.Conv2d(in_channels, out_channels, 4, 2, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.LeakyReLU(0.2, inplace=True),
        ]

    generator_layers = g_block(LATENT_DIM["dcgan"], widths[-1], strides=1, padding=0)
    for in_channels, out_channels in zip(widths[:0:-1], widths[-2::-1], strict=True):
        generator_layers += g_block(in_channels, out_channels)
    net_G = nn.Sequential(
        *generator_layers, nn.ConvTranspose2d(widths[0], 3, 4, 2, 1, bias=False), nn.Tanh()
    )
    discriminator_layers = d_block(3, widths[0])
    for in_channels, out_channels in itertools.pairwise(widths):
        discriminator_layers += d_block(in_channels, out_channels)
    net_D = nn.Sequential(*discriminator_layers, nn.Conv2d(widths[-1], 1, 4, bias=False))
    return net_G, net_D


def build(settings: Settings, data: np.ndarray) -> Side:
    if settings.device == "gpu" and not torch.cuda.is_available():
        raise RuntimeError("--device gpu, but PyTorch sees no CUDA device")
    device = torch.device("cuda:0" if settings.device == "gpu" else "cpu")
    net_G, net_D = (net.to(device) for net in networks(settings))
    loss = nn.BCEWithLogitsLoss(reduction="sum")
    hyperparameters = settings.hyperparameters
    betas = (hyperparameters.beta1, 0.999)
    trainer_D = torch.optim.Adam(net_D.parameters(), lr=hyperparameters.lr_D, betas=betas)
    trainer_G = torch.optim.Adam(net_G.parameters(), lr=hyperparameters.lr_G, betas=betas)
    data_iter = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(data)),
        batch_size=settings.batch_size,
        shuffle=True,
    )

    def update_discriminator(X, Z):
        batch_size = X.shape[0]
        ones = torch.ones((batch_size,), device=X.device)
        zeros = torch.zeros((batch_size,), device=X.device)
        trainer_D.zero_grad()
        real_Y = net_D(X)
        fake_X = net_G(Z)
        fake_Y = net_D(fake_X.detach())
        loss_D = (
            loss(real_Y, ones.reshape(real_Y.shape)) + loss(fake_Y, zeros.reshape(fake_Y.shape))
        ) / 2
        loss_D.backward()
        trainer_D.step()
        return loss_D

    def update_generator(Z):
        ones = torch.ones((Z.shape[0],), device=Z.device)
        trainer_G.zero_grad()
        fake_Y = net_D(net_G(Z))
        loss_G = loss(fake_Y, ones.reshape(fake_Y.shape))
        loss_G.backward()
        trainer_G.step()
        return loss_G

    def run_epoch() -> tuple[float, float]:
        total_D = total_G = 0.0
        examples = 0
        for (X,) in data_iter:
            Z = torch.normal(0, 1, size=(X.shape[0], *settings.latent_shape))
            X, Z = X.to(device), Z.to(device)
            total_D += float(update_discriminator(X, Z))
            total_G += float(update_generator(Z))
            examples += X.shape[0]
        return total_D / examples, total_G / examples

    def trainable_parameters() -> int:
        return sum(p.numel() for net in (net_G, net_D) for p in net.parameters())

    return Side(run_epoch, str(device), torch.get_num_threads(), trainable_parameters, "NCHW")
