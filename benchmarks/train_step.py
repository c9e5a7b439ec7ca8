"""Examples/sec of the library's GAN and DCGAN training against its peers on the same framework:
d2l's plain code, and Keras 3.

    python benchmarks/train_step.py --model all              # both models, every backend
    python benchmarks/train_step.py --model gan --backends torch,tensorflow,mxnet
    python benchmarks/train_step.py --model dcgan --steps 3 --repeats 3 --json dcgan.json
    python benchmarks/train_step.py --model dcgan --device gpu --backends torch --steps 50
    python benchmarks/train_step.py --model gan --python tensorflow=/tmp/venvs/tf/bin/python
    python benchmarks/train_step.py --check-losses --model all  # Keras = library, first step
    python benchmarks/train_step.py --smoke --model dcgan         # tiny settings, for CI
    python benchmarks/train_step.py --model all --precision 32,bf16-mixed --busy 1,3

The sides timed, per backend (``sides.py`` builds them; the peers are ``peers/``, one file each):

- *library*: ``gan_backends.Trainer.fit`` for one epoch of ``--steps`` batches (the models from
  ``gan_backends.models``, d2l's hyperparameters), its step compiled; it reads the losses back
  once per epoch.
- *native*: the same networks written d2l's way (d2l 20.1 and 20.2, ``<framework>_d2l.py``):
  eager, one step at a time, the generator run in both updates, losses read back every step.
- *keras* and *keras equal work*: Keras 3 on the same framework (``keras_<backend>.py``): a
  ``keras.Model`` subclass with ``train_step``, ``compile``, ``fit`` over the NumPy data, from the
  library's initial weights. *keras* is keras.io's step, which runs the generator again for the
  generator's update; *keras equal work* runs it once, as the library does. Keras 3 has no MXNet
  backend; elsewhere the Keras sides run where ``keras`` 3 imports.

Each backend runs in a fresh subprocess (the frameworks' thread pools interfere in one process,
and ``--python`` can give each backend its own interpreter). In it, every side warms up for one
epoch (tracing, hybridisation, allocators), then they alternate, library first, for
``--repeats`` epochs each; a side's examples/sec is the median over its repeats. A timed epoch is
the wall time of the library's ``Trainer.fit`` call (setup included) and of d2l's loop over
its data loader; Keras' is one ``fit`` call timed from ``on_epoch_begin`` to ``on_epoch_end``,
leaving out the setup ``fit`` does once per call (about 0.1 s on TensorFlow), which a run of many
epochs pays once. Thread counts are the frameworks' own unless ``--threads`` is given. The
library's MXNet backend sets OMP_NUM_THREADS to the core count before importing MXNet, and its
TensorFlow backend sets TF_ENABLE_ONEDNN_OPTS=1 before importing TensorFlow, so the peers, in the
same process, run with as many threads and the same kernels.

Printed (``report.py``): examples/sec; the ratios library/native, library/keras and
library/keras equal work; the library against d2l's examples/sec in the task's baseline
table (the same framework's number, and PyTorch's), where the configuration matches it (CPU;
GAN batch 8; DCGAN 64x64, width 64, batch 64); model FLOPs per step and achieved TFLOP/s (on a
also as a share of the peaks: on the CPU the float32 and bfloat16 peaks measured at the start
(``peaks.py``), on a GPU ``--peak-tflops``); every backend's library against PyTorch's; and, for
the DCGAN by default (``--memory`` for the GAN), the peak memory growth of one epoch of each side
in a fresh subprocess (``measures.py`` says what is counted). ``--model all`` ends with every
ratio of both models in one table.

``--precision 32,bf16-mixed`` (several, comma-separated) and ``--busy N[,N...]`` then time the
library alone, per backend, in fresh subprocesses: at each precision, quiet (examples/sec,
TFLOP/s against both peaks, against the first precision and against PyTorch at the same
precision); and at the first precision beside N competing CPU-bound processes that the benchmark
starts (Python spinning in a loop, one core's worth each), printing the fraction of the quiet
examples/sec kept beside the fair share (the cores over the cores plus N: the library runs a
thread per core).

``--check-losses`` times nothing: it runs one step of the library and of each Keras variant from
the same weights, batch and noise, prints the differences of their losses and exits 1 unless
they agree (within 1e-4, or 1e-3 relative where the loss is large). d2l's code starts from
its framework's own initial weights, so it is not checked.

This is a benchmark, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import report
import sides
from measures import flops_per_step
from peers import DCGAN_BLOCKS, Settings
from sides import SIDES

from gan_backends.backends import BACKENDS
from gan_backends.step import PRECISIONS

MODELS = ("gan", "dcgan")
DEFAULT_BATCH_SIZE = {"gan": 8, "dcgan": 64}
DEFAULT_STEPS = {"gan": 125, "dcgan": 5}  # GAN: one d2l epoch (1,000 examples, batch 8)
SMOKE = {
    "gan": {"steps": 3, "repeats": 1},
    "dcgan": {"image_size": 16, "width": 8, "batch_size": 4, "steps": 2, "repeats": 1},
}
DEFAULT_PEAK_TFLOPS = {"H100 SXM dense bf16": 989.0, "H100 SXM fp32": 67.0}
ROLES = ("timing", "library", "losses", *(f"memory-{side}" for side in SIDES))


def child_arguments(settings: Settings) -> list[str]:
    """The flags that make a subprocess train exactly ``settings``."""
    arguments = [
        "--model", settings.model, "--device", settings.device,
        "--batch-size", str(settings.batch_size), "--image-size", str(settings.image_size),
        "--width", str(settings.width), "--steps", str(settings.steps),
        "--repeats", str(settings.repeats),
    ]  # fmt: skip
    arguments += ["--threads", str(settings.threads)] if settings.threads else []
    return [*arguments, "--precision", settings.precision]


def run_role(role: str, backend: str, settings: Settings, keras: bool, json_path: Path) -> int:
    """What one subprocess does: time a backend, check losses, or measure one side's memory."""
    if role == "timing":
        result = sides.time_backend(backend, settings, keras)
    elif role == "library":
        result = sides.time_library(backend, settings)
    elif role == "losses":
        result = sides.check_losses(backend, settings)
    else:
        result = sides.measure_memory(backend, role.removeprefix("memory-"), settings)
    json_path.write_text(json.dumps(result))
    return 0


