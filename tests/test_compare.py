"""gan-backends compare: one fair run per backend, merged into a table, a JSON and a figure."""

import json
import os
import sys

import numpy as np
import pytest

from gan_backends import compare as comparison
from gan_backends import selection
from gan_backends.experiments import Config

pytestmark = pytest.mark.cross_backend

GAN_ONE_EPOCH = Config.for_model("gan", epochs=1)
TINY_DCGAN = Config.for_model(
    "dcgan", epochs=1, batch_size=16, dataset="shapes", image_size=16, width=8, latent_dim=8,
    limit=64,
)  # fmt: skip


def check_outputs(out, backends):
    summary = json.loads((out / "compare.json").read_text())
    assert list(summary["backends"]) == backends
    for result in summary["backends"].values():
        assert np.all(np.isfinite(result["loss_D"] + result["loss_G"]))
        assert result["examples_per_sec"] > 0
        assert all(np.isfinite(v) for v in result["quality"].values() if isinstance(v, float))
    assert (out / "compare.png").stat().st_size > 0
    table = (out / "compare.md").read_text()
    assert all(f"| {name} |" in table for name in backends)
    return summary


def test_gan_backends_from_shared_weights_track_each_other(all_backends, tmp_path):
    summary = comparison.compare(GAN_ONE_EPOCH, all_backends, tmp_path)
    check_outputs(tmp_path, all_backends)
    assert summary["largest_loss_difference_in_one_run"] < 1e-4
    means = [r["quality"]["learned_mean"] for r in summary["backends"].values()]
    np.testing.assert_allclose(means, [means[0]] * len(means), atol=1e-3)


def test_dcgan_comparison_shows_each_backends_samples(all_backends, tmp_path):
    summary = comparison.compare(TINY_DCGAN, all_backends, tmp_path)
    check_outputs(tmp_path, all_backends)
    for name in all_backends:
        assert (tmp_path / name / "samples.png").exists()
        assert summary["backends"][name]["quality"]["swd"] > 0
    assert summary["largest_loss_difference_in_one_run"] < 1e-2


def test_compare_runs_on_a_single_installed_backend(backend, tmp_path):
    summary = comparison.compare(GAN_ONE_EPOCH, [backend], tmp_path)
    check_outputs(tmp_path, [backend])
    assert summary["largest_loss_difference_in_one_run"] == 0.0


def test_isolated_comparison_needs_an_interpreter_per_backend(tmp_path):
    with pytest.raises(FileNotFoundError) as missing:
        comparison.interpreters(["mxnet"], isolated=True, given={}, root=tmp_path)
    assert str(missing.value) == (
        "compare needs an interpreter for mxnet: create its tox env with `tox -e mxnet "
        f"--notest` (compare then uses {tmp_path}/.tox/mxnet/bin/python), pass --python "
        "mxnet=PATH, or leave mxnet out of --backends"
    )
    given = {"mxnet": "/opt/mxnet/bin/python"}
    assert comparison.interpreters(["mxnet"], True, given, tmp_path) == given


def test_a_backend_missing_here_runs_in_its_tox_env_or_is_named_before_training(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(selection, "installed_backends", lambda: ["torch"])
    with pytest.raises(FileNotFoundError, match=r"^mxnet is not installed in this environment; "):
        comparison.interpreters(["torch", "mxnet"], isolated=False, given={}, root=tmp_path)
    tox_python = tmp_path / ".tox" / "mxnet" / "bin" / "python"
    tox_python.parent.mkdir(parents=True)
    tox_python.touch()
    chosen = comparison.interpreters(["torch", "mxnet"], isolated=False, given={}, root=tmp_path)
    assert chosen == {"torch": sys.executable, "mxnet": str(tox_python)}


@pytest.mark.parametrize(
    ("t", "dof"), [(12.706, 1), (4.303, 2), (3.182, 3), (2.776, 4), (2.571, 5), (2.228, 10)]
)
def test_t_p_values_match_the_tables_two_sided_5_percent_points(t, dof):
    assert comparison.t_p_value(t, dof) == pytest.approx(0.05, abs=2e-4)
    assert comparison.t_threshold(0.05, dof) == pytest.approx(t, abs=2e-3)


def skewed_runs(rng, count, shift=0.0):
    """Runs whose summaries are skewed like the GAN's (an error against 0, a loss against log 2)."""
    errors = rng.gamma(2.0, 0.2, count) + shift
    losses = np.log(2) - rng.gamma(1.0, 0.004, count)
    return [{"mean_error": e, "loss_D": d} for e, d in zip(errors, losses, strict=True)]


def test_verdicts_rarely_call_chance_a_difference_and_find_a_shift_of_two_spreads():
    rng = np.random.default_rng(0)
    pool = skewed_runs(rng, 200)
    assert comparison.false_alarm_rate(pool, seeds=5, backends=4, draws=1000) < 0.07
    same = {"torch": pool[:5], "jax": pool[:5]}
    assert comparison.backend_verdicts(same)["jax"]["verdict"] == "within chance"
    shifted = {"torch": pool[:5], "jax": skewed_runs(rng, 5, shift=2 * 0.2 * np.sqrt(2) * 3)}
    judged = comparison.backend_verdicts(shifted)["jax"]
    assert judged["verdict"] == "differs"
    assert judged["tests"]["mean_error"]["differs"] and not judged["tests"]["loss_D"]["differs"]


def broken_python(folder):
    """An interpreter that runs this one with the generator's learning rate cut 100x."""
    (folder / "sitecustomize.py").write_text(
        "import dataclasses\n"
        "from gan_backends import experiments\n"
        "build = experiments.build_trainer\n"
        "def slow_generator(config, *args, **kwargs):\n"
        "    return build(dataclasses.replace(config, lr_G=config.lr_G / 100), *args, **kwargs)\n"
        "experiments.build_trainer = slow_generator\n"
    )
    wrapper = folder / "python"
    path = f'PYTHONPATH="{folder}${{PYTHONPATH:+:$PYTHONPATH}}"'
    wrapper.write_text(f'#!/bin/sh\n{path} exec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def test_seeds_find_a_backend_whose_generator_learns_100x_slower(all_backends, tmp_path):
    pythons = {"tensorflow": broken_python(tmp_path), "jax": sys.executable}
    config = Config.for_model("gan", epochs=4)
    summary = comparison.compare(
        config, ["torch", "jax", "tensorflow"], tmp_path / "out", pythons=pythons, seeds=3
    )
    assert summary["seeds"] == [0, 1000, 2000]
    backends = summary["backends"]
    assert backends["torch"]["verdict"] == "reference"
    assert backends["jax"]["verdict"] == "within chance"
    assert backends["tensorflow"]["verdict"] == "differs"
    error = backends["tensorflow"]["tests"]["mean_error"]
    assert error["differs"] and abs(error["t"]) > error["threshold"]
    assert error["level"] == pytest.approx(0.05 / 8)
    assert backends["jax"]["largest_loss_difference_in_one_run"] < 1e-2
    assert summary["largest_loss_difference_between_reference_runs"] > 1e-2
    table = (tmp_path / "out" / "compare.md").read_text()
    assert "| tensorflow | differs | mean_error |" in table
    assert "| jax | within chance | mean_error |" in table
    for name in ("torch", "jax", "tensorflow"):
        assert all((tmp_path / "out" / name / f"seed-{s}" / "metrics.json").exists()
                   for s in summary["seeds"])  # fmt: skip
    assert os.path.getsize(tmp_path / "out" / "compare.png") > 0
