"""The training semantic (gan_backends/training.py and each backend's ``trainer``), the same on
every backend: d2l 20.1's GAN and 20.2's DCGAN step for step against golden trajectories and
each other, ``fit`` and its progress, and what each backend's step must get right.

Cross-backend agreement is tested in float64, where rounding cannot hide a difference, over
many steps, and in float32 one step at a time from an identical state (float32 training at
d2l's DCGAN settings is chaotic: one ulp of the initial weights moves the losses by 0.2 to 1.5
within 5 steps). A float32 multi-step trajectory is tested only beside a one-ulp control that
shows it stable at the test's tolerance."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gan_backends as gb
from gan_backends import datasets, experiments, models
from gan_backends.architectures import Dense, Network
from gan_backends.checkpoints import Checkpoint, load_checkpoint, restore
from gan_backends.experiments import Config
from tests.conftest import nudge_by_one_ulp, per_backend, require_backends
from tests.test_models import small_outputs

ROOT = Path(__file__).parent.parent
GAN_GOLDEN = Path(__file__).parent / "golden" / "gan_20_steps.json"
DCGAN_GOLDEN = Path(__file__).parent / "golden" / "dcgan_small.npz"  # python -m tests.test_training
STEPS, BATCH = 20, 8
DCGAN = {"width": 8, "image_size": 16}  # d2l's DCGAN at a size that steps in milliseconds
DCGAN_BATCH, DCGAN_LATENT = 16, 16
SMALL_DCGAN = {"latent_dim": 8, "width": 8, "image_size": 16}
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


# d2l 20.1's GAN step for step, and fit


def gan_twenty_steps(ulp_seed=None):
    """Per-step (loss_D, loss_G) of the chapter's setup from fixed weights, data and noise (the
    weights one ulp away, at random from ``ulp_seed``, where it is given)."""
    data = datasets.gaussian(1000, seed=0)
    G, D = models.gan_generator(seed=0), models.gan_discriminator(seed=1)
    if ulp_seed is not None:
        nudge_by_one_ulp(G, ulp_seed)
        nudge_by_one_ulp(D, ulp_seed + 1)
    trainer = gb.Trainer(G, D, lr_D=0.05, lr_G=0.005)
    noise = np.random.default_rng(1).standard_normal((STEPS, BATCH, 2), np.float32)
    return np.array(
        [trainer.step(data[i * BATCH : (i + 1) * BATCH], noise[i]) for i in range(STEPS)]
    )


def assert_gan_stable_at(tolerance, trajectory):
    """The one-ulp control: float32 steps from weights one ulp away stay within a tenth of
    ``tolerance`` of ``trajectory``, so that a difference beyond it is no rounding."""
    np.testing.assert_allclose(
        gan_twenty_steps(ulp_seed=0), trajectory, atol=tolerance / 10, rtol=0,
        err_msg="the one-ulp control: this float32 trajectory is chaotic at this tolerance",
    )  # fmt: skip


def test_gan_steps_follow_the_golden_trajectory(backend):
    golden = np.array(json.loads(GAN_GOLDEN.read_text())["losses"])
    trajectory = gan_twenty_steps()
    assert_gan_stable_at(1e-4, trajectory)
    np.testing.assert_allclose(trajectory, golden, atol=1e-4, rtol=0)


def test_gan_steps_agree_across_backends_in_one_process(all_backends):
    trajectories = per_backend(all_backends, gan_twenty_steps)
    gb.set_backend(all_backends[0])
    assert_gan_stable_at(1e-4, trajectories[all_backends[0]])
    for name in all_backends[1:]:
        np.testing.assert_allclose(
            trajectories[name], trajectories[all_backends[0]], atol=1e-4, rtol=0, err_msg=name
        )


def test_eager_and_compiled_steps_compute_the_same_steps(backend):
    # In float64, where a different but equal way of computing (the eager step's fused Adam,
    # its one discriminator pass over real and fake) moves nothing above 1e-12.
    results = []
    for compiled in (True, False):
        G = models.gan_generator(seed=0, dtype="float64")
        D = models.gan_discriminator(seed=1, dtype="float64")
        trainer = gb.Trainer(G, D, compiled=compiled)
        data = datasets.gaussian(16, seed=0)
        noise = np.random.default_rng(1).standard_normal((16, 2))
        results.append([trainer.step(data[:8], noise[:8]), trainer.step(data[8:], noise[8:])])
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)


def test_twenty_epochs_learn_the_mean(backend):
    data = datasets.gaussian(1000, seed=0)
    G, D = models.gan_generator(seed=0), models.gan_discriminator(seed=1)
    history = gb.Trainer(G, D, seed=0).fit(data, epochs=20, batch_size=8, latent_dim=2)
    assert len(history.loss_D) == len(history.examples_per_sec) == 20
    fake = gb.generate(G, np.random.default_rng(2).standard_normal((1000, 2), np.float32))
    # After about 500 steps rounding decides the trajectory, and the generator's mean keeps
    # wandering about the target (2.2 away untrained): over 24 seeds of Trainer on each
    # backend it ended at most 0.42 away.
    assert np.linalg.norm(fake.mean(0) - datasets.GAUSSIAN_B) < 0.5
    assert 0.3 < history.loss_D[-1] < 1.0


def test_fit_reads_losses_per_example_like_the_seed(backend):
    data = datasets.gaussian(64, seed=0)
    G, D = models.gan_generator(seed=0), models.gan_discriminator(seed=1)
    gb.set_weights(D, {k: np.zeros_like(v) for k, v in gb.get_weights(D).items()})
    history = gb.Trainer(G, D, lr_D=0.0, lr_G=0.0, seed=0).fit(data, epochs=1, batch_size=8)
    # A frozen all-zero discriminator gives every example the logit 0: each loss is log 2.
    assert history.loss_D[0] == pytest.approx(np.log(2), abs=1e-6)
    assert history.loss_G[0] == pytest.approx(np.log(2), abs=1e-6)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.zeros((10, 3), np.float32), r"data must have shape \(N, 2\); got \(10, 3\)"),
        (np.zeros(10, np.float32), r"data must have shape \(N, 2\); got \(10,\)"),
        (np.array([["a", "b"]] * 8), "data must be numeric"),
    ],
)
def test_data_of_the_wrong_rank_or_width_is_refused(backend, data, message):
    trainer = gb.Trainer(models.gan_generator(), models.gan_discriminator())
    with pytest.raises(ValueError, match=message):
        trainer.fit(data, epochs=1, batch_size=2)


def test_a_non_finite_loss_stops_training_with_advice(backend):
    data = datasets.gaussian(32, seed=0)
    data[5] = np.nan
    trainer = gb.Trainer(models.gan_generator(), models.gan_discriminator(), seed=0)
    with pytest.raises(FloatingPointError, match=r"non-finite.*lower the learning rates"):
        trainer.fit(data, epochs=1, batch_size=32)


def test_the_progress_bar_shows_the_rate_the_history_records(backend, capsys):
    G, D = models.gan_generator(seed=0), models.gan_discriminator(seed=1)
    trainer = gb.Trainer(G, D, seed=0)
    trainer._step.compile_note = "compiling the step for the test"
    history = trainer.fit(datasets.gaussian(64, seed=0), epochs=2, batch_size=8, progress=True)
    shown = capsys.readouterr().err
    assert shown.lstrip("\r").startswith("compiling the step for the test:")
    final = shown.rstrip("\n").split("\r")[-1]
    assert "epoch 2/2: 100%" in final
    assert f"loss_D {history.loss_D[-1]:.3f}, loss_G {history.loss_G[-1]:.3f}" in final
    assert final.endswith(f"{history.examples_per_sec[-1]:,.1f} examples/sec]")


FIT_WITH_PROGRESS = """
import gan_backends as gb
from gan_backends import datasets, models
trainer = gb.Trainer(models.gan_generator(seed=0), models.gan_discriminator(seed=1), seed=0)
trainer.fit(datasets.gaussian(64, seed=0), epochs=2, batch_size=8, progress=True)
"""


def test_the_progress_bar_shows_on_a_terminal_that_reports_no_width(backend):
    controller, terminal = os.openpty()  # a new pseudo-terminal reports 0 rows and 0 columns
    assert os.get_terminal_size(terminal).columns == 0
    with subprocess.Popen(
        [sys.executable, "-c", FIT_WITH_PROGRESS], cwd=ROOT, stderr=terminal,
        env={**os.environ, "GAN_BACKEND": backend},
    ) as process:  # fmt: skip
        os.close(terminal)
        shown = b""
        while chunk := _read_until_closed(controller):
            shown += chunk
    os.close(controller)
    assert process.returncode == 0, shown.decode()
    assert "epoch 2/2: 100%" in shown.decode()


def _read_until_closed(descriptor: int) -> bytes:
    try:
        return os.read(descriptor, 65536)
    except OSError:  # EIO: the child closed the terminal
        return b""


# d2l 20.2's DCGAN step for step


def small_dcgan():
    """The small DCGAN's generator and discriminator from seeded weights."""
    return models.dcgan_generator(**SMALL_DCGAN, seed=0), models.dcgan_discriminator(8, 16, seed=1)


