"""The benchmarks run, on every backend, and report positive numbers; the Keras peers compute
what the library computes.

Smoke runs (tiny models, one thread, a few steps): they check that the benchmarks work, not how
fast anything is. Benchmarks compare backends, so these run where all four are installed (the
`all` tox env) and are skipped, saying so, in a backend's own env.
"""

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gan_backends as gb
from gan_backends.backends import BACKENDS
from tests.conftest import require_backends

pytestmark = pytest.mark.cross_backend


@pytest.fixture(autouse=True)
def every_backend():
    require_backends(*BACKENDS)


REPO_ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO_ROOT / "benchmarks"
SCRIPT = BENCHMARKS / "train_step.py"
WALL_TIME_SCRIPT = BENCHMARKS / "examples_wall_time.py"
FLOOR_SCRIPT = BENCHMARKS / "mxnet_call_floor.py"
SCALING_SCRIPT = BENCHMARKS / "scaling.py"
LOADING_SCRIPT = BENCHMARKS / "data_loading.py"
sys.path.append(str(BENCHMARKS))
from peers import PEERS  # noqa: E402

KERAS_SIDES = ("keras", "keras_equal_work")


def keras_runs_on(backend):
    """Whether this interpreter has Keras 3 and Keras 3 has a backend for ``backend``."""
    if PEERS[backend].keras is None or importlib.util.find_spec("keras") is None:
        return False
    from importlib.metadata import version

    return int(version("keras").split(".")[0]) >= 3


