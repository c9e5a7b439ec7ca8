"""TensorBoard logs: what metrics.json records, read back from the events, the same tags on
every backend."""

import json
import sys

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import gan_backends as gb
from gan_backends import cli, experiments
from gan_backends.experiments import Config

TINY_GAN = Config.for_model("gan", epochs=2, limit=64, compiled=False)
ONE_EPOCH_GAN = Config.for_model("gan", epochs=1, limit=64, compiled=False)
TINY_DCGAN = Config.for_model(
    "dcgan", epochs=2, batch_size=16, dataset="shapes", image_size=16, width=8, latent_dim=8,
    limit=64, compiled=False,
)  # fmt: skip


def read_events(run):
    return EventAccumulator(
        str(run), size_guidance={"scalars": 0, "images": 0, "tensors": 0}
    ).Reload()


def scalars(events, tag):
    return [(event.step, event.value) for event in events.Scalars(tag)]


@pytest.mark.parametrize("config", [TINY_GAN, TINY_DCGAN], ids=["gan", "dcgan"])
def test_every_epoch_is_logged_as_metrics_json_records_it(config, selected, tmp_path):
    metrics = experiments.run(config, tmp_path / "run", tensorboard=tmp_path / "tb")
    events = read_events(tmp_path / "tb" / selected)
    epochs = [1, 2]
    for tag, recorded in [
        ("loss_D", metrics["loss_D"]),
        ("loss_G", metrics["loss_G"]),
        ("examples_per_sec", metrics["examples_per_sec_per_epoch"]),
    ]:
        steps, values = zip(*scalars(events, tag), strict=True)
        assert list(steps) == epochs
        np.testing.assert_allclose(values, recorded, rtol=1e-6, err_msg=tag)
    score = "swd" if config.model == "dcgan" else "energy_distance"
    steps, values = zip(*scalars(events, f"quality/{score}"), strict=True)
    assert list(steps) == epochs
    np.testing.assert_allclose(values, [q[score] for q in metrics["quality"]], rtol=1e-6)
    images = events.Images("samples")
    assert [image.step for image in images] == epochs
    assert all(image.width > 0 and image.height > 0 for image in images)
    (text,) = events.Tensors("config/text_summary")
    logged = text.tensor_proto.string_val[0].decode().strip("`\n")
    assert json.loads(logged) == metrics["config"]


def test_every_backend_logs_the_same_tags_as_its_own_run(all_backends, tmp_path):
    tags = {}
    for name in all_backends:
        gb.set_backend(name)
        experiments.run(ONE_EPOCH_GAN, tmp_path / name, tensorboard=tmp_path / "tb")
        events = read_events(tmp_path / "tb" / name)
        tags[name] = {kind: sorted(events.Tags()[kind]) for kind in ("scalars", "images")}
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == sorted(all_backends)
    first = all_backends[0]
    for name in all_backends[1:]:
        assert tags[name] == tags[first], name
    expected = {"loss_D", "loss_G", "examples_per_sec", "quality/energy_distance"}
    assert expected <= set(tags[first]["scalars"])


def test_a_missing_tensorboardx_names_the_install_in_one_line(
    selected, tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    argv = ["train", "gan", "--epochs", "1", "--out", str(tmp_path / "run"),
            "--tensorboard", str(tmp_path / "tb")]  # fmt: skip
    assert cli.main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "--tensorboard" in line and 'pip install "gan_backends[tensorboard]"' in line
    assert not (tmp_path / "tb").exists()
