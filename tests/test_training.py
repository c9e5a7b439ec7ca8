"""The training semantic (gan_backends/training.py), the same on every backend: tested in
float64, where rounding cannot hide a difference, over many steps, and in float32 one step at a
time from an identical state (float32 training at d2l's DCGAN settings is chaotic: one ulp of
the initial weights moves the losses by 0.2 to 1.5 within 5 steps)."""

import dataclasses
import json

import numpy as np
import pytest

import gan_backends as gb
from gan_backends import datasets, experiments, models
from gan_backends.checkpoints import Checkpoint, load_checkpoint, restore
from gan_backends.experiments import Config
from tests.conftest import per_backend, require_backends

STEPS = 20
DCGAN = {"width": 8, "image_size": 16}  # d2l's DCGAN at a size that steps in milliseconds
DCGAN_BATCH, DCGAN_LATENT = 16, 16
BF16_MIXED_BACKENDS = ("torch", "tensorflow", "jax")  # mxnet refuses it (its trainer says why)


def dcgan_trainer(dtype, precision="32"):
    """d2l's DCGAN settings: lr 0.005 for both networks, beta1 0.5. Compiled except on PyTorch,
    whose compiling takes a minute (the others take seconds, and step slowly uncompiled)."""
    compiled = gb.backend() != "torch"
    G = models.dcgan_generator(latent_dim=DCGAN_LATENT, **DCGAN, seed=0, dtype=dtype)
    D = models.dcgan_discriminator(**DCGAN, seed=1, dtype=dtype)
    return gb.Trainer(
        G, D, lr_D=0.005, lr_G=0.005, beta1=0.5, compiled=compiled, precision=precision
    )


def dcgan_batches():
    """STEPS batches of the packaged emoji and their noise."""
    images = datasets.load("emoji", DCGAN["image_size"], seed=0)[: STEPS * DCGAN_BATCH]
    noise = np.random.default_rng(1).standard_normal(
        (STEPS, DCGAN_BATCH, DCGAN_LATENT, 1, 1), np.float32
    )
    return images.reshape(STEPS, DCGAN_BATCH, *images.shape[1:]), noise


def dcgan_float64_losses():
    trainer = dcgan_trainer("float64")
    images, noise = dcgan_batches()
    return np.array([trainer.step(x, z) for x, z in zip(images, noise, strict=True)])


def gan_float64_losses():
    """d2l 20.1 at its defaults (lr_D 0.05, lr_G 0.005, batch 8) in float64."""
    G = models.gan_generator(seed=0, dtype="float64")
    D = models.gan_discriminator(seed=1, dtype="float64")
    trainer = gb.Trainer(G, D, lr_D=0.05, lr_G=0.005, compiled=False)
    data = datasets.gaussian(STEPS * 8, seed=0).reshape(STEPS, 8, 2)
    noise = np.random.default_rng(1).standard_normal((STEPS, 8, 2), np.float32)
    return np.array([trainer.step(x, z) for x, z in zip(data, noise, strict=True)])


@pytest.mark.parametrize("losses", [dcgan_float64_losses, gan_float64_losses])
def test_float64_steps_agree_with_pytorch_at_every_step(all_backends, losses):
    runs = per_backend(all_backends, losses)
    assert all_backends[0] == "torch"
    for name in all_backends[1:]:
        np.testing.assert_allclose(runs[name], runs["torch"], atol=1e-6, rtol=0, err_msg=name)
        # Before chaos can amplify it, a float32 constant in a forward pass (a slope, an
        # epsilon, a table) shows as 1e-9 in the first step; float64 rounding is 1e-16.
        np.testing.assert_allclose(
            runs[name][0], runs["torch"][0], atol=1e-12, rtol=0, err_msg=f"{name}, first step"
        )


def warm_state():
    """A float32 DCGAN's state three steps in (Adam's moments no longer mere signs)."""
    images, noise = dcgan_batches()
    warm = dcgan_trainer("float32")
    for x, z in zip(images[:3], noise[:3], strict=True):
        warm.step(x, z)
    return Checkpoint(
        {}, 0, gb.get_weights(warm.generator), gb.get_weights(warm.discriminator),
        warm.optimizer_state(), warm.rng.bit_generator.state, warm.history.as_dict(),
    )  # fmt: skip


def fourth_step_updates(trainer, start):
    """What the fourth step from ``start`` changes in every weight (statistics included)."""
    images, noise = dcgan_batches()
    restore(trainer, start)
    trainer.step(images[3], noise[3])
    return {
        f"{role}/{name}": value - before[name]
        for role, model, before in (
            ("G", trainer.generator, start.generator),
            ("D", trainer.discriminator, start.discriminator),
        )
        for name, value in gb.get_weights(model).items()
    }


def test_one_float32_step_from_an_identical_state_updates_every_parameter_alike(all_backends):
    """The same weights, Adam state (three steps in), batch and noise: each parameter's update
    within 1e-4 (relative, over the tensor) of PyTorch's."""
    gb.set_backend("torch")
    start = warm_state()
    runs = per_backend(all_backends, lambda: fourth_step_updates(dcgan_trainer("float32"), start))
    for name in all_backends[1:]:
        for key, reference in runs["torch"].items():
            difference = np.linalg.norm(runs[name][key] - reference)
            assert difference <= 1e-4 * np.linalg.norm(reference), f"{name} {key}"