def dcgan_twenty_steps(ulp_seed=None):
    """Per-step losses of the small DCGAN at the default learning rates from seeded weights
    (one ulp away, at random from ``ulp_seed``, where it is given), data and noise, and the
    weights (moving statistics included) it ends with."""
    G, D = small_dcgan()
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


def assert_dcgan_stable_at(tolerance, losses, weights):
    """The one-ulp control: float32 steps from weights one ulp away stay within a tenth of
    ``tolerance`` of ``losses`` and ``weights`` (on these shapes, at these settings; on emoji
    at width 8 they do not), so that a difference beyond it is no rounding."""
    control_losses, control_weights = dcgan_twenty_steps(ulp_seed=0)
    message = "the one-ulp control: this float32 trajectory is chaotic at this tolerance"
    np.testing.assert_allclose(control_losses, losses, atol=tolerance / 10, err_msg=message)
    for key, value in weights.items():
        np.testing.assert_allclose(
            control_weights[key], value, atol=tolerance / 10, err_msg=f"{message}: {key}"
        )


def test_dcgan_steps_follow_the_golden_trajectory(backend):
    losses, weights = dcgan_twenty_steps()
    assert_dcgan_stable_at(1e-3, losses, weights)
    np.testing.assert_allclose(losses, np.load(DCGAN_GOLDEN)["steps"], atol=1e-3, rtol=0)


