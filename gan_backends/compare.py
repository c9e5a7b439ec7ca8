"""``gan-backends compare``: the same training on several backends, side by side.

Fair by construction: the initial weights are drawn once (in NumPy) and saved to
``OUT/initial_weights.npz``, and every backend loads them with ``set_weights``; the data, the
batch order and the noise come from the same seeded NumPy generator on every backend, so no
framework RNG plays a part. Each backend trains in its own process (fresh thread pools, honest
timings): the current interpreter by default, or, with ``--isolated``, each backend's own
interpreter (``--python torch=PATH,...``, else the tox env ``.tox/<backend>``), so that
TensorFlow 2.21 and MXNet, which cannot share an environment, can still be compared. A backend
that the current interpreter lacks runs in its tox env when there is one; otherwise the
comparison stops before training anything and says what to do.

Writes ``compare.json``, ``compare.md`` (a table to paste into an issue) and ``compare.png``
(loss curves overlaid; for the DCGAN each backend's samples side by side), and prints the table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gan_backends import plots, selection
from gan_backends.experiments import Config, initial_weights, summary_line
from gan_backends.files import write_atomically, write_json, write_npz
from gan_backends.runs import RunFolderError


class BackendRunError(RuntimeError):
    """One backend's training process failed; the message ends with its own last line."""


def worker_command(
    python: str,
    config: Config,
    backend: str,
    out: Path,
    initial: Path,
    overwrite: bool = False,
    nproc: int = 1,
    tensorboard: Path | None = None,
) -> list[str]:
    """The ``gan-backends train`` command line that runs ``config`` on ``backend`` (in
    ``nproc`` workers, through ``gan-backends launch``, when more than one)."""
    launcher = ["launch", "--nproc", str(nproc)] if nproc > 1 else []
    command = [
        python, "-m", "gan_backends", *launcher, "train", config.model, "--backend", backend,
        "--out", str(out), "--initial", str(initial), "--no-progress",
        "--epochs", str(config.epochs), "--batch-size", str(config.batch_size),
        "--lr-d", repr(config.lr_D), "--lr-g", repr(config.lr_G), "--beta1", repr(config.beta1),
        "--latent-dim", str(config.latent_dim), "--seed", str(config.seed),
    ]  # fmt: skip
    if config.dtype != "float32":
        command += ["--dtype", config.dtype]
    if overwrite:
        command.append("--overwrite")
    if tensorboard is not None:
        command += ["--tensorboard", str(tensorboard)]
    if config.compiled is not None:
        command.append("--compile" if config.compiled else "--eager")
    if config.limit is not None:
        command += ["--limit", str(config.limit)]
    if config.model == "dcgan":
        command += ["--dataset", config.dataset, "--image-size", str(config.image_size)]
        command += ["--fit", config.fit]
        command += ["--width", str(config.width)]
    return command


def interpreters(
    backends: list[str], isolated: bool, given: dict[str, str], root: Path
) -> dict[str, str]:
    """Which Python runs each backend: ``given``, else the tox env where ``isolated`` or where
    this interpreter lacks the backend, else this interpreter."""
    installed = set(selection.installed_backends())
    chosen, missing = {}, []
    for name in backends:
        tox_env = selection.BACKENDS[name].tox_env
        tox_python = root / ".tox" / tox_env / "bin" / "python"
        if name in given:
            chosen[name] = given[name]
        elif (isolated or name not in installed) and tox_python.exists():
            chosen[name] = str(tox_python)
        elif isolated or name not in installed:
            missing.append(name)
        else:
            chosen[name] = sys.executable
    if len(missing) == 1:
        name = missing[0]
        tox_env = selection.BACKENDS[name].tox_env
        tox_python = root / ".tox" / tox_env / "bin" / "python"
        where = "" if isolated else f"{name} is not installed in this environment; "
        raise FileNotFoundError(
            f"{where}compare needs an interpreter for {name}: create its tox env with "
            f"`tox -e {tox_env} --notest` (compare then uses {tox_python}), pass --python "
            f"{name}=PATH, or leave {name} out of --backends"
        )
    if missing:  # all named at once, so that one rerun suffices
        where = "" if isolated else f"{', '.join(missing)} are not installed here; "
        ways = "; ".join(
            f"{name}: `tox -e {selection.BACKENDS[name].tox_env} --notest` or "
            f"{selection.pip_hint(name)}"
            for name in missing
        )
        raise FileNotFoundError(
            f"{where}compare needs an interpreter for each of {', '.join(missing)} ({ways}); "
            "or pass --python NAME=PATH, or leave them out of --backends"
        )
    return chosen


