"""Checkpoints (gan_backends/checkpoints.py): a run's whole state in one file, replaced
atomically, portable across backends, and never half read when damaged."""

import json
from dataclasses import replace

import numpy as np
import pytest

import gan_backends as gb
from gan_backends import experiments, models
from gan_backends.checkpoints import load_checkpoint
from gan_backends.cli import main as cli_main
from gan_backends.experiments import Config
from gan_backends.files import CorruptFileError
from tests.conftest import damaged_copies, per_backend

TINY_RUN = Config.for_model(
    "dcgan", epochs=2, batch_size=16, dataset="shapes", image_size=16, width=8, latent_dim=8,
    limit=64, lr_D=0.0005, lr_G=0.0005,
)  # fmt: skip


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


def test_a_damaged_checkpoint_is_named_and_never_half_read(selected, checkpoint_bytes, tmp_path):
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(checkpoint_bytes)
    intact = load_checkpoint(path)
    for how, damaged in damaged_copies(checkpoint_bytes):
        path.write_bytes(damaged)
        try:
            loaded = load_checkpoint(path)
        except CorruptFileError as error:
            assert str(error).startswith(f"{path} "), (how, error)
            continue
        # A flip that the format does not read (a timestamp, say) must change nothing.
        assert loaded.epoch == intact.epoch and loaded.config == intact.config, how
        for group in ("generator", "discriminator", "optimizer"):
            for name, value in getattr(intact, group).items():
                np.testing.assert_array_equal(getattr(loaded, group)[name], value, err_msg=how)


WRONG_FIELDS = [
    ({"epoch": -5}, "'epoch' is -5; expected an integer >= 0"),
    ({"epoch": "3"}, "'epoch' is '3'; expected an integer >= 0"),
    ({"epoch": True}, "'epoch' is True; expected an integer >= 0"),
    ({"config": ["gan"]}, "'config' is a list; expected an object of settings"),
    ({"config": {"model": "vae"}}, "'config' has model 'vae'; expected 'gan' or 'dcgan'"),
    ({"rng_state": 7}, "'rng_state' is 7; expected an object"),
    ({"history": [1.0]}, "'history' is a list; expected an object of per-epoch lists"),
    ({"history": {"loss_D": "0.7"}}, "'history' entry 'loss_D' is not a list of numbers"),
    ({"history": {"backend": [3]}}, "'history' entry 'backend' is not a list of backend names"),
    ({"history": {"grades": []}}, "'history' has an unknown entry 'grades'"),
]


def test_a_checkpoint_field_of_the_wrong_type_or_range_is_named_in_one_line(
    selected, checkpoint_bytes, tmp_path, capsys
):
    path = tmp_path / "checkpoint.npz"
    for change, fault in WRONG_FIELDS:
        path.write_bytes(checkpoint_bytes)
        with np.load(path) as archive:
            arrays = {key: archive[key] for key in archive.files}
        arrays["meta"] = np.array(json.dumps(json.loads(str(arrays["meta"])) | change))
        np.savez(path, **arrays)
        assert (
            cli_main(["sample", "--checkpoint", str(path), "--out", str(tmp_path / "g.png")]) == 2
        )
        assert capsys.readouterr().err == (
            f"gan-backends: error: {path} is a damaged checkpoint ({fault})\n"
        ), change
    assert not (tmp_path / "g.png").exists()
