"""GAN_BACKEND picks the backend; only that framework is imported; mistakes explain the fix."""

import importlib
import os
import subprocess
import sys

import pytest

from gan_backends import selection
from gan_backends.backends import BACKENDS, MODULES, REGISTRY
from tests.conftest import require_backends
from tests.test_backends import FAKE_ROW

pytestmark = pytest.mark.cross_backend

FRAMEWORKS = {name: info.module for name, info in BACKENDS.items()}
FRAMEWORK_MODULES = sorted(FRAMEWORKS.values())


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "GAN_BACKEND"} | env
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, timeout=300
    )


@pytest.mark.parametrize("name", list(BACKENDS))
def test_gan_backend_selects_and_imports_only_that_framework(name):
    require_backends(name)
    frameworks = f"sorted(m for m in {FRAMEWORK_MODULES} if m in sys.modules)"
    # What a framework imports itself is its own affair: TensorFlow 2.17 imports an installed jax.
    alone = run_python(f"import sys, {FRAMEWORKS[name]}\nprint({frameworks})")
    assert FRAMEWORKS[name] in alone.stdout, alone.stderr
    code = (
        "import sys, gan_backends as gb\n"
        "from gan_backends import ops\n"
        "ops.zeros(3)\n"
        f"print(gb.backend(), {frameworks})"
    )
    result = run_python(code, GAN_BACKEND=name)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split(maxsplit=1) == [name, alone.stdout]


def test_importing_gan_backends_imports_no_framework_before_first_use():
    result = run_python(
        f"import sys, gan_backends\nprint([m for m in {FRAMEWORK_MODULES} if m in sys.modules])"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_unknown_backend_name_lists_the_valid_names():
    result = run_python("import gan_backends as gb\ngb.backend()", GAN_BACKEND="caffe")
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert "Unknown backend 'caffe'" in last_line
    assert "torch, tensorflow, mxnet, jax" in last_line


def test_uninstalled_backend_says_which_pip_install_fixes_it(monkeypatch):
    monkeypatch.setattr(selection, "_is_installed", lambda name: name != "mxnet")
    with pytest.raises(selection.BackendError, match=r'pip install "gan_backends\[mxnet\]"'):
        selection.resolve("mxnet")


def test_default_is_the_first_installed_in_the_default_order(monkeypatch):
    monkeypatch.delenv("GAN_BACKEND", raising=False)
    monkeypatch.setattr(selection, "_is_installed", lambda name: name in ("mxnet", "tensorflow"))
    assert selection.resolve() == "tensorflow"
    monkeypatch.setattr(selection, "_is_installed", lambda name: False)
    with pytest.raises(selection.BackendError, match="No backend is installed"):
        selection.resolve()


def test_backend_name_is_case_and_space_insensitive(monkeypatch):
    monkeypatch.setattr(selection, "_is_installed", lambda name: True)
    assert selection.resolve(" TensorFlow ") == "tensorflow"


@pytest.mark.parametrize("module", list(MODULES))
@pytest.mark.parametrize("backend", list(REGISTRY | FAKE_ROW))
def test_every_backend_exports_exactly_the_listed_names(backend, module):
    if backend in REGISTRY:
        require_backends(backend)
    package = importlib.import_module((REGISTRY | FAKE_ROW)[backend])
    assert sorted(package.__all__) == sorted(MODULES)
    exported = getattr(package, module)
    assert sorted(exported.__all__) == sorted(MODULES[module])
    for name in MODULES[module]:
        assert callable(getattr(exported, name)), f"{backend}.{module}.{name}"


def test_every_backend_folder_has_the_same_files():
    root = importlib.import_module("gan_backends.backends").__path__[0]
    listings = {
        name: sorted(f for f in os.listdir(os.path.join(root, name)) if f.endswith(".py"))
        for name in BACKENDS
    }
    expected = sorted(["__init__.py", "facts.py", *(f"{m}.py" for m in MODULES)])
    assert listings == {name: expected for name in BACKENDS}