def compare(
    config: Config,
    backends: list[str],
    out: str | os.PathLike,
    isolated: bool = False,
    pythons: dict[str, str] | None = None,
    overwrite: bool = False,
    progress: bool = False,
    nproc: int = 1,
    tensorboard: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Train ``config`` on each backend from the same start and compare; returns compare.json.

    A folder that holds an earlier comparison is refused unless ``overwrite`` replaces it.
    ``progress`` prints a line to stderr as each backend starts and ends. ``nproc`` > 1 trains
    each backend data-parallel in that many workers, on its own engine. ``tensorboard`` logs
    each backend's epochs for TensorBoard as the run ``<tensorboard>/<backend>``.
    """
    out = Path(out)
    if (out / "compare.json").exists() and not overwrite:
        raise RunFolderError(
            f"{out} already holds a comparison (compare.json); replace it with --overwrite, "
            "or choose another --out"
        )
    pythons = interpreters(backends, isolated, pythons or {}, Path.cwd())
    initial = write_npz(out / "initial_weights.npz", initial_weights(config))
    results = {}
    for number, name in enumerate(backends, start=1):
        if progress:
            print(f"{name}: training ({number} of {len(backends)})", file=sys.stderr, flush=True)
        command = worker_command(
            pythons[name], config, name, out / name, initial, overwrite, nproc,
            None if tensorboard is None else Path(tensorboard),
        )  # fmt: skip
        finished = subprocess.run(command, capture_output=True, text=True)
        if finished.returncode != 0:
            last = (finished.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise BackendRunError(f"{name} failed (exit {finished.returncode}): {last}")
        results[name] = json.loads((out / name / "metrics.json").read_text())
        if progress:
            print(f"{name}: {summary_line(results[name])}", file=sys.stderr, flush=True)
    summary = summarise(config, results)
    write_json(out / "compare.json", summary)
    table = markdown_table(summary)
    write_atomically(out / "compare.md", lambda file: file.write(f"{table}\n".encode()))
    curves = {name: (r["loss_D"], r["loss_G"]) for name, r in results.items()}
    grids = None
    if config.model == "dcgan":
        grids = {name: np.asarray(Image.open(out / name / "samples.png")) for name in backends}
    plots.compare_figure(curves, grids, out / "compare.png", title=f"{config.model}, same start")
    print(table)
    return summary


def summarise(config: Config, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    first = next(iter(results.values()))
    deviations = [
        float(np.max(np.abs(np.subtract(result[key], first[key]))))
        for result in results.values()
        for key in ("loss_D", "loss_G")
    ]
    return {
        "model": config.model,
        "config": asdict(config),
        "reference_backend": next(iter(results)),
        "max_loss_deviation": max(deviations),
        "backends": {
            name: {
                "framework_version": result["framework_version"],
                "device": result["device"],
                "threads": result["threads"],
                "workers": result["workers_per_epoch"][-1],
                "loss_D": result["loss_D"],
                "loss_G": result["loss_G"],
                "examples_per_sec": result["examples_per_sec"],
                "quality": result["quality"][-1],
            }
            for name, result in results.items()
        },
    }


def device_text(result: dict[str, Any]) -> str:
    """Where a backend trained: device and threads, times its workers in a distributed run."""
    text = f"{result['device']} ({result['threads']} threads"
    workers = result["workers"]
    return text + (f" x {workers} workers)" if workers > 1 else ")")


def markdown_table(summary: dict[str, Any]) -> str:
    """compare.json as a Markdown table."""
    if summary["model"] == "gan":
        quality_columns = {"mean error": "mean_error", "cov error": "cov_error",
                           "energy distance": "energy_distance"}  # fmt: skip
    else:
        quality_columns = {"SWD x1e3": "swd", "SWD floor": "swd_floor"}
    header = ["backend", "version", "device", "final loss_D", "final loss_G", "examples/sec"]
    header += list(quality_columns)
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for name, result in summary["backends"].items():
        row = [
            name, result["framework_version"], device_text(result),
            f"{result['loss_D'][-1]:.4f}", f"{result['loss_G'][-1]:.4f}",
            f"{result['examples_per_sec']:,.1f}",
        ]  # fmt: skip
        row += [f"{result['quality'][key]:.4g}" for key in quality_columns.values()]
        lines.append("| " + " | ".join(row) + " |")
    epochs = len(next(iter(summary["backends"].values()))["loss_D"])
    lines.append(
        f"\n{summary['model']}, {epochs} epochs from the same initial weights, batches and "
        f"noise; largest per-epoch loss difference from {summary['reference_backend']}: "
        f"{summary['max_loss_deviation']:.2e}"
    )
    return "\n".join(lines)
