"""The backend registry: each backend is one folder with a ``facts.py`` and one row naming it.

The fake backend in ``tests/fake_backend/`` (NumPy alone) proves it: registered by one row and
nothing else, selection, ``gan-backends info``, ``gan-backends compare``, the export contract
and the ``TrainStep`` Protocol all find it, and its GAN step agrees with PyTorch's.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gan_backends as gb
from gan_backends import models, selection, step
from gan_backends.backends import BACKENDS, REGISTRY, read_facts
from tests.conftest import require_backends

ROOT = Path(__file__).resolve().parents[1]
#: The one row that registers the fake backend.
FAKE_ROW = {"fake": "tests.fake_backend"}
ROWS = REGISTRY | FAKE_ROW


@pytest.fixture
def fake(monkeypatch):
    """The fake backend registered in this process, as a row of the registry registers it."""
    for name, package in FAKE_ROW.items():
        monkeypatch.setitem(REGISTRY, name, package)
        monkeypatch.setitem(BACKENDS, name, read_facts(package))
    selected = selection.current_name()
    yield "fake"
    gb.set_backend(selected)
    selection._loaded.pop("fake", None)


def cli(*arguments: str) -> subprocess.CompletedProcess:
    rows = ",".join(f"{name}={package}" for name, package in FAKE_ROW.items())
    environment = os.environ | {
        "GAN_EXTRA_BACKENDS": rows, "GAN_BACKEND": "fake", "PYTHONPATH": str(ROOT),
    }  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "gan_backends", *arguments], capture_output=True, text=True,
        env=environment, cwd=ROOT, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("name", list(ROWS))
def test_every_row_names_a_folder_whose_facts_carry_its_name(name):
    facts = read_facts(ROWS[name])
    assert facts.name == name
    assert facts.image_layout in ("NCHW", "NHWC")


def test_every_backend_has_its_own_place_in_the_default_order():
    orders = [read_facts(package).order for package in ROWS.values()]
    assert len(set(orders)) == len(orders)
    assert selection.DEFAULT_ORDER[0] == "torch"


def test_the_fake_backend_is_selected_by_name_and_its_step_is_a_train_step(fake):
    assert gb.set_backend(fake) == "fake"
    package = selection.current()
    generator, discriminator = models.gan_generator(seed=0), models.gan_discriminator(seed=1)
    settings = step.StepSettings(0.05, 0.005, 0.9, 0.999, 1e-8, compiled=False)
    train_step = package.trainer.TrainStep(generator, discriminator, settings)
    assert isinstance(train_step, step.TrainStep)


def one_step(backend: str) -> tuple[tuple[float, float], dict[str, np.ndarray]]:
    gb.set_backend(backend)
    generator, discriminator = models.gan_generator(seed=0), models.gan_discriminator(seed=1)
    rng = np.random.default_rng(2)
    X, Z = rng.normal(size=(8, 2)).astype(np.float32), rng.normal(size=(8, 2)).astype(np.float32)
    losses = gb.Trainer(generator, discriminator, compiled=False).step(X, Z)
    return losses, gb.get_weights(generator) | gb.get_weights(discriminator)


def test_a_gan_step_on_the_fake_backend_is_pytorchs_step(fake):
    require_backends("torch")
    torch_losses, torch_weights = one_step("torch")
    fake_losses, fake_weights = one_step(fake)
    assert np.isfinite(fake_losses).all()
    np.testing.assert_allclose(fake_losses, torch_losses, rtol=1e-5)
    for name, value in torch_weights.items():
        np.testing.assert_allclose(fake_weights[name], value, rtol=1e-4, atol=1e-6, err_msg=name)


def test_one_row_makes_the_fake_backend_known_to_info():
    info = cli("info")
    assert info.returncode == 0, info.stderr
    assert "selected: fake" in info.stdout
    assert any(
        line.startswith("fake ") and "device cpu" in line for line in info.stdout.splitlines()
    )


def test_one_row_makes_the_fake_backend_known_to_compare(tmp_path):
    out = tmp_path / "compare"
    arguments = ["--model", "gan", "--epochs", "1", "--limit", "64", "--no-progress"]
    compared = cli("compare", "--backends", "fake", "--out", str(out), *arguments)
    assert compared.returncode == 0, compared.stderr
    summary = json.loads((out / "compare.json").read_text())
    assert list(summary["backends"]) == ["fake"]
    assert np.isfinite(summary["backends"]["fake"]["loss_D"]).all()


#: CPU seconds a backend's threads spend while its only thread of Python sleeps, 100 times 2 ms,
#: each right after an operation its thread pool ran in parallel.
IDLE_SPIN_PROBE = """import sys, time
import gan_backends as gb
from gan_backends import ops
gb.set_backend(sys.argv[1])
big = ops.ones((1000, 1000))
spun = 0.0
for _ in range(100):
    ops.numpy(ops.exp(big))
    start = time.process_time()
    time.sleep(0.002)
    spun += time.process_time() - start
print(spun)
"""


def idle_spin(backend, environment):
    environment = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | environment
    probe = subprocess.run(
        [sys.executable, "-c", IDLE_SPIN_PROBE, backend], capture_output=True, text=True,
        env=environment | {"PYTHONPATH": str(ROOT)}, timeout=300, check=True,
    )  # fmt: skip
    return float(probe.stdout)


@pytest.mark.parametrize("backend", ["torch", "mxnet"])
def test_a_backend_on_gnu_openmp_leaves_the_cores_alone_while_it_waits(backend):
    # libgomp's threads spin for a while after each parallel region by default (measured: 0.03
    # to 0.08 s of these 0.2 s), and for ever with OMP_WAIT_POLICY=ACTIVE (--busy-wait).
    require_backends(backend)
    assert idle_spin(backend, {}) < 0.01
    assert idle_spin(backend, {"OMP_WAIT_POLICY": "ACTIVE"}) > 0.02


def test_the_readme_table_lists_every_backend_with_its_extra():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| `GAN_BACKEND` |") :].split("\n\n", 1)[0]
    rows = table.splitlines()[2:]
    names = [row.split("`")[1] for row in rows]
    assert names == list(BACKENDS)
    for row, facts in zip(rows, BACKENDS.values(), strict=True):
        assert f'pip install -e ".[{facts.pip_extra}]"' in row


def test_every_backend_has_its_tox_env():
    tox = (ROOT / "tox.ini").read_text()
    env_list = tox.split("env_list = ", 1)[1].splitlines()[0].split(", ")
    for facts in BACKENDS.values():
        assert facts.tox_env in env_list
        assert f"[testenv:{facts.tox_env}]" in tox
