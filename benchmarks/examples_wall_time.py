"""End-to-end wall time of the examples, per backend, beside d2l's code and Keras 3 trained
the same epochs from a fresh process: what a user waits for.

    python benchmarks/examples_wall_time.py                   # every installed backend, both
    python benchmarks/examples_wall_time.py --models dcgan --backends torch,mxnet
    python benchmarks/examples_wall_time.py --python tensorflow=/tmp/venvs/tf/bin/python
    python benchmarks/examples_wall_time.py --epochs 1 --limit 64 --image-size 16 --width 8
    python benchmarks/examples_wall_time.py --peers d2l --baseline ../older-checkout

What runs, each in a fresh process, timed from its start to its exit:

- *example*: ``examples/gan.py`` (20 epochs, d2l's) and ``examples/dcgan.py --epochs 1`` with
  ``GAN_BACKEND`` set, ``--out`` a temporary folder and ``--no-progress``. Beyond training, the
  examples score quality, draw samples and plots, and write metrics and a checkpoint every epoch.
- *d2l*: d2l's code on the same framework (``peers/<framework>_d2l.py``) trained for as
  many epochs on the same data (its data loader keeps the last, partial batch); it only trains.
- *keras*: Keras 3 on the same framework (``peers/keras_<backend>.py``, keras.io's step) from the
  library's initial weights, one ``fit`` call of all epochs; where ``keras`` 3 imports.
- *baseline*, with ``--baseline PATH``: the same example from another checkout of gan_backends
  (e.g. an older release), the same flags, that checkout on ``PYTHONPATH``.

Each runs twice, cold then warm. Cold: the first run, with an empty TorchInductor cache
(TORCHINDUCTOR_CACHE_DIR, a fresh folder per backend and model: the PyTorch DCGAN compiles its
step then); warm: the second run, with the cache the first one filled. TensorFlow and MXNet keep
no compilation cache between processes, so for them (and for the peers, which compile nothing
across processes) the two differ only by what the operating system has cached. Printed: seconds,
and the peers' seconds over the example's (above 1: the example finishes first).

``--epochs``, ``--limit``, ``--image-size`` and ``--width`` change the run (the same for every
side), e.g. to check in seconds that everything runs. This is a benchmark: nothing here asserts
a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from peers import DCGAN_BLOCKS, PEERS, Settings, d2l_peer, keras_peer
from train_step import DEFAULT_BATCH_SIZE, parse_mapping

from gan_backends.backends import BACKENDS

REPO_ROOT = Path(__file__).resolve().parents[1]
MODELS = ("gan", "dcgan")
#: The example's epochs: d2l's 20 for the GAN; one for the DCGAN (a minute or more on a CPU).
DEFAULT_EPOCHS = {"gan": 20, "dcgan": 1}
PEER_KINDS = ("d2l", "keras")
COMPARED = ("baseline", *PEER_KINDS)
RUNS = ("cold", "warm")
#: The key of the per-epoch examples/sec in the example's metrics.json and in d2l's printed line.
EPOCH_RATES = "examples_per_sec_per_epoch"


def example_data(model: str, limit: int | None, image_size: int):
    """The example's default data (``gan_backends.experiments.load_data``), NumPy only."""
    from gan_backends import datasets

    if model == "gan":
        data = datasets.gaussian(1000, seed=0)
    else:
        images = datasets.load(datasets.DEFAULT_DATASET, image_size=image_size, seed=0)
        data = datasets.to_model_range(images[:limit])  # the peers train on float32
    return data[:limit]


def train_peer(kind: str, backend: str, model: str, args: argparse.Namespace) -> None:
    """What a peer's process does: import its framework, load the data, train every epoch
    (with the examples' defaults: batch 8 or 64, 64x64 images, width 64)."""
    if kind == "keras":
        os.environ["KERAS_BACKEND"] = PEERS[backend].keras
    settings = Settings(
        model=model, device=args.device, batch_size=DEFAULT_BATCH_SIZE[model],
        image_size=args.image_size or 64, width=args.width or 64, steps=0, repeats=0,
        threads=None,
    )  # fmt: skip
    data = example_data(model, args.limit, settings.image_size)
    if kind == "d2l":
        side = d2l_peer(backend).build(settings, data)
        rates = []
        for _ in range(args.epochs):
            start = time.perf_counter()
            side.run_epoch()
            rates.append(len(data) / (time.perf_counter() - start))
        print(json.dumps({EPOCH_RATES: rates}))
    else:
        from peers import keras_common

        peer = keras_peer(PEERS[backend].keras)
        gan = keras_common.make_gan(settings, peer, "idiomatic")
        data = keras_common.to_layout(data, peer.DATA_FORMAT)
        gan.fit(data, batch_size=settings.batch_size, epochs=args.epochs, verbose=0)


