"""Optional dependencies (gan_backends/extras.py): imported when first used, and a missing one
named with the pip command that installs it."""

import json

import pytest

from gan_backends.extras import MissingExtraError, require


def test_an_installed_module_is_imported():
    assert require("json", "tensorboard", "--tensorboard") is json


def test_a_missing_module_names_the_extra_that_installs_it():
    with pytest.raises(MissingExtraError) as missing:
        require("no_such_writer.events", "tensorboard", "--tensorboard")
    assert str(missing.value) == (
        '--tensorboard needs no_such_writer: pip install "gan_backends[tensorboard]"'
    )
    assert isinstance(missing.value, ImportError)