def run(command, timeout):
    completed = subprocess.run(
        [sys.executable, *map(str, command)], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout + completed.stderr[-4000:]
    return completed


def test_every_peer_file_defines_the_same_names_as_its_kind():
    def top_level_names(path):
        tree = ast.parse(path.read_text())
        names = set()
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                names.update(target.id for target in node.targets if isinstance(target, ast.Name))
        return names

    for backend, peers in PEERS.items():
        d2l = top_level_names(BENCHMARKS / "peers" / f"{peers.d2l}.py")
        assert {"networks", "build"} <= d2l, (backend, d2l)
        if peers.keras is not None:
            keras = top_level_names(BENCHMARKS / "peers" / f"keras_{peers.keras}.py")
            expected = {"DATA_FORMAT", "IdiomaticGAN", "EqualWorkGAN", "VARIANTS", "device"}
            assert expected | {"threads"} <= keras, (backend, keras)


def test_both_models_on_every_installed_backend_in_one_command(tmp_path):
    installed = gb.installed_backends()
    report_path = tmp_path / "report.json"
    command = [
        SCRIPT, "--smoke", "--model", "all", "--backends", ",".join(installed),
        "--threads", "1", "--json", report_path,
    ]  # fmt: skip
    completed = run(command, timeout=900)
    reports = json.loads(report_path.read_text())["models"]
    assert list(reports) == ["gan", "dcgan"]
    for model, report in reports.items():
        assert report["failures"] == {}
        assert [result["backend"] for result in report["results"]] == installed
        for result in report["results"]:
            sides = ["library", "native"]
            if keras_runs_on(result["backend"]):
                sides += KERAS_SIDES
            else:
                assert "keras" not in result and result["keras_missing"]
            for side in sides:
                assert result[side]["examples_per_sec"] > 0
                assert result[side]["tflops"] > 0
                assert result[side]["threads"] == 1
            for side in sides[1:]:
                assert result[f"library_over_{side}"] > 0
            if model == "dcgan":  # peak memory is measured for the DCGAN by default
                for side in sides:
                    assert result["memory"][side]["rss_mib"] > 0
    summary = completed.stdout.split("library / peer on the same framework")[1]
    rows = [line.split() for line in summary.splitlines()[2:] if line.strip()]
    expected = [[model, backend] for model in ("gan", "dcgan") for backend in installed]
    assert [row[:2] for row in rows] == expected
    for row in rows:
        assert float(row[2].rstrip("x")) > 0  # library / native


def test_the_library_alone_per_precision_and_beside_competing_processes(tmp_path):
    report_path = tmp_path / "report.json"
    command = [
        SCRIPT, "--smoke", "--model", "gan", "--backends", "torch,mxnet", "--no-keras",
        "--threads", "1", "--precision", "32,bf16-mixed", "--busy", "1", "--json", report_path,
    ]  # fmt: skip
    completed = run(command, timeout=600)
    report = json.loads(report_path.read_text())
    assert report["peak_tflops"]["float32 peak"] > 0 and report["peak_tflops"]["bfloat16 peak"] > 0
    torch, mxnet = report["library_alone"]
    for precision in ["32", "bf16-mixed"]:
        assert torch["quiet"][precision]["examples_per_sec"] > 0
    assert mxnet["quiet"]["32"]["examples_per_sec"] > 0
    assert "bf16-mixed" in mxnet["quiet"]["bf16-mixed"]["error"]  # refused, saying why
    for result in (torch, mxnet):
        assert result["busy"]["1"]["examples_per_sec"] > 0
    assert "library against PyTorch's library: mxnet" in completed.stdout
    assert "beside 1" in completed.stdout


def test_keras_peers_first_step_gives_the_library_losses(tmp_path):
    installed = gb.installed_backends()
    with_keras = [backend for backend in installed if keras_runs_on(backend)]
    if not with_keras:
        pytest.skip("no installed backend has Keras 3 here (pip install keras>=3)")
    report_path = tmp_path / "losses.json"
    command = [
        SCRIPT, "--check-losses", "--smoke", "--model", "all", "--backends",
        ",".join(with_keras), "--json", report_path,
    ]  # fmt: skip
    run(command, timeout=600)  # exits 1 where they disagree
    reports = json.loads(report_path.read_text())["models"]
    for report in reports.values():
        assert [result["backend"] for result in report["results"]] == with_keras
        for result in report["results"]:
            for side in KERAS_SIDES:
                np.testing.assert_allclose(result[side], result["library"], atol=1e-4)


def test_wall_time_of_the_gan_example_beside_d2l_cold_and_warm_with_its_training_speed(tmp_path):
    backend = gb.installed_backends()[-1]
    report_path = tmp_path / "wall.json"
    command = [
        WALL_TIME_SCRIPT, "--models", "gan", "--backends", backend, "--peers", "d2l",
        "--epochs", "2", "--limit", "64", "--json", report_path,
    ]  # fmt: skip
    completed = run(command, timeout=900)
    (result,) = json.loads(report_path.read_text())["results"]
    assert (result["model"], result["backend"], result["epochs"]) == ("gan", backend, 2)
    for side in ["example", "d2l"]:
        assert result[side]["cold"] > 0 and result[side]["warm"] > 0
        assert result[side]["cold_epoch_rate"] > 0 and result[side]["warm_epoch_rate"] > 0
    rows = [line.split() for line in completed.stdout.splitlines() if line.startswith("gan ")]
    assert rows[0][1] == backend and "failed" not in rows[0]
    speeds = {row[2]: row for row in rows[1:]}
    assert set(speeds) == {"cold", "warm"}
    for row in speeds.values():  # example, d2l, example/d2l (and on PyTorch, where it ran)
        assert float(row[5].rstrip("x")) > 0


def test_the_wall_time_peers_train_on_the_dcgan_examples_images_as_floats():
    # Running the DCGAN example is left to the benchmark: cold, PyTorch compiles it for a minute.
    from examples_wall_time import example_data

    images = example_data("dcgan", limit=8, image_size=16)
    assert images.shape == (8, 3, 16, 16) and images.dtype == np.float32
    assert -1.0 <= images.min() < images.max() <= 1.0


def test_scaling_reports_one_and_two_workers_on_the_engine():
    backend = gb.installed_backends()[-1]
    command = [SCALING_SCRIPT, "--model", "gan", "--small", "--epochs", "1", "--backends", backend]
    completed = run(command, timeout=600)
    rows = [line.split() for line in completed.stdout.splitlines() if line.startswith(backend)]
    assert [row[1] for row in rows] == ["1", "2"]
    for row in rows:
        assert float(row[2].replace(",", "")) > 0  # examples/sec
    _, _, _, efficiency, moved = rows[1]
    assert float(efficiency) > 0 and float(moved.replace(",", "")) > 0  # two workers talk


def test_data_loading_reports_first_and_cached_runs(tmp_path):
    command = [LOADING_SCRIPT, "--images", "300", "--work", tmp_path]
    completed = run(command, timeout=300)
    rows = [line.split() for line in completed.stdout.splitlines()[1:]]
    assert [row[:3] for row in rows] == [["300", "this", "first"], ["300", "this", "cached"]]
    for row in rows:
        assert float(row[3]) >= 0 and row[6] == "uint8"


def test_mxnet_call_floor_prints_its_ceiling_against_the_target():
    completed = run([FLOOR_SCRIPT, "--steps", "5"], timeout=300)
    for phase in ("recorded forward", "backward", "Adam update", "step", "target"):
        assert phase in completed.stdout
    ceiling = float(completed.stdout.split("ceiling / target = ")[1].split("x")[0])
    assert ceiling > 0