def test_dcgan_steps_agree_across_backends_moving_statistics_included(all_backends):
    runs = per_backend(all_backends, dcgan_twenty_steps)
    first_losses, first_weights = runs[all_backends[0]]
    gb.set_backend(all_backends[0])
    assert_dcgan_stable_at(1e-3, first_losses, first_weights)
    for name in all_backends[1:]:
        losses, weights = runs[name]
        np.testing.assert_allclose(losses, first_losses, atol=1e-3, rtol=0, err_msg=name)
        for key, value in weights.items():
            np.testing.assert_allclose(
                value, first_weights[key], atol=1e-3, rtol=0, err_msg=f"{name} {key}"
            )


def test_adam_state_loads_back_as_it_was_saved(backend):
    """Width 64: kernels of 131,072 weights, which MXNet updates with its fused Adam."""
    G = models.dcgan_generator(**(SMALL_DCGAN | {"width": 64}), seed=0)
    D = models.dcgan_discriminator(64, 16, seed=1)
    trainer = gb.Trainer(G, D, lr_D=0.005, lr_G=0.005, beta1=0.5)
    x = datasets.shapes(BATCH, image_size=16, seed=4)
    trainer.step(x, np.random.default_rng(5).standard_normal((BATCH, 8, 1, 1), np.float32))
    saved = trainer.optimizer_state()
    trainer.load_optimizer_state(saved)
    for key, value in trainer.optimizer_state().items():
        np.testing.assert_allclose(value, saved[key], rtol=1e-6, atol=0, err_msg=key)


def short_training(data):
    """Two epochs of the small DCGAN on ``data``: per-epoch losses and the final weights."""
    G, D = small_dcgan()
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


# What one backend's step must get right


MISSING_COMPILER_RUN = """
import numpy as np
import gan_backends as gb
from gan_backends import models
trainer = gb.Trainer(models.gan_generator(), models.gan_discriminator(), compiled=True)
trainer.step(np.zeros((8, 2), np.float32), np.zeros((8, 2), np.float32))
"""


