"""d2l 20.2's DCGAN: the seed's shapes, one batch-norm convention, the same numbers on every
backend, portable checkpoints and exact resumption."""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import gan_backends as gb
from gan_backends import architectures, datasets, experiments, models
from gan_backends.architectures import BatchNorm, Network
from gan_backends.checkpoints import load_checkpoint
from gan_backends.experiments import Config
from tests.conftest import nudge_by_one_ulp, per_backend

GOLDEN = Path(__file__).parent / "golden" / "dcgan_small.npz"  # python -m tests.test_dcgan
SMALL = {"latent_dim": 8, "width": 8, "image_size": 16}
STEPS, BATCH = 20, 8
TINY_RUN = Config.for_model(
    "dcgan", epochs=2, batch_size=16, dataset="shapes", image_size=16, width=8, latent_dim=8,
    limit=64, lr_D=0.0005, lr_G=0.0005,
)  # fmt: skip


def forward_shape(model, shape):
    return models.forward(model, np.zeros(shape, np.float32)).shape


def test_the_seeds_shape_checks_hold_in_nchw(backend):
    assert forward_shape(models.g_block(20), (2, 3, 16, 16)) == (2, 20, 32, 32)
    assert forward_shape(models.g_block(20, strides=1, padding=0, size=1), (2, 3, 1, 1)) == (
        2, 20, 4, 4,
    )  # fmt: skip
    assert forward_shape(models.dcgan_generator(), (1, 100, 1, 1)) == (1, 3, 64, 64)
    assert forward_shape(models.d_block(20), (2, 3, 16, 16)) == (2, 20, 8, 8)
    logits = gb.discriminate(models.dcgan_discriminator(), np.zeros((1, 3, 64, 64), np.float32))
    assert logits.shape == (1,)


@pytest.mark.parametrize(
    "block, strides, padding, size",
    [
        (models.d_block, 2, 1, 16),  # padding PyTorch's way is TensorFlow's "same"
        (models.d_block, 2, 1, 15),  # an odd input, where it is not
        (models.d_block, 1, 1, 8),
        (models.g_block, 2, 1, 8),
        (models.g_block, 1, 2, 8),
    ],
)
def test_every_padding_computes_the_same_block_everywhere(
    all_backends, block, strides, padding, size
):
    x = np.random.default_rng(0).standard_normal((2, 3, size, size)).astype(np.float32)
    gb.set_backend(all_backends[0])
    weights = gb.get_weights(block(4, strides=strides, padding=padding, size=size))

    def forward():
        model = block(4, strides=strides, padding=padding, size=size)
        gb.set_weights(model, weights)
        return models.forward(model, x, training=True)

    outputs = per_backend(all_backends, forward)
    for name, output in outputs.items():
        np.testing.assert_allclose(output, outputs[all_backends[0]], atol=1e-5, err_msg=name)


@pytest.mark.parametrize("size", [16, 32])
def test_smaller_images_drop_blocks_from_the_same_family(backend, size):
    G = models.dcgan_generator(latent_dim=10, width=4, image_size=size)
    D = models.dcgan_discriminator(width=4, image_size=size)
    images = gb.generate(G, np.zeros((2, 10, 1, 1), np.float32))
    assert images.shape == (2, 3, size, size) and images.dtype == np.float32
    assert np.abs(images).max() <= 1.0
    assert gb.discriminate(D, images).shape == (2,)


def test_weights_have_canonical_names_and_pytorch_layouts(backend):
    shapes = {k: v.shape for k, v in gb.get_weights(models.dcgan_generator(**SMALL)).items()}
    assert shapes == architectures.dcgan_generator(8, 8, 16).weight_shapes()
    assert shapes["block0_conv.kernel"] == (8, 16, 4, 4)  # transposed: (in, out, k, k)
    assert shapes["block1_bn.moving_var"] == (8,)
    D_shapes = {k: v.shape for k, v in gb.get_weights(models.dcgan_discriminator(8, 16)).items()}
    assert D_shapes["block0_conv.kernel"] == (8, 3, 4, 4)  # (out, in, k, k)
    assert D_shapes["out_conv.kernel"] == (1, 16, 4, 4)


