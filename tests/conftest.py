"""Tests run once per backend. A backend whose framework is absent is skipped, saying so,
unless GAN_REQUIRE_BACKENDS names it (the `all` tox env), where its absence fails.

Tests that compare backends in one process (those taking ``all_backends``, and the modules
marked so) carry the ``cross_backend`` mark; the `all` env runs those, and each backend's own
env runs everything."""

import os
import signal

import numpy as np
import pytest

import gan_backends as gb
from gan_backends.backends import BACKENDS

REQUIRED = {name for name in os.environ.get("GAN_REQUIRE_BACKENDS", "").split(",") if name}

if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    # Started as a background job (`tox &` in a script), the tests inherit Ctrl-C ignored, and so
    # would every process they start; they send Ctrl-C as a terminal does to its foreground job.
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def data_cache(tmp_path_factory, monkeypatch):
    """Downloads and decoded data sets go to a folder of the test session, never the user's."""
    cache = tmp_path_factory.mktemp("data-cache")
    monkeypatch.setenv("GAN_BACKENDS_DATA", str(cache))
    return cache


def pytest_collection_modifyitems(items):
    for item in items:
        if "all_backends" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cross_backend)


def require_backends(*names: str) -> None:
    """Skip (or fail, where required) unless every backend in ``names`` is installed."""
    installed = set(gb.installed_backends())
    for name in names:
        if name in installed:
            continue
        message = f"{name} is not installed in this environment (tox -e {name} or -e all runs it)"
        if name in REQUIRED:
            pytest.fail(f"{message}, but GAN_REQUIRE_BACKENDS requires it")
        pytest.skip(message)


def per_backend(names, compute):
    """``compute()`` once with each named backend selected: {name: result}."""
    results = {}
    for name in names:
        gb.set_backend(name)
        results[name] = compute()
    return results


def nudge_by_one_ulp(model, seed: int) -> None:
    """Move every weight of ``model`` one ulp up or down, at random from ``seed``: the control
    a float32 multi-step test needs, to show that its trajectory is stable at its tolerance
    (at d2l's DCGAN settings one ulp can move the losses by 0.2 to 1.5 within 5 steps)."""
    rng = np.random.default_rng(seed)
    gb.set_weights(model, {
        name: np.nextafter(value, np.where(rng.random(value.shape) < 0.5, -np.inf, np.inf))
        .astype(value.dtype)
        for name, value in gb.get_weights(model).items()
    })  # fmt: skip


@pytest.fixture(params=list(BACKENDS))
def backend(request):
    """Each backend in turn, selected for the test's duration."""
    require_backends(request.param)
    previous = gb.backend() if gb.installed_backends() else None
    gb.set_backend(request.param)
    yield request.param
    if previous:
        gb.set_backend(previous)


@pytest.fixture
def all_backends():
    """Every backend together, for cross-backend comparisons in one process."""
    require_backends(*BACKENDS)
    return list(BACKENDS)


@pytest.fixture
def selected():
    """The environment's own backend (GAN_BACKEND, else the default), for tests of
    backend-neutral behaviour that need one backend to train, not every one."""
    if not gb.installed_backends():
        pytest.skip("no backend is installed in this environment")
    name = gb.selection.resolve()
    require_backends(name)
    gb.set_backend(name)
    return name


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory):
    """The bytes of a real checkpoint, written by a one-epoch GAN run."""
    from gan_backends.experiments import Config, run

    gb.set_backend(gb.selection.resolve())
    out = tmp_path_factory.mktemp("run")
    run(Config.for_model("gan", epochs=1, limit=16, compiled=False), out)
    return (out / "checkpoint.npz").read_bytes()


def damaged_copies(data):
    """Truncations at several lengths and single-byte flips spread over the whole file."""
    for length in (0, 1, 10, len(data) // 2, len(data) - 22, len(data) - 1):
        yield f"truncated to {length}", data[:length]
    for position in range(0, len(data), max(1, len(data) // 400)):
        flipped = bytearray(data)
        flipped[position] ^= 0x5A
        yield f"flipped at {position}", bytes(flipped)