def test_float64_models_keep_float64_weights_adam_state_and_losses(backend):
    trainer = dcgan_trainer("float64")
    images, noise = dcgan_batches()
    loss_D, _ = trainer.step(images[0], noise[0])
    assert trainer.settings.dtype == "float64"
    for model in (trainer.generator, trainer.discriminator):
        assert {value.dtype for value in gb.get_weights(model).values()} == {np.dtype("float64")}
    assert {value.dtype for key, value in trainer.optimizer_state().items()
            if not key.endswith("step")} == {np.dtype("float64")}  # fmt: skip
    assert isinstance(loss_D, float)


def test_the_trainer_refuses_models_of_another_dtype(backend):
    G = models.gan_generator(dtype="float64")
    with pytest.raises(ValueError, match=r"generator's weights are float64.*dtype='float32'"):
        gb.Trainer(G, models.gan_discriminator(), dtype="float32")
    with pytest.raises(ValueError, match="discriminator's weights are float32"):
        gb.Trainer(G, models.gan_discriminator())
    with pytest.raises(ValueError, match="dtype must be one of float32, float64; got 'float16'"):
        models.gan_generator(dtype="float16")


def test_weights_move_between_dtypes(backend, tmp_path):
    wide = models.gan_discriminator(seed=3, dtype="float64")
    gb.save_weights(wide, tmp_path / "D.npz")
    narrow = models.gan_discriminator()
    gb.load_weights(narrow, tmp_path / "D.npz")
    for name, value in gb.get_weights(narrow).items():
        assert value.dtype == np.float32
        np.testing.assert_array_equal(value, gb.get_weights(wide)[name].astype(np.float32))


def test_a_checkpoint_restores_only_into_its_own_dtype(backend):
    trainer = gb.Trainer(models.gan_generator(), models.gan_discriminator())
    checkpoint = Checkpoint(
        {}, 0, gb.get_weights(trainer.generator), gb.get_weights(trainer.discriminator),
        trainer.optimizer_state(), dtype="float64",
    )  # fmt: skip
    with pytest.raises(ValueError, match="trained in float64, the trainer's dtype is float32"):
        restore(trainer, checkpoint)


@pytest.fixture(params=BF16_MIXED_BACKENDS)
def bf16_backend(request):
    """Each backend that trains in precision bf16-mixed, selected."""
    require_backends(request.param)
    gb.set_backend(request.param)
    return request.param


def test_a_bf16_mixed_step_computes_in_bfloat16_on_float32_weights(bf16_backend):
    """From the same weights, Adam state, batch and noise, a bf16-mixed step moves the weights
    by float32's step plus bfloat16's rounding (8 bits: from 0.4% an operation): more than
    float32's rounding (1e-7) could, within 5% over all the weights (2 to 3% measured).
    Weights and Adam's state stay float32."""
    start = warm_state()
    float32_updates = fourth_step_updates(dcgan_trainer("float32"), start)
    trainer = dcgan_trainer("float32", precision="bf16-mixed")
    bf16_updates = fourth_step_updates(trainer, start)
    difference = np.sqrt(sum(np.sum(np.square(bf16_updates[k] - u)) for k, u in
                             float32_updates.items()))  # fmt: skip
    size = np.sqrt(sum(np.sum(np.square(u)) for u in float32_updates.values()))
    assert 1e-4 * size < difference < 5e-2 * size
    weights = gb.get_weights(trainer.generator) | gb.get_weights(trainer.discriminator)
    state = {k: v for k, v in trainer.optimizer_state().items() if not k.endswith("step")}
    assert {value.dtype for value in (*weights.values(), *state.values())} == {np.dtype("float32")}


def test_a_bf16_mixed_run_trains_records_its_precision_and_resumes_only_in_it(
    bf16_backend, tmp_path
):
    config = Config.for_model(
        "dcgan", epochs=1, batch_size=16, dataset="shapes", image_size=16, width=8,
        latent_dim=8, limit=64, compiled=bf16_backend != "torch", precision="bf16-mixed",
    )  # fmt: skip
    metrics = experiments.run(config, tmp_path)
    assert np.isfinite(metrics["loss_D"] + metrics["loss_G"]).all()
    assert load_checkpoint(tmp_path / "checkpoint.npz").config["precision"] == "bf16-mixed"
    recorded = json.loads((tmp_path / "metrics.json").read_text())
    assert recorded["config"]["precision"] == "bf16-mixed"
    float32_run = dataclasses.replace(config, epochs=2, precision="32")
    with pytest.raises(ValueError, match=r"trained in --precision bf16-mixed, not 32") as error:
        experiments.run(float32_run, tmp_path, resume=True)
    assert "\n" not in str(error.value)


def test_bf16_mixed_is_refused_with_float64_in_one_line(selected):
    G = models.gan_generator(dtype="float64")
    D = models.gan_discriminator(dtype="float64")
    with pytest.raises(ValueError, match="precision bf16-mixed keeps float32 weights: use it "
                       "with dtype float32, not float64"):  # fmt: skip
        gb.Trainer(G, D, precision="bf16-mixed")
    with pytest.raises(ValueError, match=r"--precision bf16-mixed .* --dtype float32, not float64"):
        Config.for_model("gan", precision="bf16-mixed", dtype="float64")
    with pytest.raises(ValueError, match="precision must be one of 32, bf16-mixed; got 'bf16'"):
        gb.Trainer(models.gan_generator(), models.gan_discriminator(), precision="bf16")


def test_mxnet_refuses_bf16_mixed_saying_why():
    require_backends("mxnet")
    gb.set_backend("mxnet")
    with pytest.raises(NotImplementedError, match=r"--precision bf16-mixed\) is not supported "
                       "with mxnet: MXNet 1.9.1's AMP"):  # fmt: skip
        gb.Trainer(models.gan_generator(), models.gan_discriminator(), precision="bf16-mixed")