def test_torch_without_a_cpu_compiler_says_how_to_train_anyway(tmp_path):
    require_backends("torch")
    environment = dict(
        os.environ, GAN_BACKEND="torch", GAN_DEVICE="cpu", CXX="no-such-compiler++",
        TORCHINDUCTOR_CACHE_DIR=str(tmp_path),  # nothing compiled before, to reuse
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )  # fmt: skip
    completed = subprocess.run(
        [sys.executable, "-c", MISSING_COMPILER_RUN],
        env=environment, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert completed.returncode != 0
    message = completed.stderr.strip().splitlines()[-1]
    assert "no-such-compiler++" in completed.stderr
    assert "RuntimeError: torch.compile could not build the training step" in completed.stderr
    assert "compiled=False" in message and "--eager" in message


CUDA_WARNING = """
import logging
import gan_backends as gb
gb.set_backend("torch")
gb.selection.current()
logging.getLogger("torch.utils.cpp_extension").warning("No CUDA runtime is found")
"""


def test_torch_on_the_cpu_keeps_the_cuda_builds_runtime_warning_out_of_the_bar():
    """A CUDA build of torch on a machine with a CUDA toolkit and no GPU warns through this
    logger when torch.compile first loads its C++ builder (too large a build to test here)."""
    require_backends("torch")
    environment = {**os.environ, "GAN_DEVICE": "cpu"}
    completed = subprocess.run(
        [sys.executable, "-c", CUDA_WARNING], capture_output=True, text=True, timeout=300,
        env=environment,
    )  # fmt: skip
    assert (completed.returncode, completed.stderr) == (0, "")


def test_mxnet_gathering_batches_in_pieces_trains_as_gathering_them_whole(monkeypatch):
    require_backends("mxnet")
    from gan_backends.backends.mxnet import trainer as mxnet_trainer

    previous = gb.backend()
    gb.set_backend("mxnet")
    try:
        results = []
        for gather_bytes in (mxnet_trainer.GATHER_BYTES, 1):  # a whole epoch, then one step
            monkeypatch.setattr(mxnet_trainer, "GATHER_BYTES", gather_bytes)
            G, D = models.gan_generator(seed=0), models.gan_discriminator(seed=1)
            history = gb.Trainer(G, D, seed=0).fit(datasets.gaussian(64, seed=0), 2, 8)
            results.append((history.loss_D, history.loss_G, gb.get_weights(G)))
    finally:
        gb.set_backend(previous)
    (*whole_losses, whole_weights), (*piece_losses, piece_weights) = results
    np.testing.assert_allclose(whole_losses, piece_losses, rtol=1e-6)
    for name, value in whole_weights.items():
        np.testing.assert_allclose(value, piece_weights[name], rtol=1e-6, err_msg=name)


def test_mxnet_adam_is_keras_float32_adam_on_small_and_large_parameters():
    require_backends("mxnet")
    from gan_backends.backends.mxnet.nn import build
    from gan_backends.backends.mxnet.trainer import LARGE_PARAMETER, Adam

    width = int(np.sqrt(LARGE_PARAMETER)) + 1  # a kernel above the threshold, a bias below
    model = build(Network("net", (width,), (Dense("dense", width, width),)), "float32")
    lr, beta1, beta2, epsilon = 0.005, 0.5, 0.999, 1e-8
    adam = Adam(model, lr, beta1, beta2, epsilon)
    parameters = adam.parameters
    for parameter in parameters:
        parameter.data()[:] = 0  # small weights, so that their rounding is small too
    weights = [np.zeros(p.shape, np.float32) for p in parameters]
    m, v = [np.zeros_like(w) for w in weights], [np.zeros_like(w) for w in weights]
    rng = np.random.default_rng(0)
    for t in np.arange(1, 4, dtype=np.float32):
        gradients = [
            (rng.standard_normal(w.shape) * 10.0 ** rng.uniform(-9, 0, w.shape)).astype(np.float32)
            for w in weights
        ]  # down to the size of epsilon, where v's accuracy shows
        for parameter, gradient in zip(parameters, gradients, strict=True):
            parameter.grad()[:] = gradient
        adam.step()
        rate = np.float32(lr) * np.sqrt(1 - np.float32(beta2) ** t) / (1 - np.float32(beta1) ** t)
        for i, (parameter, gradient) in enumerate(zip(parameters, gradients, strict=True)):
            m[i] += (gradient - m[i]) * np.float32(1 - beta1)
            v[i] += (gradient * gradient - v[i]) * np.float32(1 - beta2)
            weights[i] -= m[i] * rate / (np.sqrt(v[i]) + np.float32(epsilon))
            # Rounding could differ by 1e-9 here; MXNet's fused updates as they are would be
            # 6e-6 (adam_update) to 4e-5 (multi_adamw_update) of a step of lr off.
            np.testing.assert_allclose(
                parameter.data().asnumpy(), weights[i], rtol=0, atol=1e-6 * lr, err_msg=i
            )
        for i, moments in enumerate(adam.moments()):  # as saved in checkpoints
            for moment, expected in zip(moments, (m[i], v[i]), strict=True):
                rounding = 1e-6 * np.abs(expected).max()  # where m's terms cancel
                np.testing.assert_allclose(moment.asnumpy(), expected, rtol=1e-6, atol=rounding)


# bf16 mixed precision: bfloat16 compute on float32 weights, Adam state and losses


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


def write_golden() -> None:
    """Writes DCGAN_GOLDEN from PyTorch: ``PYTHONPATH=. python -m tests.test_training``."""
    gb.set_backend("torch")
    np.savez(DCGAN_GOLDEN, **small_outputs(), steps=dcgan_twenty_steps()[0])


if __name__ == "__main__":
    write_golden()