def test_batch_norm_follows_the_documented_convention(backend):
    network = Network("bn", (3, 4, 5), (BatchNorm("bn", 3),))
    model = models.build(network)
    x = np.random.default_rng(0).normal(2.0, 3.0, (6, 3, 4, 5)).astype(np.float32)
    y = models.forward(model, x, training=True)
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))  # biased
    expected = (x - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5)
    np.testing.assert_allclose(y, expected, atol=1e-4)
    weights = gb.get_weights(model)
    np.testing.assert_allclose(weights["bn.moving_mean"], 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(weights["bn.moving_var"], 0.9 + 0.1 * var, rtol=1e-5)
    inference = models.forward(model, x, training=False)
    moving = (x - weights["bn.moving_mean"][:, None, None]) / np.sqrt(
        weights["bn.moving_var"][:, None, None] + 1e-5
    )
    np.testing.assert_allclose(inference, moving, atol=1e-4)


def small_outputs():
    """Training- and inference-mode outputs of the small DCGAN from seeded weights and inputs."""
    G, D = models.dcgan_generator(**SMALL, seed=0), models.dcgan_discriminator(8, 16, seed=1)
    noise = np.random.default_rng(2).standard_normal((4, 8, 1, 1), np.float32)
    images = datasets.shapes(4, image_size=16, seed=3)
    return {
        "G_inference": gb.generate(G, noise),
        "D_inference": gb.discriminate(D, images),
        "G_training": models.forward(G, noise, training=True),
        "D_training": models.forward(D, images, training=True).ravel(),
        "G_moving_var_after_training_forward": gb.get_weights(G)["block0_bn.moving_var"],
    }


def twenty_steps(ulp_seed=None):
    """Per-step losses of the small DCGAN at the default learning rates from seeded weights
    (one ulp away, at random from ``ulp_seed``, where it is given), data and noise, and the
    weights (moving statistics included) it ends with."""
    G, D = models.dcgan_generator(**SMALL, seed=0), models.dcgan_discriminator(8, 16, seed=1)
    if ulp_seed is not None:
        nudge_by_one_ulp(G, ulp_seed)
        nudge_by_one_ulp(D, ulp_seed + 1)
    config = Config.for_model("dcgan")
    trainer = gb.Trainer(G, D, lr_D=config.lr_D, lr_G=config.lr_G, beta1=config.beta1)
    data = datasets.shapes(STEPS * BATCH, image_size=16, seed=4).reshape(STEPS, BATCH, 3, 16, 16)
    noise = np.random.default_rng(5).standard_normal((STEPS, BATCH, 8, 1, 1), np.float32)
    losses = np.array([trainer.step(x, z) for x, z in zip(data, noise, strict=True)])
    weights = {f"G.{k}": v for k, v in gb.get_weights(G).items()}
    return losses, weights | {f"D.{k}": v for k, v in gb.get_weights(D).items()}


def test_forward_matches_the_golden_outputs(backend):
    golden = np.load(GOLDEN)
    for name, value in small_outputs().items():
        np.testing.assert_allclose(value, golden[name], atol=1e-4, rtol=0, err_msg=name)


def test_forward_agrees_across_backends_in_both_modes(all_backends):
    outputs = per_backend(all_backends, small_outputs)
    for name in all_backends[1:]:
        for key, value in outputs[name].items():
            np.testing.assert_allclose(
                value, outputs[all_backends[0]][key], atol=1e-4, rtol=0, err_msg=f"{name} {key}"
            )


def assert_stable_at(tolerance, losses, weights):
    """The one-ulp control: float32 steps from weights one ulp away stay within a tenth of
    ``tolerance`` of ``losses`` and ``weights`` (on these shapes, at these settings; on emoji
    at width 8 they do not), so that a difference beyond it is no rounding."""
    control_losses, control_weights = twenty_steps(ulp_seed=0)
    message = "the one-ulp control: this float32 trajectory is chaotic at this tolerance"
    np.testing.assert_allclose(control_losses, losses, atol=tolerance / 10, err_msg=message)
    for key, value in weights.items():
        np.testing.assert_allclose(
            control_weights[key], value, atol=tolerance / 10, err_msg=f"{message}: {key}"
        )


def test_twenty_steps_follow_the_golden_trajectory(backend):
    losses, weights = twenty_steps()
    assert_stable_at(1e-3, losses, weights)
    np.testing.assert_allclose(losses, np.load(GOLDEN)["steps"], atol=1e-3, rtol=0)


def test_twenty_steps_agree_across_backends_moving_statistics_included(all_backends):
    runs = per_backend(all_backends, twenty_steps)
    first_losses, first_weights = runs[all_backends[0]]
    gb.set_backend(all_backends[0])
    assert_stable_at(1e-3, first_losses, first_weights)
    for name in all_backends[1:]:
        losses, weights = runs[name]
        np.testing.assert_allclose(losses, first_losses, atol=1e-3, rtol=0, err_msg=name)
        for key, value in weights.items():
            np.testing.assert_allclose(
                value, first_weights[key], atol=1e-3, rtol=0, err_msg=f"{name} {key}"
            )


def test_adam_state_loads_back_as_it_was_saved(backend):
    """Width 64: kernels of 131,072 weights, which MXNet updates with its fused Adam."""
    G = models.dcgan_generator(**(SMALL | {"width": 64}), seed=0)
    D = models.dcgan_discriminator(64, 16, seed=1)
    trainer = gb.Trainer(G, D, lr_D=0.005, lr_G=0.005, beta1=0.5)
    x = datasets.shapes(BATCH, image_size=16, seed=4)
    trainer.step(x, np.random.default_rng(5).standard_normal((BATCH, 8, 1, 1), np.float32))
    saved = trainer.optimizer_state()
    trainer.load_optimizer_state(saved)
    for key, value in trainer.optimizer_state().items():
        np.testing.assert_allclose(value, saved[key], rtol=1e-6, atol=0, err_msg=key)


def test_a_short_training_run_writes_everything(backend, tmp_path):
    metrics = experiments.run(TINY_RUN, tmp_path)
    assert metrics["backend"] == backend
    assert len(metrics["loss_D"]) == len(metrics["loss_G"]) == 2
    assert all(np.isfinite(metrics["loss_D"] + metrics["loss_G"]))
    assert metrics["examples_per_sec"] > 0
    assert [q["epoch"] for q in metrics["quality"]] == [1, 2]
    for name in ("samples_epoch001.png", "samples_epoch002.png", "samples.png", "losses.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert json.loads((tmp_path / "metrics.json").read_text())["dataset"] == "shapes"
    assert load_checkpoint(tmp_path / "checkpoint.npz").epoch == 2


def test_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(backend, tmp_path):
    experiments.run(TINY_RUN, tmp_path / "straight")
    experiments.run(replace(TINY_RUN, epochs=1), tmp_path / "resumed")
    resumed = experiments.run(TINY_RUN, tmp_path / "resumed", resume=True)
    straight = load_checkpoint(tmp_path / "straight" / "checkpoint.npz")
    again = load_checkpoint(tmp_path / "resumed" / "checkpoint.npz")
    assert again.epoch == 2 and len(resumed["loss_D"]) == 2
    for group in ("generator", "discriminator", "optimizer"):
        for name, value in getattr(straight, group).items():
            np.testing.assert_allclose(
                getattr(again, group)[name], value, atol=1e-5, rtol=0, err_msg=f"{group} {name}"
            )


def test_resume_refuses_a_checkpoint_of_other_settings(backend, tmp_path):
    experiments.run(replace(TINY_RUN, epochs=1), tmp_path)
    with pytest.raises(ValueError, match=r"cannot resume .*width=4 \(checkpoint: 8\)"):
        experiments.run(replace(TINY_RUN, width=4), tmp_path, resume=True)


def test_checkpoints_are_replaced_atomically(backend, tmp_path, monkeypatch):
    experiments.run(replace(TINY_RUN, epochs=1), tmp_path)
    before = (tmp_path / "checkpoint.npz").read_bytes()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", killed)
    with pytest.raises(KeyboardInterrupt):
        experiments.run(TINY_RUN, tmp_path, resume=True)
    assert (tmp_path / "checkpoint.npz").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_generator_checkpoints_are_portable_across_backends(all_backends, tmp_path):
    gb.set_backend(all_backends[0])
    experiments.run(replace(TINY_RUN, epochs=1), tmp_path)
    checkpoint = load_checkpoint(tmp_path / "checkpoint.npz")
    noise = experiments.fixed_noise(TINY_RUN)

    def generate():
        G = models.build(TINY_RUN.networks()[0])
        gb.set_weights(G, checkpoint.generator)
        return gb.generate(G, noise)

    images = per_backend(all_backends, generate)
    for name in all_backends[1:]:
        np.testing.assert_allclose(images[name], images[all_backends[0]], atol=1e-4, err_msg=name)


def test_sample_command_draws_from_a_checkpoint_on_the_selected_backend(backend, tmp_path):
    experiments.run(replace(TINY_RUN, epochs=1), tmp_path)
    command = [
        sys.executable, "-m", "gan_backends.cli", "sample", "--backend", backend,
        "--checkpoint", str(tmp_path / "checkpoint.npz"), "--out", str(tmp_path / "grid.png"),
        "--save-array", str(tmp_path / "samples.npy"),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "grid.png").stat().st_size > 0
    G = models.build(TINY_RUN.networks()[0])
    gb.set_weights(G, load_checkpoint(tmp_path / "checkpoint.npz").generator)
    expected = gb.generate(G, experiments.fixed_noise(TINY_RUN))
    np.testing.assert_allclose(np.load(tmp_path / "samples.npy"), expected, atol=1e-4)


def short_training(data):
    """Two epochs of the small DCGAN on ``data``: per-epoch losses and the final weights."""
    G, D = models.dcgan_generator(**SMALL, seed=0), models.dcgan_discriminator(8, 16, seed=1)
    trainer = gb.Trainer(G, D, lr_D=0.005, lr_G=0.005, beta1=0.5, seed=0)
    history = trainer.fit(data, epochs=2, batch_size=8)
    return history.loss_D + history.loss_G, gb.get_weights(G) | gb.get_weights(D)


def test_uint8_images_train_exactly_as_their_float_values(backend):
    images = datasets.shapes(64, image_size=16, seed=0)
    assert images.dtype == np.uint8
    losses, weights = short_training(images)
    float_losses, float_weights = short_training(datasets.to_model_range(images))
    assert losses == float_losses
    for name, value in float_weights.items():
        np.testing.assert_array_equal(weights[name], value, err_msg=name)


def test_a_memory_mapped_data_set_streams_and_trains_as_in_memory(backend, tmp_path, monkeypatch):
    images = datasets.shapes(64, image_size=16, seed=0)
    np.save(tmp_path / "images.npy", images)
    mapped = np.load(tmp_path / "images.npy", mmap_mode="r")
    losses, weights = short_training(images)
    monkeypatch.setattr(gb.Trainer, "STREAM_BYTES", 3 * 8 * images[0].nbytes)  # 3 steps a load
    streamed_losses, streamed_weights = short_training(mapped)
    np.testing.assert_allclose(streamed_losses, losses, atol=1e-6, rtol=0)
    for name, value in weights.items():
        np.testing.assert_allclose(streamed_weights[name], value, atol=1e-6, err_msg=name)


def write_golden() -> None:
    """Writes GOLDEN from PyTorch: ``PYTHONPATH=. python -m tests.test_dcgan``."""
    gb.set_backend("torch")
    np.savez(GOLDEN, **small_outputs(), steps=twenty_steps()[0])


if __name__ == "__main__":
    write_golden()
