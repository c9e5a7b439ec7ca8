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

One float32 run cannot decide whether two frameworks agree: float32 training at d2l's DCGAN
settings is chaotic, so a one-ulp change of the initial weights moves the losses as far as
another framework does. Two commands decide: ``--dtype float64`` for "same semantics" (the
largest loss difference in one run then falls to rounding), ``--seeds N`` for "same statistics".

``--seeds N`` (N >= 2) trains every backend N times. Replicate ``i`` uses the seed
``seed + 1000 * i`` for everything the seed governs: the initial weights (``initial_weights``:
G from that seed, D from seed + 1, hence the stride, so that no two replicates share a stream),
the data, the batch order and the noise. Other seeds rather than perturbed weights, because a
framework difference could show in any of them, and a verdict "same statistics" must hold over
the whole distribution of runs the library produces. Replicate ``i`` is identical on every
backend (same weights file, same batches), so replicate ``i`` of one backend differs from
replicate ``i`` of another only by the framework: the runs are paired, which can only shrink the
differences the test sees, never inflate them. A backend's N replicates run one after the other
in one worker process (framework import and compilation paid once), still one process per
backend.

The verdict. Each run is reduced to a few summaries, each the mean over the last third of its
epochs (past the transient, averaging the epoch-to-epoch wobble): the quality score that the
metrics already compute (the GAN's errors of the learned mean and covariance; the DCGAN's sliced
Wasserstein distance) and both losses. The first backend's spread over its own N runs is the
noise floor (reported as its standard deviation). The test is Student's two-sample t with the
pooled standard deviation ``s`` of both backends' runs: ``t = (mean(x) - mean(r)) / (s *
sqrt(2/N))`` with 2N - 2 degrees of freedom. A backend "differs" when any of its summaries has a
two-sided p-value below ``ALPHA`` (0.05) divided by the number of tests (other backends x
summaries: Bonferroni), so that a comparison with nothing to find reports any "differs" at most
about 5% of the time. Why this test: the summaries are skewed (the losses sit against log 2, the
errors against 0), and a t against the reference's spread alone (N - 1 degrees of freedom)
measured a false-alarm rate of 0.115 at --seeds 5 over 4 backends; with equal group sizes the
pooled t is robust to that skew and measured 0.04 (:func:`false_alarm_rate`, see the README). An
exact permutation test would need no normality, but with N = 5 its smallest p-value, 2/252,
cannot pass a Bonferroni level of 0.05/12.

Writes ``compare.json``, ``compare.md`` (a table to paste into an issue) and ``compare.png``
(loss curves overlaid, or each backend's band over its N runs; for the DCGAN each backend's
samples side by side), and prints the table.

Run as ``python -m gan_backends.compare COMMANDS_JSON``, it is the worker that runs a backend's
replicates: each ``gan-backends`` command line of the JSON list in turn, in this process.
"""

from __future__ import annotations

import functools
import json
import math
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gan_backends import plots, selection
from gan_backends.experiments import Config, initial_weights, summary_line
from gan_backends.files import write_atomically, write_json, write_npz
from gan_backends.runs import RunFolderError

#: The family-wise false-alarm level of the verdicts (Bonferroni over backends and summaries).
ALPHA = 0.05
#: Replicate i trains from seed + SEED_STRIDE * i.
SEED_STRIDE = 1000
#: Per-run summaries tested, per model: final-epochs means of these metrics.
SUMMARIES = {
    "gan": ("mean_error", "cov_error", "loss_D", "loss_G"),
    "dcgan": ("swd", "loss_D", "loss_G"),
}
WITHIN_CHANCE = "within chance"
DIFFERS = "differs"


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
    train_flags: Sequence[str] = (),
) -> list[str]:
    """The ``gan-backends train`` command line that runs ``config`` on ``backend`` (in
    ``nproc`` workers, through ``gan-backends launch``, when more than one); ``train_flags``
    are appended as they are."""
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
    return command + list(train_flags)


def replicates_command(commands: list[list[str]]) -> list[str]:
    """One process that runs the ``worker_command`` lines ``commands`` (same interpreter) in
    turn, so that the framework is imported once."""
    python = commands[0][0]
    return [python, "-m", "gan_backends.compare", json.dumps([c[3:] for c in commands])]


def run_commands(argvs: list[list[str]]) -> int:
    """Run each ``gan-backends`` argument list in turn; the first failure's exit status."""
    from gan_backends import cli  # cli imports this module

    for argv in argvs:
        status = cli.main(argv)
        if status:
            return status
    return 0