def keras_runs_on(python: str, backend: str) -> bool:
    """Whether ``python`` has Keras 3 for ``backend``'s framework."""
    if PEERS[backend].keras is None:
        return False
    probe = "import keras, sys; sys.exit(int(keras.__version__.split('.')[0]) < 3)"
    environment = {**os.environ, "KERAS_BACKEND": PEERS[backend].keras}
    completed = subprocess.run([python, "-c", probe], env=environment, capture_output=True)
    return completed.returncode == 0


def command_for(side: str, backend: str, model: str, args: argparse.Namespace, out: Path):
    """The command line of one side's run."""
    settings = ["--epochs", str(args.epochs)]
    settings += ["--limit", str(args.limit)] if args.limit else []
    if model == "dcgan":
        settings += ["--image-size", str(args.image_size)] if args.image_size else []
        settings += ["--width", str(args.width)] if args.width else []
    if side in ("example", "baseline"):
        root = args.baseline if side == "baseline" else REPO_ROOT
        example = str(root / "examples" / f"{model}.py")
        return [example, "--out", str(out), "--no-progress", *settings]
    return [
        str(Path(__file__).resolve()), "--role", side, "--backends", backend, "--models", model,
        "--device", args.device, *settings,
    ]  # fmt: skip


def timed_run(
    python: str, command: list[str], environment: dict[str, str]
) -> tuple[float, str, str]:
    """(seconds from start to exit, its output, the last lines of its error output if it
    failed)."""
    start = time.perf_counter()
    completed = subprocess.run(
        [python, *command], env=environment, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    if completed.returncode != 0:
        lines = (completed.stderr or completed.stdout).strip().splitlines()
        return seconds, "", "\n".join(lines[-10:]) or f"exit code {completed.returncode}"
    return seconds, completed.stdout, ""


def epoch_rate(side: str, out: Path, output: str) -> float | None:
    """The median examples/sec of a run's epochs after the first (of all, where it ran one): the
    example's from its metrics.json, d2l's from the line its process printed; None for Keras."""
    if side in ("example", "baseline"):
        rates = json.loads((out / "metrics.json").read_text())[EPOCH_RATES]
    elif side == "d2l":
        rates = json.loads(output.strip().splitlines()[-1])[EPOCH_RATES]
    else:
        return None
    return float(statistics.median(rates[1:] or rates))


def measure(backend: str, model: str, python: str, args: argparse.Namespace) -> dict[str, Any]:
    """Every side's cold and warm seconds for one backend and model."""
    sides = ["example", *(["baseline"] if args.baseline else [])]
    sides += ["d2l"] if "d2l" in args.peers else []
    if "keras" in args.peers and keras_runs_on(python, backend):
        sides.append("keras")
    result: dict[str, Any] = {
        "backend": backend, "model": model, "epochs": args.epochs, "python": python,
    }  # fmt: skip
    result.update({side: {} for side in sides})
    with tempfile.TemporaryDirectory() as folder:
        environment = {
            **os.environ, "GAN_BACKEND": backend,
            **({"GAN_DEVICE": "cpu", "KERAS_TORCH_DEVICE": "cpu"} if args.device == "cpu" else {}),
        }  # fmt: skip
        for run in RUNS:
            for side in sides:
                out = Path(folder) / f"{side}-{run}"
                root = args.baseline if side == "baseline" else REPO_ROOT
                python_path = [str(root), *filter(None, [os.environ.get("PYTHONPATH")])]
                environment.update(
                    PYTHONPATH=os.pathsep.join(python_path),
                    TORCHINDUCTOR_CACHE_DIR=f"{folder}/inductor-{side == 'baseline'}",
                )
                command = command_for(side, backend, model, args, out)
                seconds, output, error = timed_run(python, command, environment)
                result[side][run] = None if error else seconds
                result[side][f"{run}_epoch_rate"] = None if error else epoch_rate(side, out, output)
                if error:
                    result[side][f"{run}_error"] = error
                    print(f"{backend} {model} {side} {run} failed:\n{error}", file=sys.stderr)
    return result


def seconds_text(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "failed"


def ratio_text(peer: float | None, example: float | None) -> str:
    return f"{peer / example:.2f}x" if peer and example else "n/a"


def failed(result: dict[str, Any]) -> bool:
    sides = [result[side] for side in ("example", *COMPARED) if side in result]
    return any(side[run] is None for side in sides for run in RUNS)


def print_report(results: list[dict[str, Any]], flags: str) -> None:
    print(
        "end-to-end wall time, seconds, each run a fresh process (cold: an empty TorchInductor "
        f"cache; warm: the second run); peer/example: the peer's seconds over the example's{flags}"
    )
    header = f"{'model':<6} {'backend':<11} {'epochs':>6}"
    sides = [side for side in ("example", *COMPARED) if any(side in r for r in results)]
    for side in sides:
        header += f" {side + ' cold':>14} {side + ' warm':>14}"
    for kind in sides[1:]:
        header += f" {kind + '/example cold':>22} {kind + '/example warm':>22}"
    print(header)
    for result in results:
        line = f"{result['model']:<6} {result['backend']:<11} {result['epochs']:>6}"
        for side in sides:
            for run in RUNS:
                line += f" {seconds_text(result[side][run]) if side in result else 'n/a':>14}"
        for kind in sides[1:]:
            for run in RUNS:
                peer = result.get(kind, {}).get(run)
                line += f" {ratio_text(peer, result['example'][run]):>22}"
        print(line)
    print_epoch_rates(results)


def print_epoch_rates(results: list[dict[str, Any]]) -> None:
    """The training speed inside the same runs: median examples/sec of the epochs after the
    first, the example's against d2l's on the same framework and against d2l's PyTorch."""
    print(
        "\ntraining speed in those runs, examples/sec (median of the epochs after the first); "
        "example/d2l: over d2l's code on the same framework and on PyTorch (same run)"
    )
    print(
        f"{'model':<6} {'backend':<11} {'run':<5} {'example':>10} {'d2l':>10} "
        f"{'example/d2l':>12} {'example/d2l torch':>18}"
    )
    for result in results:
        torch_d2l = next(
            (r.get("d2l", {}) for r in results
             if r["backend"] == "torch" and r["model"] == result["model"]), {},
        )  # fmt: skip
        for run in RUNS:
            example = result["example"].get(f"{run}_epoch_rate")
            d2l = result.get("d2l", {}).get(f"{run}_epoch_rate")
            on_torch = torch_d2l.get(f"{run}_epoch_rate")
            print(
                f"{result['model']:<6} {result['backend']:<11} {run:<5} {rate_text(example):>10} "
                f"{rate_text(d2l):>10} {ratio_text(example, d2l):>12} "
                f"{ratio_text(example, on_torch):>18}"
            )


def rate_text(value: float | None) -> str:
    return f"{value:,.0f}" if value is not None else "n/a"


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="End-to-end wall time of examples/gan.py and examples/dcgan.py per backend, "
        "cold and warm, beside d2l's code and Keras 3."
    )
    parser.add_argument(
        "--backends", help="comma-separated (default: every installed one and every --python one)"
    )
    parser.add_argument("--models", default="gan,dcgan", help="default gan,dcgan")
    parser.add_argument(
        "--peers", default="d2l,keras", help="beside each example (default d2l,keras)"
    )
    parser.add_argument(
        "--python",
        default="",
        help="interpreters per backend, e.g. tensorflow=/tmp/venvs/tf/bin/python",
    )
    parser.add_argument("--epochs", type=int, help="every run's epochs (default: gan 20, dcgan 1)")
    parser.add_argument("--limit", type=int, help="train on the first LIMIT examples only")
    parser.add_argument("--image-size", type=int, choices=sorted(DCGAN_BLOCKS), help="DCGAN: 64")
    parser.add_argument("--width", type=int, help="DCGAN channels of the narrowest block (64)")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="default cpu")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--baseline", type=Path, help="also time the examples of this other checkout"
    )
    parser.add_argument(
        "--role", choices=PEER_KINDS, help="internal: train one peer, for one backend and model"
    )
    args = parser.parse_args(argv)
    for name in ("epochs", "limit", "width"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def names(text: str, valid: Iterable[str], flag: str) -> list[str]:
    """The comma-separated names in ``text``; each must be one of ``valid``."""
    valid = list(valid)
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in valid]
    if unknown or not chosen:
        raise SystemExit(f"{flag}: unknown or no names {unknown}; valid: {', '.join(valid)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    models = names(args.models, MODELS, "--models")
    args.peers = names(args.peers, PEER_KINDS, "--peers")
    pythons = parse_mapping(args.python, "--python")
    if args.backends:
        backends = names(args.backends, BACKENDS, "--backends")
    else:
        from gan_backends import installed_backends

        backends = list(dict.fromkeys([*installed_backends(), *pythons]))
    if pythons:
        names(",".join(pythons), BACKENDS, "--python")
    if args.role:
        if len(backends) != 1 or len(models) != 1 or args.epochs is None:
            raise SystemExit("--role needs exactly one backend, one model and --epochs")
        train_peer(args.role, backends[0], models[0], args)
        return 0
    results = []
    for model in models:
        run_args = argparse.Namespace(
            **{**vars(args), "epochs": args.epochs or DEFAULT_EPOCHS[model]}
        )
        for backend in backends:
            python = pythons.get(backend, sys.executable)
            results.append(measure(backend, model, python, run_args))
    flags = [
        f"--{name.replace('_', '-')} {getattr(args, name)}"
        for name in ("limit", "image_size", "width")
        if getattr(args, name)
    ]
    print_report(results, f"; {' '.join(flags)}" if flags else "")
    if args.json:
        arguments = {name: value for name, value in vars(args).items() if name != "json"}
        args.json.write_text(
            json.dumps({"arguments": arguments, "results": results}, indent=2, default=str)
        )
    return 1 if any(failed(result) for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
