"""Weights by canonical name (gan_backends/weights.py): set and read back by name, saved to a
file and loaded on the same or any other backend, and refused in words where they do not fit."""

import numpy as np
import pytest

import gan_backends as gb
from gan_backends import models
from gan_backends.files import CorruptFileError
from gan_backends.weights import read_weights, save_weights
from tests.conftest import damaged_copies


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


def test_a_damaged_weights_file_is_named(selected, tmp_path):
    path = tmp_path / "G.npz"
    save_weights(models.gan_generator(), path)
    data = path.read_bytes()
    for how, damaged in damaged_copies(data):
        path.write_bytes(damaged)
        try:
            name, _ = read_weights(path)
        except CorruptFileError as error:
            assert str(error).startswith(f"{path} "), (how, error)
            continue
        assert name == "gan_generator", how