def run_subprocess(
    python: str, role: str, backend: str, settings: Settings, keras: bool = True
) -> tuple[dict[str, Any] | None, str]:
    """Run one role in a fresh interpreter; returns (its JSON result or None, error text)."""
    environment = dict(os.environ)
    if settings.device == "cpu":
        environment.update(GAN_DEVICE="cpu", KERAS_TORCH_DEVICE="cpu")
    else:
        environment.pop("GAN_DEVICE", None)
    if settings.threads:
        environment["OMP_NUM_THREADS"] = str(settings.threads)
    if settings.threads == 1:  # XLA's CPU backend runs on one thread or on every core
        flags = environment.get("XLA_FLAGS", "")
        environment["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()
    with tempfile.TemporaryDirectory() as folder:
        json_path = Path(folder) / "result.json"
        command = [
            python, str(Path(__file__).resolve()), "--role", role, "--backends", backend,
            *child_arguments(settings), "--json", str(json_path),
        ]  # fmt: skip
        command += [] if keras else ["--no-keras"]
        completed = subprocess.run(
            command, env=environment, capture_output=True, text=True, check=False
        )
        if completed.returncode != 0 or not json_path.exists():
            lines = (completed.stderr or completed.stdout).strip().splitlines()
            return None, "\n".join(lines[-15:]) or f"exit code {completed.returncode}"
        return json.loads(json_path.read_text()), ""


def benchmark(
    settings: Settings,
    backends: list[str],
    pythons: dict[str, str],
    measure_peak_memory: bool,
    keras: bool,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Each backend in its own subprocesses, one after another."""
    results, failures = [], {}
    for backend in backends:
        python = pythons.get(backend, sys.executable)
        result, error = run_subprocess(python, "timing", backend, settings, keras)
        if result is None:
            failures[backend] = error
            print(f"{backend} failed:\n{error}", file=sys.stderr)
            continue
        report.add_derived_numbers(result, settings)
        if measure_peak_memory:
            result["memory"] = {}
            for side in report.timed_sides(result):
                memory, error = run_subprocess(python, f"memory-{side}", backend, settings)
                result["memory"][side] = memory or {"error": "failed"}
                if memory is None:
                    print(f"{backend} {side} memory run failed:\n{error}", file=sys.stderr)
        results.append(result)
    return results, failures


def measured_peaks(pythons: dict[str, str]) -> dict[str, float]:
    """The CPU's float32 and bfloat16 peaks (``peaks.py``), through PyTorch's interpreter."""
    python = pythons.get("torch", sys.executable)
    script = Path(__file__).with_name("peaks.py")
    completed = subprocess.run([python, str(script)], capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        print(f"peaks.py failed:\n{completed.stderr[-2000:]}", file=sys.stderr)
        return {}
    return {f"{dtype} peak": tflops for dtype, tflops in json.loads(completed.stdout).items()}


@contextlib.contextmanager
def competing_processes(count: int) -> Iterator[None]:
    """``count`` CPU-bound processes (Python spinning in a loop) running beside the timed one;
    each also ends when the benchmark does, killed or not (its parent changes)."""
    spin = "import os\nparent = os.getppid()\nwhile os.getppid() == parent: pass"
    spinners = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def time_library_alone(
    settings: Settings,
    backends: list[str],
    pythons: dict[str, str],
    precisions: list[str],
    busy: list[int],
) -> list[dict[str, Any]]:
    """Per backend: the library alone at each precision, quiet, and at the first precision
    beside each count of competing processes; a failed run is its last line of error."""

    def time_it(backend: str, precision: str) -> dict[str, Any]:
        python = pythons.get(backend, sys.executable)
        run_settings = replace(settings, precision=precision)
        result, error = run_subprocess(python, "library", backend, run_settings)
        return result or {"error": error.splitlines()[-1] if error else "failed"}

    results = []
    for backend in backends:
        quiet = {precision: time_it(backend, precision) for precision in precisions}
        beside = {}
        for count in busy:
            with competing_processes(count):
                beside[count] = time_it(backend, precisions[0])
        results.append({"backend": backend, "quiet": quiet, "busy": beside})
    return results


def parse_mapping(text: str, option: str) -> dict[str, str]:
    """``a=x,b=y`` -> {"a": "x", "b": "y"}."""
    mapping = {}
    for item in filter(None, text.split(",")):
        key, separator, value = item.partition("=")
        if not separator or not key.strip() or not value.strip():
            raise SystemExit(f"{option}: expected NAME=VALUE[,NAME=VALUE...], got {item!r}")
        mapping[key.strip()] = value.strip()
    return mapping


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Examples/sec of the library's training step against d2l's code and "
        "Keras 3 on the same framework.",
    )
    parser.add_argument(
        "--model", choices=(*MODELS, "all"), default="gan", help="default gan; all: both"
    )
    parser.add_argument(
        "--backends", help="comma-separated (default: every installed one and every --python one)"
    )
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="default cpu")
    parser.add_argument("--batch-size", type=int, help="default 8 (gan), 64 (dcgan)")
    parser.add_argument("--image-size", type=int, choices=sorted(DCGAN_BLOCKS), help="default 64")
    parser.add_argument("--width", type=int, help="DCGAN channels of the narrowest block (64)")
    parser.add_argument("--steps", type=int, help="steps per timed epoch: 125 (gan), 5 (dcgan)")
    parser.add_argument("--repeats", type=int, help="timed epochs per side (default 5)")
    parser.add_argument(
        "--threads", type=int, help="threads for every framework (default: each framework's own)"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny settings that check everything runs"
    )
    parser.add_argument(
        "--keras",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="time Keras 3 on the same framework where keras 3 imports (default: yes)",
    )
    parser.add_argument(
        "--check-losses",
        action="store_true",
        help="time nothing: check that each Keras variant's first step gives the library's losses",
    )
    parser.add_argument(
        "--precision",
        default="32",
        help="the library side's: 32 (default) or bf16-mixed (bfloat16 forward and backward "
        "passes; not on mxnet); several, comma-separated, also time the library alone at each",
    )
    parser.add_argument(
        "--busy",
        default="",
        help="N[,N...]: also time the library beside N competing CPU-bound processes and "
        "print the fraction of its quiet examples/sec kept",
    )
    parser.add_argument(
        "--memory",
        action=argparse.BooleanOptionalAction,
        help="measure peak memory in extra subprocesses (default: for dcgan only)",
    )
    parser.add_argument(
        "--python",
        default="",
        help="interpreters per backend, e.g. tensorflow=/tmp/venvs/tf/bin/python",
    )
    parser.add_argument(
        "--peak-tflops",
        help="NAME=TFLOPS,... to compare achieved TFLOP/s with (default on a GPU: "
        + ", ".join(f"{name}={value:g}" for name, value in DEFAULT_PEAK_TFLOPS.items())
        + ")",
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--role", choices=ROLES, help="internal: what one subprocess does, for one backend"
    )
    args = parser.parse_args(argv)
    args.precisions = [name.strip() for name in args.precision.split(",") if name.strip()]
    if not args.precisions or not set(args.precisions) <= set(PRECISIONS):
        expected = ", ".join(PRECISIONS)
        parser.error(f"--precision: expected some of {expected}, got {args.precision!r}")
    counts = [count.strip() for count in args.busy.split(",") if count.strip()]
    if not all(count.isdigit() and int(count) >= 1 for count in counts):
        parser.error(f"--busy: expected counts of processes >= 1, e.g. 1,3; got {args.busy!r}")
    args.busy = [int(count) for count in counts]
    return args


def resolve_settings(args: argparse.Namespace, model: str) -> Settings:
    smoke = SMOKE[model] if args.smoke else {}

    def pick(name: str, default: int) -> int:
        value = getattr(args, name)
        return value if value is not None else smoke.get(name, default)

    settings = Settings(
        model=model,
        device=args.device,
        batch_size=pick("batch_size", DEFAULT_BATCH_SIZE[model]),
        image_size=pick("image_size", 64),
        width=pick("width", 64),
        steps=pick("steps", DEFAULT_STEPS[model]),
        repeats=pick("repeats", 5),
        threads=args.threads,
        precision=args.precisions[0],
    )
    for name in ("batch_size", "width", "steps", "repeats"):
        if getattr(settings, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be at least 1")
    return settings


def run_model(
    args: argparse.Namespace,
    settings: Settings,
    backends: list[str],
    pythons: dict[str, str],
    peaks: dict[str, float],
) -> tuple[dict[str, Any], bool]:
    """Benchmark (or check) one model on every backend and print it: (the report, success)."""
    if args.check_losses:
        results, failures = [], {}
        for backend in backends:
            python = pythons.get(backend, sys.executable)
            result, error = run_subprocess(python, "losses", backend, settings)
            if result is None:
                failures[backend] = error
                print(f"{backend} failed:\n{error}", file=sys.stderr)
            else:
                results.append(result)
        print(f"{report.model_title(settings)}, batch {settings.batch_size}")
        agree = report.print_loss_check(results, failures)
        return {"settings": asdict(settings), "results": results, "failures": failures}, agree
    measure_peak_memory = args.memory if args.memory is not None else settings.model == "dcgan"
    results, failures = benchmark(settings, backends, pythons, measure_peak_memory, args.keras)
    if args.peak_tflops:
        peak_tflops = {
            k: float(v) for k, v in parse_mapping(args.peak_tflops, "--peak-tflops").items()
        }
    else:
        peak_tflops = DEFAULT_PEAK_TFLOPS if settings.device == "gpu" else peaks
    report.print_report(settings, results, failures, peak_tflops)
    summary = {
        "settings": asdict(settings),
        "flops_per_step": flops_per_step(settings),
        "peak_tflops": peak_tflops,
        "results": results,
        "failures": failures,
    }
    if len(args.precisions) > 1 or args.busy:
        alone = time_library_alone(settings, backends, pythons, args.precisions, args.busy)
        report.print_library_alone(settings, alone, args.precisions, args.busy, peak_tflops)
        summary["library_alone"] = alone
    return summary, not failures


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    models = MODELS if args.model == "all" else (args.model,)
    pythons = parse_mapping(args.python, "--python")
    if args.backends:
        backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    else:
        from gan_backends import installed_backends

        backends = list(dict.fromkeys([*installed_backends(), *pythons]))
    unknown = [name for name in [*backends, *pythons] if name not in BACKENDS]
    if unknown or not backends:
        raise SystemExit(f"unknown or no backends {unknown}; valid: {', '.join(BACKENDS)}")
    if args.role:
        if len(backends) != 1 or args.json is None or len(models) != 1:
            raise SystemExit("--role needs exactly one backend, one --model and --json")
        settings = resolve_settings(args, models[0])
        return run_role(args.role, backends[0], settings, args.keras, args.json)
    reports, success = {}, True
    peaks = measured_peaks(pythons) if args.device == "cpu" and not args.check_losses else {}
    for model in models:
        if len(models) > 1:
            print(f"\n=== {model} ===")
        reports[model], model_success = run_model(
            args, resolve_settings(args, model), backends, pythons, peaks
        )
        success &= model_success
    if len(models) > 1 and not args.check_losses:
        report.print_summary(reports)
    if args.json:
        written = reports[models[0]] if len(models) == 1 else {"models": reports}
        args.json.write_text(json.dumps(written, indent=2) + "\n")
    return 0 if success else 1


if __name__ == "__main__":
    sys.exit(main())
