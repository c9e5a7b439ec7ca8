"""The contract between the core and a backend's training step (gan_backends/step.py): every
backend's ``trainer.TrainStep`` is built from the two models and one StepSettings, and
provides what the TrainStep Protocol lists."""

import dataclasses
import inspect

import numpy as np
import pytest

import gan_backends as gb
from gan_backends import datasets, models, selection
from gan_backends.step import StepSettings, TrainStep, levels

SETTINGS = StepSettings(lr_D=0.05, lr_G=0.005, beta1=0.9, beta2=0.999, epsilon=1e-8, compiled=False)


def test_settings_are_frozen_and_default_to_one_float32_process():
    assert (SETTINGS.dtype, SETTINGS.precision, SETTINGS.cluster) == ("float32", "32", None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        SETTINGS.lr_D = 1.0


def test_the_trainer_hands_its_settings_to_the_step(backend):
    trainer = gb.Trainer(models.gan_generator(), models.gan_discriminator(), lr_D=0.01)
    assert trainer.settings == dataclasses.replace(SETTINGS, lr_D=0.01, compiled=trainer.compiled)
    assert trainer._step.settings is trainer.settings


def test_every_backends_step_is_built_from_the_models_and_one_settings(backend):
    step_class = selection.current().trainer.TrainStep
    assert list(inspect.signature(step_class).parameters) == [
        "generator",
        "discriminator",
        "settings",
    ]
    assert isinstance(step_class.compiles_by_default(models.gan_generator().network), bool)


def test_every_backends_step_provides_the_protocol_and_behaves_as_it_says(backend):
    G, D = models.gan_generator(seed=0), models.gan_discriminator(seed=1)
    step = selection.current().trainer.TrainStep(G, D, SETTINGS)
    assert isinstance(step, TrainStep)
    assert step.settings is SETTINGS
    assert step.compile_note is None  # not compiled
    step.load_data(datasets.gaussian(16, seed=0))
    noise = np.random.default_rng(1).standard_normal((2, 8, 2), np.float32)
    totals = step.run(np.arange(16).reshape(2, 8), noise)
    assert len(totals) == 2 and np.isfinite(totals).all()
    state = step.optimizer_state()
    assert {key.split("/")[0] for key in state} == {"D", "G"}
    assert float(state["D/step"]) == float(state["G/step"]) == 2
    shapes = {f"{role}/{name}.m": shape for role, model in (("G", G), ("D", D))
              for name, shape in model.network.weight_shapes().items()}  # fmt: skip
    for key, value in state.items():
        if key.endswith(".m"):
            assert value.shape == shapes[key], key
    zeroed = {key: np.zeros_like(value) for key, value in state.items()}
    step.load_optimizer_state(zeroed)
    for key, value in step.optimizer_state().items():
        np.testing.assert_array_equal(value, zeroed[key], err_msg=key)


def test_levels_are_the_same_values_in_either_dtype():
    assert levels("float32") is datasets.LEVELS
    np.testing.assert_allclose(levels("float64"), datasets.LEVELS, atol=1e-7, rtol=0)
    assert levels("float64").dtype == np.float64 and levels("float64")[255] == 1.0
