"""Data-parallel scaling on each framework's own engine: examples/sec with 1 and N workers.

    python benchmarks/scaling.py --model dcgan --backends torch,mxnet
    python benchmarks/scaling.py --model gan --workers 1 2 \\
        --python tensorflow=/tmp/venvs/tf/bin/python

For each backend and worker count, ``gan-backends launch --nproc N train MODEL`` (a plain
``train`` for one worker) runs ``--epochs`` epochs on local workers over loopback; reported are
the last epoch's examples/sec (global: all workers' examples), the scaling efficiency
(examples/sec with N workers over N times that with one) and the bytes the engine moved per
step, counted on the loopback interface (``/proc/net/dev``, both directions, so a message
between two local processes counts twice; other traffic on loopback counts too, so run it on a
quiet machine). Every run gets the machine's cores split evenly between its workers, so one
worker and N workers use the same cores. The models are the defaults, or small ones with
``--small`` (16x16, width 8, ``--limit 512``); the DCGAN's data are the packaged emoji.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from train_step import parse_mapping

ROOT = Path(__file__).resolve().parent.parent


def loopback_bytes() -> int:
    """Bytes received plus sent on the loopback interface so far."""
    for line in Path("/proc/net/dev").read_text().splitlines():
        name, _, counters = line.partition(":")
        if name.strip() == "lo":
            fields = counters.split()
            return int(fields[0]) + int(fields[8])
    raise RuntimeError("no loopback interface in /proc/net/dev")


def train(python: str, backend: str, workers: int, flags: list[str]) -> dict:
    """One run; its metrics.json plus the loopback bytes it moved."""
    with tempfile.TemporaryDirectory() as out:
        launcher = ["launch", "--nproc", str(workers)] if workers > 1 else []
        command = [python, "-m", "gan_backends", *launcher, "train", *flags]
        command += ["--backend", backend, "--out", out, "--no-progress"]
        before = loopback_bytes()
        completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if completed.returncode != 0:
            raise SystemExit(f"{backend} with {workers} workers failed:\n{completed.stderr}")
        moved = loopback_bytes() - before
        metrics = json.loads((Path(out) / "metrics.json").read_text())
    return metrics | {"loopback_bytes": moved}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("gan", "dcgan"), default="dcgan")
    parser.add_argument("--backends", help="default: every backend installed or given --python")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--small", action="store_true", help="16x16, width 8, 512 examples")
    parser.add_argument("--python", default="", help="NAME=PATH,... interpreter per backend")
    args = parser.parse_args(argv)
    pythons = parse_mapping(args.python, "--python")
    if args.backends:
        backends = args.backends.split(",")
    else:
        from gan_backends import installed_backends

        backends = list(dict.fromkeys([*installed_backends(), *pythons]))
    flags = [args.model, "--epochs", str(args.epochs)]
    if args.small and args.model == "dcgan":
        flags += ["--image-size", "16", "--width", "8", "--limit", "512", "--batch-size", "32"]
    elif args.small:
        flags += ["--limit", "512"]
    print(f"{args.model}, {args.epochs} epochs, examples/sec of the last epoch, over loopback")
    print(f"{'backend':<11} {'workers':>7} {'examples/sec':>13} {'efficiency':>10} "
          f"{'bytes/step':>11}")  # fmt: skip
    for backend in backends:
        python = pythons.get(backend, sys.executable)
        one = None
        for workers in args.workers:
            metrics = train(python, backend, workers, flags)
            rate = metrics["examples_per_sec"]
            steps = metrics["num_examples"] // metrics["config"]["batch_size"] * args.epochs
            one = rate if workers == 1 else one
            efficiency = f"{rate / (workers * one):.2f}" if one else "-"
            print(
                f"{backend:<11} {workers:>7} {rate:>13,.1f} {efficiency:>10} "
                f"{metrics['loopback_bytes'] / steps:>11,.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