def replicate_seeds(seed: int, seeds: int) -> list[int]:
    """The seeds of ``seeds`` replicates from ``seed`` (see the module docstring)."""
    return [seed + SEED_STRIDE * index for index in range(seeds)]


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
    seeds: int = 1,
    train_flags: Sequence[str] = (),
) -> dict[str, Any]:
    """Train ``config`` on each backend from the same start and compare; returns compare.json.

    A folder that holds an earlier comparison is refused unless ``overwrite`` replaces it.
    ``progress`` prints a line to stderr as each backend starts and ends. ``nproc`` > 1 trains
    each backend data-parallel in that many workers, on its own engine. ``seeds`` >= 2 trains
    each backend that many times (in ``OUT/<backend>/seed-<seed>``) and gives every backend
    after the first a verdict against the first one's spread. ``train_flags`` are passed on to
    every ``gan-backends train``. ``tensorboard`` logs each backend's epochs for
    TensorBoard as the run ``<tensorboard>/<backend>`` (``<tensorboard>/seed-<seed>/<backend>``
    with seeds).
    """
    if seeds < 1:
        raise ValueError(f"--seeds must be 1 or more (2 or more for verdicts); got {seeds}")
    out = Path(out)
    if (out / "compare.json").exists() and not overwrite:
        raise RunFolderError(
            f"{out} already holds a comparison (compare.json); replace it with --overwrite, "
            "or choose another --out"
        )
    pythons = interpreters(backends, isolated, pythons or {}, Path.cwd())
    replicates = [replace(config, seed=seed) for seed in replicate_seeds(config.seed, seeds)]
    if seeds == 1:
        starts = [write_npz(out / "initial_weights.npz", initial_weights(config))]
    else:
        starts = [
            write_npz(out / f"initial_weights-seed-{r.seed}.npz", initial_weights(r))
            for r in replicates
        ]
    runs: dict[str, list[dict[str, Any]]] = {}
    for number, name in enumerate(backends, start=1):
        if progress:
            print(f"{name}: training ({number} of {len(backends)})", file=sys.stderr, flush=True)
        folders = (
            [out / name] if seeds == 1 else [out / name / f"seed-{r.seed}" for r in replicates]
        )
        boards = [
            None if tensorboard is None
            else Path(tensorboard) if seeds == 1
            else Path(tensorboard) / f"seed-{replicate.seed}"
            for replicate in replicates
        ]  # fmt: skip
        commands = [
            worker_command(
                pythons[name],
                replicate,
                name,
                folder,
                start,
                overwrite,
                nproc,
                board,
                train_flags,
            )
            for replicate, folder, start, board in zip(
                replicates, folders, starts, boards, strict=True
            )
        ]
        command = commands[0] if seeds == 1 else replicates_command(commands)
        finished = subprocess.run(command, capture_output=True, text=True)
        if finished.returncode != 0:
            last = (finished.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise BackendRunError(f"{name} failed (exit {finished.returncode}): {last}")
        runs[name] = [json.loads((folder / "metrics.json").read_text()) for folder in folders]
        if progress:
            print(f"{name}: {summary_line(runs[name][0])}", file=sys.stderr, flush=True)
    summary = summarise(config, {name: results[0] for name, results in runs.items()})
    if seeds > 1:
        judged = verdicts(config.model, runs)
        for name, figures in judged.pop("verdicts").items():
            summary["backends"][name].update(figures)
        summary.update(judged)
        summary["largest_loss_difference_in_one_run"] = max(
            figures.get("largest_loss_difference_in_one_run", 0.0)
            for figures in summary["backends"].values()
        )
    write_json(out / "compare.json", summary)
    table = markdown_table(summary)
    write_atomically(out / "compare.md", lambda file: file.write(f"{table}\n".encode()))
    grids = None
    if config.model == "dcgan":
        first_run = "" if seeds == 1 else f"seed-{config.seed}"
        grids = {
            name: np.asarray(Image.open(out / name / first_run / "samples.png"))
            for name in backends
        }
    if seeds == 1:
        curves = {name: (r[0]["loss_D"], r[0]["loss_G"]) for name, r in runs.items()}
        plots.compare_figure(
            curves, grids, out / "compare.png", title=f"{config.model}, same start"
        )
    else:
        quality = SUMMARIES[config.model][0]
        bands = {name: {key: [run_values(r, key) for r in results]
                        for key in ("loss_D", "loss_G", quality)}
                 for name, results in runs.items()}  # fmt: skip
        title = f"{config.model}, {seeds} seeds per backend (min-max band, median line)"
        plots.compare_bands_figure(bands, grids, out / "compare.png", title=title)
    print(table)
    return summary


def summarise(config: Config, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    first = next(iter(results.values()))
    return {
        "model": config.model,
        "config": asdict(config),
        "reference_backend": next(iter(results)),
        "largest_loss_difference_in_one_run": max(
            largest_loss_difference(result, first) for result in results.values()
        ),
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


def largest_loss_difference(run: dict[str, Any], other: dict[str, Any]) -> float:
    """The largest |loss_D or loss_G difference| between two runs at the same epoch."""
    return max(
        float(np.max(np.abs(np.subtract(run[key], other[key])))) for key in ("loss_D", "loss_G")
    )


def run_values(metrics: dict[str, Any], key: str) -> list[float]:
    """A run's per-epoch ``key``: a loss, or a quality score."""
    if key in ("loss_D", "loss_G"):
        return [float(value) for value in metrics[key]]
    return [float(epoch[key]) for epoch in metrics["quality"]]


def final_mean(values: Sequence[float]) -> float:
    """The mean over the last third of the epochs (at least one)."""
    return float(np.mean(values[-max(1, math.ceil(len(values) / 3)) :]))


def run_summaries(model: str, metrics: dict[str, Any]) -> dict[str, float]:
    """One run as its ``SUMMARIES[model]``."""
    return {key: final_mean(run_values(metrics, key)) for key in SUMMARIES[model]}


def t_p_value(t: float, dof: int) -> float:
    """Two-sided p-value of Student's t with ``dof`` (integer) degrees of freedom: the closed
    forms of Abramowitz and Stegun 26.7.3-4."""
    if math.isinf(t):
        return 0.0
    theta = math.atan(abs(t) / math.sqrt(dof))
    cos2 = math.cos(theta) ** 2
    if dof % 2:
        term, total = 1.0, 1.0
        for k in range(3, dof, 2):
            term *= cos2 * (k - 1) / k
            total += term
        inside = theta + (math.sin(theta) * math.cos(theta) * total if dof > 1 else 0.0)
        return max(0.0, 1.0 - 2.0 / math.pi * inside)
    term, total = 1.0, 1.0
    for k in range(2, dof - 1, 2):
        term *= cos2 * (k - 1) / k
        total += term
    return max(0.0, 1.0 - math.sin(theta) * total)


@functools.cache
def t_threshold(p: float, dof: int) -> float:
    """The |t| whose two-sided p-value is ``p`` (bisection; p falls as |t| grows)."""
    low, high = 0.0, 1.0
    while t_p_value(high, dof) > p:
        low, high = high, high * 2
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if t_p_value(middle, dof) > p else (low, middle)
    return (low + high) / 2


def against_noise_floor(
    reference: Sequence[float], values: Sequence[float], tests: int, alpha: float = ALPHA
) -> dict[str, Any]:
    """One summary of one backend against the reference's: two-sample t (module docstring)."""
    reference, values = np.asarray(reference, float), np.asarray(values, float)
    difference = float(values.mean() - reference.mean())
    dof = len(reference) + len(values) - 2
    squares = (len(reference) - 1) * reference.var(ddof=1) + (len(values) - 1) * values.var(ddof=1)
    scale = math.sqrt(squares / dof) * math.sqrt(1 / len(reference) + 1 / len(values))
    t = difference / scale if scale > 0 else (0.0 if difference == 0 else math.inf)
    p = t_p_value(t, dof)
    level = alpha / tests
    return {
        "reference_runs": reference.tolist(),
        "runs": values.tolist(),
        "difference": difference,
        "noise_floor": float(reference.std(ddof=1)),
        "t": t,
        "threshold": t_threshold(level, dof),
        "p": p,
        "level": level,
        "differs": p < level,
    }


def backend_verdicts(
    summaries: dict[str, list[dict[str, float]]], alpha: float = ALPHA
) -> dict[str, dict[str, Any]]:
    """Every backend after the first against the first: ``summaries`` maps a backend to its
    runs' summaries; returns {backend: {"verdict": ..., "tests": {summary: figures}}}."""
    (_, reference), *others = summaries.items()
    keys = list(reference[0])
    tests = max(1, len(others) * len(keys))
    results = {}
    for name, runs in others:
        figures = {
            key: against_noise_floor(
                [run[key] for run in reference], [run[key] for run in runs], tests, alpha
            )
            for key in keys
        }
        differs = any(figure["differs"] for figure in figures.values())
        results[name] = {"verdict": DIFFERS if differs else WITHIN_CHANCE, "tests": figures}
    return results


def verdicts(model: str, runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The ``--seeds`` part of compare.json: seeds, statistic, noise floors and verdicts."""
    summaries = {
        name: [run_summaries(model, metrics) for metrics in results]
        for name, results in runs.items()
    }
    reference_name, reference = next(iter(runs.items()))
    judged = backend_verdicts(summaries)
    backends = {reference_name: {"verdict": "reference", "runs": summaries[reference_name]}}
    for name, results in list(runs.items())[1:]:
        backends[name] = {
            **judged[name],
            "runs": summaries[name],
            "largest_loss_difference_in_one_run": max(
                largest_loss_difference(mine, theirs)
                for mine, theirs in zip(results, reference, strict=True)
            ),
        }
    between_reference_runs = max(
        largest_loss_difference(first, second)
        for index, first in enumerate(reference)
        for second in reference[index + 1 :]
    )
    return {
        "seeds": [metrics["config"]["seed"] for metrics in reference],
        "statistic": (
            f"per run, the mean over the last third of the epochs of {', '.join(SUMMARIES[model])};"
            f" t = (mean - reference mean) / (pooled sd * sqrt(2/N)), Student's t with 2N - 2"
            f" degrees of freedom; 'differs' when any p < {ALPHA} / (other backends x summaries)"
        ),
        "alpha": ALPHA,
        "largest_loss_difference_between_reference_runs": between_reference_runs,
        "verdicts": backends,
    }


def false_alarm_rate(
    summaries: list[dict[str, float]],
    seeds: int,
    backends: int,
    draws: int = 2000,
    seed: int = 0,
    alpha: float = ALPHA,
) -> float:
    """How often a comparison with no real difference says "differs" for some backend.

    ``summaries`` are runs of ONE backend from distinct seeds; each draw splits a random
    ``seeds x backends`` of them into a reference and ``backends - 1`` impostors and applies
    :func:`backend_verdicts`. The impostors' runs are independent of the reference's, where a
    real comparison pairs them (same seed, same start): an upper bound of the real rate.
    """
    needed = seeds * backends
    if len(summaries) < needed:
        raise ValueError(f"false_alarm_rate needs {needed} runs; got {len(summaries)}")
    rng = np.random.default_rng(seed)
    alarms = 0
    for _ in range(draws):
        chosen = rng.permutation(len(summaries))[:needed].reshape(backends, seeds)
        groups = {f"b{i}": [summaries[j] for j in row] for i, row in enumerate(chosen)}
        judged = backend_verdicts(groups, alpha)
        alarms += any(result["verdict"] == DIFFERS for result in judged.values())
    return alarms / draws


def device_text(result: dict[str, Any]) -> str:
    """Where a backend trained: device and threads, times its workers in a distributed run."""
    text = f"{result['device']} ({result['threads']} threads"
    workers = result["workers"]
    return text + (f" x {workers} workers)" if workers > 1 else ")")


WHY_SEEDS = (
    "One float32 run cannot decide whether two frameworks agree: float32 training at d2l's DCGAN "
    "settings is chaotic, so a one-ulp change of the initial weights moves the losses as far as "
    'another framework does. `--dtype float64` decides "same semantics" (the largest loss '
    'difference in one run falls to rounding), `--seeds N` decides "same statistics" (a verdict '
    "per backend against the first backend's spread over N runs)."
)


def markdown_table(summary: dict[str, Any]) -> str:
    """compare.json as a Markdown table (and, with seeds, the verdicts' table)."""
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
    reference = summary["reference_backend"]
    lines.append(
        f"\n{summary['model']}, {epochs} epochs from the same initial weights, batches and "
        f"noise; largest loss difference from {reference} in one run"
        f"{' (any seed)' if 'seeds' in summary else ''}: "
        f"{summary['largest_loss_difference_in_one_run']:.2e}"
    )
    if "seeds" in summary:
        lines += ["", *verdict_lines(summary)]
    lines += ["", WHY_SEEDS]
    return "\n".join(lines)


def verdict_lines(summary: dict[str, Any]) -> list[str]:
    """The verdicts of a ``--seeds`` comparison as Markdown: one row per backend and summary."""
    reference = summary["reference_backend"]
    seeds = summary["seeds"]
    if len(summary["backends"]) == 1:
        return [
            f"{len(seeds)} runs of {reference} (seeds {', '.join(map(str, seeds))}); no other "
            f"backend to judge. Noise floor: the largest loss difference between two of its runs: "
            f"{summary['largest_loss_difference_between_reference_runs']:.3g}."
        ]
    lines = [
        f"{len(seeds)} runs per backend (seeds {', '.join(map(str, seeds))}), the same on every "
        f"backend. Noise floor: {reference}'s spread over its own runs. Statistic: "
        f"{summary['statistic']}.",
        "",
        f"Largest loss difference in one run (same seed) beside the noise floor (the largest "
        f"between two of {reference}'s own runs): "
        + ", ".join(
            f"{name} {result['largest_loss_difference_in_one_run']:.3g}"
            for name, result in summary["backends"].items()
            if name != reference
        )
        + f"; noise floor {summary['largest_loss_difference_between_reference_runs']:.3g}",
        "",
        "| backend | verdict | summary | mean | reference mean | noise floor (sd) | t | "
        "threshold |t| | p |",
        "|" + " --- |" * 9,
    ]
    for name, result in summary["backends"].items():
        if name == reference:
            continue
        for key, figure in result["tests"].items():
            mean = float(np.mean(figure["runs"]))
            reference_mean = float(np.mean(figure["reference_runs"]))
            lines.append(
                f"| {name} | {result['verdict']} | {key} | {mean:.4g} | {reference_mean:.4g} | "
                f"{figure['noise_floor']:.3g} | {figure['t']:.3g} | {figure['threshold']:.3g} | "
                f"{figure['p']:.3g} |"
            )
    return lines


if __name__ == "__main__":
    sys.exit(run_commands(json.loads(sys.argv[1])))
