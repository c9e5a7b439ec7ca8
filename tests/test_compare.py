"""gan-backends compare: one fair run per backend, merged into a table, a JSON and a figure."""

import json
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
    assert summary["max_loss_deviation"] < 1e-4
    means = [r["quality"]["learned_mean"] for r in summary["backends"].values()]
    np.testing.assert_allclose(means, [means[0]] * len(means), atol=1e-3)


def test_dcgan_comparison_shows_each_backends_samples(all_backends, tmp_path):
    summary = comparison.compare(TINY_DCGAN, all_backends, tmp_path)
    check_outputs(tmp_path, all_backends)
    for name in all_backends:
        assert (tmp_path / name / "samples.png").exists()
        assert summary["backends"][name]["quality"]["swd"] > 0
    assert summary["max_loss_deviation"] < 1e-2


def test_compare_runs_on_a_single_installed_backend(backend, tmp_path):
    summary = comparison.compare(GAN_ONE_EPOCH, [backend], tmp_path)
    check_outputs(tmp_path, [backend])
    assert summary["max_loss_deviation"] == 0.0


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
