"""The examples and the gan-backends command, run as a user runs them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(arguments, backend=None, **kwargs):
    env = {k: v for k, v in os.environ.items() if k != "GAN_BACKEND"}
    if backend:
        env["GAN_BACKEND"] = backend
    return subprocess.run(
        [sys.executable, *arguments], capture_output=True, text=True, env=env, cwd=ROOT,
        timeout=600, **kwargs,
    )  # fmt: skip


def test_activations_example_draws_the_same_curves_as_numpy(backend, tmp_path):
    result = run(["examples/activations.py", "--out", str(tmp_path)], backend)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "activations.png").stat().st_size > 0
    curves = np.load(tmp_path / "activations.npz")
    x = curves["x"]
    np.testing.assert_array_equal(x, np.arange(-8.0, 8.0, 0.1).astype(np.float32))
    sigmoid = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(curves["relu_value"], np.maximum(x, 0), atol=1e-6)
    np.testing.assert_allclose(curves["relu_grad"], (x > 0).astype(np.float32))
    np.testing.assert_allclose(curves["sigmoid_value"], sigmoid, atol=1e-6)
    np.testing.assert_allclose(curves["sigmoid_grad"], sigmoid * (1 - sigmoid), atol=1e-6)
    np.testing.assert_allclose(curves["tanh_grad"], 1 - np.tanh(x) ** 2, atol=1e-6)
    np.testing.assert_allclose(curves["leaky_relu_grad"], np.where(x > 0, 1.0, 0.2), atol=1e-6)


def test_gan_example_writes_metrics_plots_and_the_seeds_closing_line(backend, tmp_path):
    result = run(
        ["examples/gan.py", "--epochs", "2", "--out", str(tmp_path), "--no-progress"], backend
    )
    assert result.returncode == 0, result.stderr
    last_line = result.stdout.strip().splitlines()[-1]
    assert last_line.startswith("loss_D ") and " examples/sec on " in last_line
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["backend"] == backend
    assert len(metrics["loss_D"]) == len(metrics["loss_G"]) == 2
    assert metrics["examples_per_sec"] > 0
    assert np.array(metrics["learned_cov"]).shape == (2, 2)
    assert metrics["true_mean"] == [1.0, 2.0]
    np.testing.assert_allclose(metrics["true_cov"], [[1.01, 1.95], [1.95, 4.25]])
    for name in ("losses.png", "quality.png", "samples.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_gan_example_flags_reach_the_trainer(backend, tmp_path):
    arguments = ["examples/gan.py", "--epochs", "1", "--batch-size", "10", "--lr-d", "0.01"]
    result = run([*arguments, "--lr-g", "0.001", "--seed", "3", "--out", str(tmp_path)], backend)
    assert result.returncode == 0, result.stderr
    config = json.loads((tmp_path / "metrics.json").read_text())["config"]
    assert (config["batch_size"], config["lr_D"], config["lr_G"], config["seed"]) == (
        10, 0.01, 0.001, 3,
    )  # fmt: skip


def test_cli_backend_flag_overrides_gan_backend(backend, tmp_path):
    command = ["-m", "gan_backends.cli", "train", "gan", "--backend", backend, "--epochs", "1"]
    result = run([*command, "--out", str(tmp_path)], "caffe")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "metrics.json").read_text())["backend"] == backend


def test_cli_reports_bad_input_in_one_line_without_a_traceback(tmp_path):
    missing = tmp_path / "nowhere"
    command = ["-m", "gan_backends.cli", "train", "dcgan", "--dataset", str(missing)]
    result = run([*command, "--out", str(tmp_path / "run")])  # never the quick start's runs/
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("gan-backends: error:") and str(missing) in result.stderr


def test_cli_names_an_unknown_gan_backend_in_one_line():
    result = run(["-m", "gan_backends.cli", "info"], "caffe")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "gan-backends: error: Unknown backend 'caffe' (from GAN_BACKEND or --backend). "
        "Valid names: torch, tensorflow, mxnet, jax."
    )


def test_info_lists_every_backend():
    result = run(["-m", "gan_backends.cli", "info"])
    assert result.returncode == 0, result.stderr
    for name in ("torch", "tensorflow", "mxnet", "jax"):
        assert name in result.stdout


def test_an_example_names_itself_in_its_help():
    result = run(["examples/dcgan.py", "--help"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: dcgan.py train ")


@pytest.mark.parametrize("model", ["gan", "dcgan"])
def test_train_help_lists_the_issue_flags(model):
    result = run(["-m", "gan_backends.cli", "train", model, "--help"])
    flags = ["--epochs", "--batch-size", "--seed", "--out", "--resume", "--no-progress"]
    flags += (
        ["--lr-d", "--lr-g"] if model == "gan" else ["--dataset", "--image-size", "--width", "--lr"]
    )
    for flag in flags:
        assert flag in result.stdout, flag
