"""gan_backends.training: a Trainer's steps are the same arithmetic on every backend.

float32 training at d2l's DCGAN settings is chaotic (one ulp of the initial weights moves the
losses by 0.2 to 1.5 within 5 steps), so agreement over many steps is specified in float64,
and float32 agreement one step at a time, from an identical state.
"""

import numpy as np

import gan_backends as gb
from gan_backends import datasets, models
from tests.conftest import per_backend

STEPS, BATCH = 20, 8
REFERENCE = "torch"
DCGAN = {"latent_dim": 16, "width": 8, "image_size": 16}
DCGAN_SETTINGS = {"lr_D": 0.005, "lr_G": 0.005, "beta1": 0.5}  # d2l 20.2's


def dcgan_models(dtype, weights=None):
    """The small DCGAN in ``dtype`` on the selected backend, from seeds, or from ``weights``
    (generator's and discriminator's) where given."""
    G = models.dcgan_generator(**DCGAN, seed=0, dtype=dtype)
    D = models.dcgan_discriminator(DCGAN["width"], DCGAN["image_size"], seed=1, dtype=dtype)
    if weights is not None:
        gb.set_weights(G, weights[0])
        gb.set_weights(D, weights[1])
    return G, D


def emoji_batches(steps):
    """``steps`` batches of the packaged emoji (uint8) and their float64 noise."""
    images = datasets.emoji(DCGAN["image_size"])[: steps * BATCH]
    noise = np.random.default_rng(5).standard_normal((steps, BATCH, DCGAN["latent_dim"], 1, 1))
    return images.reshape(steps, BATCH, *images.shape[1:]), noise


def train(trainer, data, noise):
    """Per-step (loss_D, loss_G) and the final weights (moving statistics included)."""
    losses = np.array([trainer.step(x, z) for x, z in zip(data, noise, strict=True)])
    G, D = trainer.generator, trainer.discriminator
    weights = {f"G.{k}": v for k, v in gb.get_weights(G).items()}
    return losses, weights | {f"D.{k}": v for k, v in gb.get_weights(D).items()}


def assert_agree_with_reference(runs, tolerance):
    """Every step's losses and the final weights within ``tolerance`` of PyTorch's, all
    float64; the first step's losses within 1e-12, which a float32 constant anywhere in a
    forward pass (a slope, an epsilon, a table) exceeds before chaos can amplify it."""
    reference_losses, reference_weights = runs[REFERENCE]
    for name, (losses, weights) in runs.items():
        np.testing.assert_allclose(
            losses[0], reference_losses[0], atol=1e-12, rtol=0, err_msg=f"{name}, first step"
        )
        np.testing.assert_allclose(losses, reference_losses, atol=tolerance, rtol=0, err_msg=name)
        for key, value in weights.items():
            assert value.dtype == np.float64, f"{name} {key} is {value.dtype}"
            np.testing.assert_allclose(
                value, reference_weights[key], atol=tolerance, rtol=0, err_msg=f"{name} {key}"
            )


def test_float64_dcgan_at_d2l_settings_agrees_with_pytorch_at_every_step(all_backends):
    gb.set_backend(REFERENCE)
    G, D = dcgan_models("float64")
    shared = gb.get_weights(G), gb.get_weights(D)
    data, noise = emoji_batches(STEPS)

    def run():
        G, D = dcgan_models("float64", shared)
        return train(gb.Trainer(G, D, **DCGAN_SETTINGS), data, noise)

    assert_agree_with_reference(per_backend(all_backends, run), 1e-6)


def test_float64_gan_at_its_defaults_agrees_with_pytorch_at_every_step(all_backends):
    gb.set_backend(REFERENCE)
    shared = (
        gb.get_weights(models.gan_generator(seed=0, dtype="float64")),
        gb.get_weights(models.gan_discriminator(seed=1, dtype="float64")),
    )
    data = datasets.gaussian(STEPS * BATCH, seed=0).astype(np.float64).reshape(STEPS, BATCH, 2)
    noise = np.random.default_rng(1).standard_normal((STEPS, BATCH, 2))

    def run():
        G = models.gan_generator(dtype="float64")
        D = models.gan_discriminator(dtype="float64")
        gb.set_weights(G, shared[0])
        gb.set_weights(D, shared[1])
        return train(gb.Trainer(G, D), data, noise)

    assert_agree_with_reference(per_backend(all_backends, run), 1e-6)


def test_one_float32_step_from_an_identical_state_updates_every_parameter_alike(all_backends):
    """Weights, Adam's moments and step counts after a few PyTorch steps (so that no moment is
    zero), one more batch and noise: each backend's update of each parameter (moving statistics
    included) lies within 1e-4 of PyTorch's, relative to its size. Eager steps: one step is not
    worth compiling (test_eager_and_compiled_steps_agree ties the two)."""
    gb.set_backend(REFERENCE)
    data, noise = emoji_batches(4)
    noise = noise.astype(np.float32)
    trainer = gb.Trainer(*dcgan_models("float32"), compiled=False, **DCGAN_SETTINGS)
    train(trainer, data[:3], noise[:3])
    before = gb.get_weights(trainer.generator), gb.get_weights(trainer.discriminator)
    adam = trainer.optimizer_state()

    def update():
        G, D = dcgan_models("float32", before)
        trainer = gb.Trainer(G, D, compiled=False, **DCGAN_SETTINGS)
        trainer.load_optimizer_state(adam)
        _, after = train(trainer, data[3:], noise[3:])
        start = {f"G.{k}": v for k, v in before[0].items()} | {
            f"D.{k}": v for k, v in before[1].items()
        }
        return {key: value - start[key] for key, value in after.items()}

    updates = per_backend(all_backends, update)
    for name in all_backends:
        for key, value in updates[name].items():
            expected = updates[REFERENCE][key]
            assert np.abs(expected).max() > 0, f"{key} did not move"
            difference = np.linalg.norm(value - expected) / np.linalg.norm(expected)
            assert difference <= 1e-4, f"{name} {key}: relative difference {difference:.2e}"
