"""What a run writes (gan_backends/outputs.py): the titles and pictures of its samples, and how
a finished run tells that its end's outputs are missing (a disk that filled while they were
written). The run as a whole is specified in test_experiments.py and test_runs.py."""

import json
from dataclasses import replace

import numpy as np
import pytest

from gan_backends import models
from gan_backends.experiments import Config, fixed_noise
from gan_backends.outputs import (
    GAN_SAMPLES,
    SAMPLE_COLUMNS,
    SAMPLE_ROWS,
    final_outputs_missing,
    grid_title,
    last_checkpoint_note,
    samples_picture,
)
from gan_backends.plots import GAP

DCGAN = Config.for_model("dcgan", dataset="shapes", image_size=16, width=4, latent_dim=4)
GAN = Config.for_model("gan")


def test_a_grid_title_names_model_backend_epoch_and_the_data_folder_not_its_path(selected):
    assert grid_title(DCGAN, 3) == f"dcgan on {selected}, epoch 3, shapes"
    in_a_folder = replace(DCGAN, dataset="/data/pokemon")
    assert grid_title(in_a_folder, 12) == f"dcgan on {selected}, epoch 12, pokemon"


def test_the_dcgans_picture_is_its_sample_grid_and_the_gans_its_points(selected):
    generator = models.build(DCGAN.networks()[0])
    grid = samples_picture(DCGAN, generator, np.zeros(0), fixed_noise(DCGAN))
    assert grid.dtype == np.uint8
    assert grid.shape == (SAMPLE_ROWS * 16 + 2 * GAP, SAMPLE_COLUMNS * 16 + 6 * GAP, 3)
    points = np.random.default_rng(0).normal(size=(GAN_SAMPLES, 2)).astype(np.float32)
    generator = models.build(GAN.networks()[0])
    picture = samples_picture(GAN, generator, points, fixed_noise(GAN))
    assert picture.dtype == np.uint8 and picture.ndim == 3 and picture.shape[2] in (3, 4)


@pytest.mark.parametrize("config", [GAN, DCGAN], ids=["gan", "dcgan"])
def test_a_finished_runs_end_is_missing_until_samples_losses_and_metrics_are_written(
    tmp_path, config
):
    assert final_outputs_missing(config, tmp_path)
    (tmp_path / "samples.png").write_bytes(b"png")
    (tmp_path / "losses.png").write_bytes(b"png")
    assert final_outputs_missing(config, tmp_path)  # no metrics.json
    (tmp_path / "metrics.json").write_text(json.dumps({"epochs_done": 2}))
    assert final_outputs_missing(config, tmp_path) == (config.model == "gan")
    (tmp_path / "metrics.json").write_text(json.dumps({"learned_mean": [1.0, 2.0]}))
    assert not final_outputs_missing(config, tmp_path)
    (tmp_path / "metrics.json").write_text('{"learned_mean": ')  # cut short
    assert final_outputs_missing(config, tmp_path)


def test_the_note_on_the_last_checkpoint_says_how_to_go_on(tmp_path):
    path = tmp_path / "checkpoint.npz"
    assert last_checkpoint_note(path, None) == (
        "no checkpoint was written yet, so rerun the same command to start again"
    )
    assert last_checkpoint_note(path, 4) == (
        f"the last checkpoint, {path}, holds epoch 4 and is intact: continue with the same "
        "command and --resume"
    )
