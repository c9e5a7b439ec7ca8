"""The benchmarks run, on every installed backend, and report positive numbers.

A smoke run (tiny models, one thread, a few steps): it checks that the benchmark works, not how
fast anything is.
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

import gan_backends as gb
from tests.conftest import require_backends

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "benchmarks" / "train_step.py"
FLOOR_SCRIPT = REPO_ROOT / "benchmarks" / "mxnet_call_floor.py"


def benchmarked_backends() -> list[str]:
    """The installed backends that the benchmark has a native side for (it has none for JAX)."""
    spec = importlib.util.spec_from_file_location("benchmarks_train_step", SCRIPT)
    benchmark = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # for dataclasses
    spec.loader.exec_module(benchmark)
    return [name for name in gb.installed_backends() if name in benchmark.NATIVE_SIDES]


@pytest.mark.parametrize("model", ["gan", "dcgan"])
def test_smoke_run_reports_every_installed_backend(model, tmp_path):
    installed = benchmarked_backends()
    if not installed:
        pytest.skip("no benchmarked backend is installed (pip install -e '.[torch]', ...)")
    report_path = tmp_path / "report.json"
    command = [
        sys.executable, str(SCRIPT), "--smoke", "--model", model,
        "--backends", ",".join(installed), "--threads", "1", "--json", str(report_path),
    ]  # fmt: skip
    completed = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr[-4000:]
    report = json.loads(report_path.read_text())
    assert report["failures"] == {}
    assert [result["backend"] for result in report["results"]] == installed
    table_rows = {line.split()[0] for line in completed.stdout.splitlines() if line.strip()}
    for result in report["results"]:
        assert result["backend"] in table_rows
        for side in ("library", "native"):
            assert result[side]["examples_per_sec"] > 0
            assert result[side]["tflops"] > 0
            assert result[side]["threads"] == 1
        assert result["library_over_native"] > 0
        if model == "dcgan":  # peak memory is measured for the DCGAN by default
            for side in ("library", "native"):
                assert result["memory"][side]["rss_mib"] > 0


def test_mxnet_call_floor_prints_its_ceiling_against_the_target():
    require_backends("mxnet")
    command = [sys.executable, str(FLOOR_SCRIPT), "--steps", "5"]
    completed = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr[-4000:]
    for phase in ("recorded forward", "backward", "Adam update", "step", "target"):
        assert phase in completed.stdout
    ceiling = float(completed.stdout.split("ceiling / target = ")[1].split("x")[0])
    assert ceiling > 0
