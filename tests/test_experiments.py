"""A training run (gan_backends/experiments.py): what it writes, how it resumes to the weights
of an uninterrupted run, and which checkpoints it refuses to resume."""

import json
from dataclasses import replace

import numpy as np
import pytest

from gan_backends import experiments
from gan_backends.checkpoints import load_checkpoint
from gan_backends.experiments import Config

TINY_RUN = Config.for_model(
    "dcgan", epochs=2, batch_size=16, dataset="shapes", image_size=16, width=8, latent_dim=8,
    limit=64, lr_D=0.0005, lr_G=0.0005,
)  # fmt: skip


def test_a_short_training_run_writes_everything(backend, tmp_path):
    metrics = experiments.run(TINY_RUN, tmp_path)
    assert metrics["backend"] == backend
    assert len(metrics["loss_D"]) == len(metrics["loss_G"]) == 2
    assert all(np.isfinite(metrics["loss_D"] + metrics["loss_G"]))
    assert metrics["examples_per_sec"] > 0
    assert [q["epoch"] for q in metrics["quality"]] == [1, 2]
    written = ["samples_epoch001.png", "samples_epoch002.png", "samples.png", "losses.png"]
    for name in [*written, "quality.png"]:
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
