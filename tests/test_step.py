"""The training step's contract: every backend's ``trainer.TrainStep`` is a
:class:`gan_backends.step.TrainStep`, built from two models and one :class:`StepSettings`."""

import inspect

import pytest

import gan_backends as gb
from gan_backends import models, selection
from gan_backends.step import DTYPES, StepSettings, TrainStep


def settings(**changes) -> StepSettings:
    return StepSettings(lr_D=0.05, lr_G=0.005, beta1=0.9, beta2=0.999, epsilon=1e-8,
                        compiled=False, **changes)  # fmt: skip


def test_the_constructor_takes_the_two_models_and_the_settings(backend):
    parameters = inspect.signature(selection.current().trainer.TrainStep).parameters
    assert list(parameters) == ["generator", "discriminator", "settings"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_built_step_conforms_to_the_protocol_and_keeps_its_settings(backend, dtype):
    chosen = settings(dtype=dtype)
    step = selection.current().trainer.TrainStep(
        models.gan_generator(seed=0), models.gan_discriminator(seed=0), chosen
    )
    assert isinstance(step, TrainStep)
    assert step.settings is chosen


def test_the_trainer_builds_the_settings_from_its_arguments(backend):
    trainer = gb.Trainer(models.gan_generator(), models.gan_discriminator(), lr_D=0.1, lr_G=0.2)
    assert trainer.settings == StepSettings(0.1, 0.2, 0.9, 0.999, 1e-8, trainer.compiled)


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        settings().lr_D = 1.0  # type: ignore[misc]
