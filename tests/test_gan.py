"""d2l 20.1's GAN: the same networks, numbers and training on every backend."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gan_backends as gb
from gan_backends import datasets, models
from gan_backends.architectures import Dense, Network
from tests.conftest import nudge_by_one_ulp, per_backend, require_backends

ROOT = Path(__file__).parent.parent
GOLDEN = Path(__file__).parent / "golden" / "gan_20_steps.json"
STEPS, BATCH = 20, 8


def numpy_discriminator(weights, x):
    hidden = np.tanh(x @ weights["dense0.kernel"] + weights["dense0.bias"])
    hidden = np.tanh(hidden @ weights["dense1.kernel"] + weights["dense1.bias"])
    return hidden @ weights["dense2.kernel"] + weights["dense2.bias"]


def random_weights(model, seed):
    rng = np.random.default_rng(seed)
    return {
        k: rng.normal(size=v.shape).astype(np.float32) for k, v in gb.get_weights(model).items()
    }


def test_generator_and_discriminator_shapes_and_dtypes(backend):
    G, D = models.gan_generator(), models.gan_discriminator()
    fake = gb.generate(G, np.zeros((5, 2), np.float32))
    logits = gb.discriminate(D, fake)
    assert fake.shape == (5, 2) and fake.dtype == np.float32
    assert logits.shape == (5,) and logits.dtype == np.float32


def test_weights_have_the_same_canonical_names_and_shapes_everywhere(backend):
    assert {k: v.shape for k, v in gb.get_weights(models.gan_discriminator()).items()} == {
        "dense0.kernel": (2, 5), "dense0.bias": (5,),
        "dense1.kernel": (5, 3), "dense1.bias": (3,),
        "dense2.kernel": (3, 1), "dense2.bias": (1,),
    }  # fmt: skip
    assert {k: v.shape for k, v in gb.get_weights(models.gan_generator()).items()} == {
        "dense0.kernel": (2, 2),
        "dense0.bias": (2,),
    }


def test_initialisation_is_the_documented_rule_and_the_same_for_a_seed(backend):
    weights = gb.get_weights(models.gan_discriminator(seed=3))
    again = gb.get_weights(models.gan_discriminator(seed=3))
    for name, value in weights.items():
        np.testing.assert_array_equal(value, again[name])
        if name.endswith(".bias"):
            assert not value.any(), name
        if name.endswith(".kernel"):  # Glorot-uniform
            limit = np.sqrt(6 / sum(value.shape))
            assert np.abs(value).max() <= limit and np.abs(value).max() > limit / 2, name


def test_forward_matches_numpy_with_shared_weights(backend):
    G, D = models.gan_generator(), models.gan_discriminator()
    w_G, w_D = random_weights(G, 1), random_weights(D, 2)
    gb.set_weights(G, w_G)
    gb.set_weights(D, w_D)
    z = np.random.default_rng(3).normal(size=(16, 2)).astype(np.float32)
    expected_fake = z @ w_G["dense0.kernel"] + w_G["dense0.bias"]
    np.testing.assert_allclose(gb.generate(G, z), expected_fake, atol=1e-5)
    np.testing.assert_allclose(gb.discriminate(D, z), numpy_discriminator(w_D, z)[:, 0], atol=1e-5)


def twenty_steps(ulp_seed=None):
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


def assert_stable_at(tolerance, trajectory):
    """The one-ulp control: float32 steps from weights one ulp away stay within a tenth of
    ``tolerance`` of ``trajectory``, so that a difference beyond it is no rounding."""
    np.testing.assert_allclose(
        twenty_steps(ulp_seed=0), trajectory, atol=tolerance / 10, rtol=0,
        err_msg="the one-ulp control: this float32 trajectory is chaotic at this tolerance",
    )  # fmt: skip


def test_twenty_steps_follow_the_golden_trajectory(backend):
    golden = np.array(json.loads(GOLDEN.read_text())["losses"])
    trajectory = twenty_steps()
    assert_stable_at(1e-4, trajectory)
    np.testing.assert_allclose(trajectory, golden, atol=1e-4, rtol=0)


def test_twenty_steps_agree_across_backends_in_one_process(all_backends):
    trajectories = per_backend(all_backends, twenty_steps)
    gb.set_backend(all_backends[0])
    assert_stable_at(1e-4, trajectories[all_backends[0]])
    for name in all_backends[1:]:
        np.testing.assert_allclose(
            trajectories[name], trajectories[all_backends[0]], atol=1e-4, rtol=0, err_msg=name
        )


def test_eager_and_compiled_steps_agree(backend):
    results = []
    for compiled in (True, False):
        G, D = models.gan_generator(seed=0), models.gan_discriminator(seed=1)
        trainer = gb.Trainer(G, D, compiled=compiled)
        data = datasets.gaussian(16, seed=0)
        noise = np.random.default_rng(1).standard_normal((16, 2), np.float32)
        results.append([trainer.step(data[:8], noise[:8]), trainer.step(data[8:], noise[8:])])
    np.testing.assert_allclose(results[0], results[1], atol=1e-6)


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


def test_set_weights_names_what_was_expected(backend):
    D = models.gan_discriminator()
    weights = gb.get_weights(D)
    with pytest.raises(ValueError, match=r"unknown names \['dense9.kernel'\]"):
        gb.set_weights(D, {**weights, "dense9.kernel": np.zeros((3, 1))})
    with pytest.raises(ValueError, match=r"missing names \['dense2.bias'\]"):
        gb.set_weights(D, {k: v for k, v in weights.items() if k != "dense2.bias"})
    with pytest.raises(ValueError, match=r"'dense1.kernel' must have shape \(5, 3\); got \(3, 5\)"):
        gb.set_weights(D, {**weights, "dense1.kernel": np.zeros((3, 5))})


def test_saved_weights_load_back_and_refuse_another_architecture(backend, tmp_path):
    D = models.gan_discriminator(seed=4)
    path = gb.save_weights(D, tmp_path / "D.npz")
    other = models.gan_discriminator(seed=5)
    gb.load_weights(other, path)
    for name, value in gb.get_weights(D).items():
        np.testing.assert_array_equal(gb.get_weights(other)[name], value)
    with pytest.raises(ValueError, match="holds weights of a gan_discriminator"):
        gb.load_weights(models.gan_generator(), path)


def test_weights_saved_on_one_backend_load_on_every_other(all_backends, tmp_path):
    gb.set_backend(all_backends[0])
    x = np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32)
    D = models.gan_discriminator(seed=6)
    gb.save_weights(D, tmp_path / "D.npz")
    expected = gb.discriminate(D, x)
    for name in all_backends[1:]:
        gb.set_backend(name)
        D = models.gan_discriminator()
        gb.load_weights(D, tmp_path / "D.npz")
        np.testing.assert_allclose(gb.discriminate(D, x), expected, atol=1e-6, err_msg=name)


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
