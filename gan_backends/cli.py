"""The gan-backends command: train, compare, sample and info.

    gan-backends train gan --epochs 20 --out runs/gan
    gan-backends train dcgan --backend tensorflow --dataset emoji --out runs/dcgan
    gan-backends compare --model gan --backends torch,tensorflow,mxnet
    gan-backends launch --nproc 2 train dcgan --backend mxnet
    gan-backends sample --checkpoint runs/dcgan/checkpoint.npz --backend mxnet --out grid.png
    gan-backends export --checkpoint runs/dcgan/checkpoint.npz --out dcgan.safetensors
    gan-backends info

Bad input ends in one line on stderr and exit status 2; Ctrl-C in one line and status 130.
"""

from __future__ import annotations

import sys


def _one_line_for_ctrl_c(
    kind: type[BaseException], error: BaseException, traceback: object
) -> None:
    """Ctrl-C before :func:`main` runs (while the modules below load) ends in one line too."""
    if issubclass(kind, KeyboardInterrupt):
        print("gan-backends: interrupted", file=sys.stderr)
    else:
        sys.__excepthook__(kind, error, traceback)


def _ctrl_c_lost_in_a_finalizer_again(unraisable: sys.UnraisableHookArgs) -> None:
    """Ctrl-C landing in a finalizer or a garbage-collector callback (JAX has one) is printed
    by Python as "Exception ignored", and the command goes on as if it had not come. Sent once
    more, it lands in the command's own code, which stops in one line. (Sent from this thread,
    or from a ``threading.Thread``, whose start waits in Python code, the handler would run at
    once, in this hook.)"""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        with contextlib.suppress(RuntimeError):  # no new threads while Python shuts down
            _thread.start_new_thread(os.kill, (os.getpid(), signal.SIGINT))
    else:
        sys.__unraisablehook__(unraisable)


# Before any other import: even ``import signal`` builds an enum in Python code, where a Ctrl-C
# at the wrong millisecond would otherwise print a traceback.
sys.excepthook = _one_line_for_ctrl_c
sys.unraisablehook = _ctrl_c_lost_in_a_finalizer_again

import _thread
import argparse
import contextlib
import json
import os
import signal
import subprocess
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from gan_backends import compare as comparison
from gan_backends import (
    datasets,
    distributed,
    download,
    experiments,
    models,
    outputs,
    plots,
    selection,
)
from gan_backends import safetensors_files as safetensors
from gan_backends.backends.quiet import VERBOSE_VARIABLE
from gan_backends.checkpoints import load_checkpoint
from gan_backends.experiments import Config
from gan_backends.extras import MissingExtraError
from gan_backends.files import CorruptFileError, WriteError, check_output_path, write_atomically
from gan_backends.runs import RunFolderError
from gan_backends.step import DTYPES, PRECISIONS
from gan_backends.weights import set_weights

VALID = ", ".join(selection.DEFAULT_ORDER)
USER_ERRORS = (
    selection.BackendError, FileNotFoundError, ValueError, FloatingPointError, WriteError,
    CorruptFileError, RunFolderError, NotImplementedError, comparison.BackendRunError,
    distributed.DistributedError, download.DownloadError, MissingExtraError,
)  # fmt: skip
DESCRIPTION = (
    "The d2l GAN (20.1) and DCGAN (20.2) on PyTorch, TensorFlow, MXNet and JAX: the same models, "
    "hyperparameters and numbers on every framework. --backend overrides GAN_BACKEND."
)
IMAGE_FLAGS = ("dataset", "image_size", "width", "fit")


def backend_name(text: str) -> str:
    """``--backend``'s type: a valid name in any case, as ``GAN_BACKEND`` accepts it."""
    name = text.strip().lower()
    if name not in selection.DEFAULT_ORDER:
        raise argparse.ArgumentTypeError(f"unknown backend {text!r}; valid: {VALID}")
    return name


def output_path(text: str) -> Path:
    """``--out``'s type: a path that is not empty (``Path("")`` would be the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty; give a path")
    return Path(text)


def _common_flags() -> argparse.ArgumentParser:
    """Flags every subcommand takes."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--verbose", action="store_true", help="let the frameworks' own start-up messages through"
    )
    return parent


def _backend_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend", type=backend_name, metavar="{" + ",".join(selection.DEFAULT_ORDER) + "}",
        help="the framework to use (overrides GAN_BACKEND; any case)",
    )  # fmt: skip


def add_training_flags(parser: argparse.ArgumentParser) -> None:
    """The settings of a training run, shared by ``train`` and ``compare``."""
    settings = parser.add_argument_group("training settings (defaults: d2l's, per model)")
    settings.add_argument("--epochs", type=int, help="epochs to train (default 20)")
    settings.add_argument("--batch-size", type=int, help="examples per step (8 gan, 64 dcgan)")
    settings.add_argument("--lr", type=float, help="learning rate of both networks")
    settings.add_argument("--lr-d", type=float, help="discriminator's rate (0.05 gan, 0.005 dcgan)")
    settings.add_argument("--lr-g", type=float, help="generator's rate (0.005 gan and dcgan)")
    settings.add_argument("--beta1", type=float, help="Adam's beta1 (0.9 gan, 0.5 dcgan)")
    settings.add_argument("--latent-dim", type=int, help="noise size (2 gan, 100 dcgan)")
    settings.add_argument(
        "--seed", type=int, default=0, help="seeds data, weights, batches and noise (default 0)"
    )
    settings.add_argument("--limit", type=int, help="train on the first LIMIT examples only")
    compiling = settings.add_mutually_exclusive_group()
    compiling.add_argument(
        "--eager", action="store_true",
        help="never compile the step (no torch.compile, tf.function, hybridize or jax.jit)",
    )  # fmt: skip
    compiling.add_argument(
        "--compile", action="store_true",
        help="always compile the step (by default: wherever it pays off end to end)",
    )  # fmt: skip
    settings.add_argument(
        "--precision", choices=PRECISIONS, default="32",
        help="32 (default) or bf16-mixed: forward and backward passes in bfloat16, weights, "
        "Adam and losses float32 (PyTorch, TensorFlow and JAX)",
    )  # fmt: skip
    settings.add_argument(
        "--dtype", choices=DTYPES, default="float32",
        help="of weights, data, noise, Adam and losses (default float32; float64 to check that "
        "backends compute the same)",
    )  # fmt: skip
    settings.add_argument(
        "--busy-wait", action="store_true",
        help="let idle OpenMP threads (PyTorch's, MXNet's) spin rather than sleep: as fast on a "
        "quiet machine, much slower where other processes share the cores (OMP_WAIT_POLICY)",
    )  # fmt: skip
    images = parser.add_argument_group("DCGAN only")
    images.add_argument(
        "--dataset",
        help="emoji (default, packaged), shapes, pokemon (d2l's, downloaded once), or a folder "
        "or .zip of images",
    )
    images.add_argument(
        "--fit", choices=datasets.FITS,
        help="how images that are not square become square: pad (default: letterbox on their "
        "background colour), stretch (as d2l) or crop (the centred square)",
    )  # fmt: skip
    images.add_argument("--image-size", type=int, help="16, 32 or 64 (default 64)")
    images.add_argument("--width", type=int, help="channels of the narrowest block (default 64)")


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``train`` (and of ``examples/gan.py``, ``examples/dcgan.py``)."""
    parser.add_argument("model", choices=("gan", "dcgan"), help="d2l 20.1's GAN or 20.2's DCGAN")
    _backend_flag(parser)
    run = parser.add_argument_group("the run folder")
    run.add_argument("--out", type=output_path, help="output folder (default runs/MODEL-BACKEND)")
    run.add_argument("--resume", action="store_true", help="continue the run in OUT")
    run.add_argument("--overwrite", action="store_true", help="replace the run already in OUT")
    run.add_argument(
        "--initial", type=Path, help="start from these weights (.npz, or .safetensors from export)"
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    _tensorboard_flag(run)
    add_training_flags(parser)


def _tensorboard_flag(group: argparse._ActionsContainer) -> None:
    group.add_argument(
        "--tensorboard", type=Path, metavar="DIR",
        help="also log every epoch for TensorBoard, as the run DIR/BACKEND (needs tensorboardX)",
    )  # fmt: skip


def config_from(args: argparse.Namespace) -> Config:
    if args.model == "gan":
        given = [name for name in IMAGE_FLAGS if getattr(args, name) is not None]
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise ValueError(f"{flags}: DCGAN flags; the GAN trains on its 2-D Gaussian")
    return Config.for_model(
        args.model,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr_D=args.lr_d if args.lr_d is not None else args.lr,
        lr_G=args.lr_g if args.lr_g is not None else args.lr,
        beta1=args.beta1,
        latent_dim=args.latent_dim,
        dataset=args.dataset,
        image_size=args.image_size,
        width=args.width,
        fit=args.fit,
        seed=args.seed,
        limit=args.limit,
        compiled=False if args.eager else True if args.compile else None,
        precision=args.precision,
        dtype=args.dtype,
    )


def train(args: argparse.Namespace) -> int:
    config = config_from(args)
    cluster = distributed.join(selection.current_name())
    if cluster is None:  # a launched worker leaves SIGTERM to its launcher
        signal.signal(signal.SIGTERM, _interrupt)
    out = args.out or Path("runs") / f"{args.model}-{selection.current_name()}"
    progress = not args.no_progress and sys.stderr.isatty()
    metrics = experiments.run(
        config, out, progress, args.resume, args.initial, args.overwrite, args.tensorboard
    )
    if cluster is None or cluster.is_chief:
        workers = f" ({cluster.size} workers)" if cluster else ""
        print(f"{selection.current_name()}{workers}: results in {out}")
        print(experiments.summary_line(metrics))
    distributed.leave()
    return 0


def launch(args: argparse.Namespace) -> int:
    if not args.command or args.command[0] != "train":
        raise ValueError(
            "launch runs a train command in every worker, e.g. "
            "gan-backends launch --nproc 2 train dcgan --backend torch"
        )
    worker_args = build_parser().parse_args(args.command)
    backend = worker_args.backend or selection.current_name()
    selection.set_backend(backend)
    out = worker_args.out or Path("runs") / f"{worker_args.model}-{backend}"
    try:
        return distributed.launch(
            backend, args.nproc, args.command, args.nnodes, args.node_rank, args.master
        )
    except distributed.DistributedError as error:
        note = experiments.checkpoint_note(out / "checkpoint.npz")
        raise distributed.DistributedError(f"{error}; {note}") from None
    except KeyboardInterrupt as interrupt:
        note = experiments.checkpoint_note(out / "checkpoint.npz")
        number = getattr(interrupt, "signal_number", signal.SIGINT)
        stopped = (
            "interrupted"
            if number == signal.SIGINT
            else f"stopped by {signal.Signals(number).name}"
        )
        raise distributed.Stopped(number, f"{stopped}; the workers were stopped; {note}") from None


def read_generator(path: Path) -> tuple[Config, int, dict[str, np.ndarray]]:
    """The settings, epoch and generator weights of a checkpoint or an exported .safetensors."""
    if not safetensors.is_safetensors(path):
        checkpoint = load_checkpoint(path)
        return Config.from_dict(checkpoint.config), checkpoint.epoch, checkpoint.generator
    settings, epoch, tensors = safetensors.read_run(path, "weights file (--checkpoint)")
    config = Config.from_dict(settings)
    expected = {f"G/{k}": v for k, v in config.networks()[0].weight_shapes().items()}
    generator = {k: v for k, v in tensors.items() if k.startswith("G/")}
    safetensors.check_run_weights(path, generator, expected)
    return config, epoch, {k[2:]: v for k, v in generator.items()}


def sample(args: argparse.Namespace) -> int:
    check_output_path(args.out, "--out")
    array = args.save_array
    if array and array.suffix != ".npy":  # as np.save names it
        array = array.with_name(f"{array.name}.npy")
    if array:
        check_output_path(array, "--save-array")
    config, epoch, weights = read_generator(args.checkpoint)
    generator = models.build(config.networks()[0])
    set_weights(generator, weights)
    fake = models.generate(generator, experiments.fixed_noise(config))
    if config.model == "gan":
        real = experiments.load_data(config)
        title = f"gan on {selection.current_name()}, epoch {epoch}"
        path = plots.plot_gaussian(real, fake, args.out, title)
    else:
        rows, columns = outputs.SAMPLE_ROWS, outputs.SAMPLE_COLUMNS
        title = outputs.grid_title(config, epoch)
        path = plots.save_image_grid(fake, args.out, rows, columns, title)
    if array:
        write_atomically(array, lambda file: np.save(file, fake))
    print(f"{selection.current_name()}: {len(fake)} samples from {args.checkpoint} -> {path}")
    return 0


def export(args: argparse.Namespace) -> int:
    if not safetensors.is_safetensors(args.out):
        raise ValueError(f"--out {args.out}: name the file *{safetensors.SUFFIX}")
    check_output_path(args.out, "--out")
    checkpoint = load_checkpoint(args.checkpoint)
    path = safetensors.write_run(
        args.out, checkpoint.generator, checkpoint.discriminator, checkpoint.config,
        checkpoint.epoch,
    )  # fmt: skip
    print(f"{args.checkpoint} (epoch {checkpoint.epoch}) -> {path}")
    return 0


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM stops a run as Ctrl-C does: one line, the last checkpoint intact."""
    raise KeyboardInterrupt


def compare(args: argparse.Namespace) -> int:
    backends = [name.strip().lower() for name in args.backends.split(",") if name.strip()]
    if not backends:
        raise ValueError(f"--backends is empty; name one or more of {VALID}")
    for name in backends:
        if name not in selection.DEFAULT_ORDER:
            raise ValueError(f"unknown backend {name!r} in --backends; valid: {VALID}")
    pythons = parse_pythons(args.python) if args.python else {}
    out = args.out or Path("runs") / f"compare-{args.model}"
    config = config_from(args)
    comparison.compare(
        config, backends, out, args.isolated, pythons, args.overwrite, not args.no_progress,
        args.nproc, args.tensorboard, args.seeds,
    )  # fmt: skip
    print(f"wrote {out / 'compare.json'}, {out / 'compare.md'} and {out / 'compare.png'}")
    return 0


def parse_pythons(text: str) -> dict[str, str]:
    """``--python torch=PATH,mxnet=PATH`` as {backend: PATH}."""
    pythons = {}
    for pair in text.split(","):
        name, equals, path = (part.strip() for part in pair.partition("="))
        if not equals or not name or not path:
            raise ValueError(
                f"--python takes NAME=PATH pairs separated by commas, e.g. "
                f"torch=.tox/torch/bin/python; got {pair.strip()!r}"
            )
        if name.lower() not in selection.DEFAULT_ORDER:
            raise ValueError(f"unknown backend {name!r} in --python; valid: {VALID}")
        pythons[name.lower()] = path
    return pythons


PROBE = """import json, sys
from gan_backends import selection
try:
    device = selection.load(sys.argv[1]).device
    found = {"version": device.framework_version(), "device": device.describe(),
             "threads": device.threads()}
except selection.BackendError as error:
    found = {"broken": str(error)}
print(json.dumps(found))
"""


def info(args: argparse.Namespace) -> int:
    """Each installed framework is probed in a process of its own: one whose import aborts or
    exits the process is reported as broken, and the others are still listed."""
    installed = selection.installed_backends()
    print(f"selected: {selection.current_name() if installed else 'none'}")
    probes = {
        name: subprocess.Popen(
            [sys.executable, "-c", PROBE, name],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL if not args.verbose else None,
            text=True,
        )
        for name in installed
    }
    for name in selection.DEFAULT_ORDER:
        if name not in installed:
            print(f"{name:<11} not installed ({selection.pip_hint(name)})")
            continue
        found = _probe_result(name, probes[name])
        if "broken" in found:
            print(f"{name:<11} broken: {found['broken']}")
            continue
        print(
            f"{name:<11} {found['version']:<10} device {found['device']:<7} "
            f"threads {found['threads']}  distributed: {selection.BACKENDS[name].engine}"
        )
    return 0


def _probe_result(name: str, probe: subprocess.Popen) -> dict[str, Any]:
    output, _ = probe.communicate()
    module = selection.BACKENDS[name].module
    lines = output.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        pass
    if probe.returncode < 0:
        how = f"importing {module} killed the process ({signal.Signals(-probe.returncode).name})"
    else:
        how = f"importing {module} ended the process (exit status {probe.returncode})"
    return {"broken": f"{how}; reinstall it: {selection.pip_hint(name)}"}


def build_parser(prog: str = "gan-backends") -> argparse.ArgumentParser:
    common = _common_flags()
    parser = argparse.ArgumentParser(
        prog=prog, description=DESCRIPTION, parents=[common],
        epilog="Run 'gan-backends COMMAND --help' for a command's flags.",
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train_parser = commands.add_parser(
        "train", parents=[common], help="train the GAN or the DCGAN on one backend",
        description="Train d2l's GAN or DCGAN; writes metrics.json, plots, samples and a "
        "checkpoint into OUT after every epoch.",
    )  # fmt: skip
    add_train_arguments(train_parser)
    train_parser.set_defaults(handler=train)

    compare_parser = commands.add_parser(
        "compare", parents=[common], help="one run per backend from the same start, side by side",
        description="Train the same model on several backends from the same initial weights, "
        "batches and noise; writes compare.md, compare.json and compare.png into OUT.",
    )  # fmt: skip
    compare_parser.add_argument(
        "--model", choices=("gan", "dcgan"), default="gan", help="the model (default gan)"
    )
    compare_parser.add_argument(
        "--backends", default=",".join(selection.DEFAULT_ORDER),
        help=f"comma-separated backends, in the table's order (default {VALID.replace(' ', '')})",
    )  # fmt: skip
    compare_parser.add_argument(
        "--isolated", action="store_true",
        help="run every backend in its own interpreter (the tox environments by default)",
    )  # fmt: skip
    compare_parser.add_argument(
        "--python", metavar="NAME=PATH,...",
        help="the interpreter of a backend, e.g. mxnet=.tox/mxnet/bin/python",
    )  # fmt: skip
    compare_parser.add_argument(
        "--out", type=Path, help="output folder (default runs/compare-MODEL)"
    )
    compare_parser.add_argument(
        "--overwrite", action="store_true", help="replace the comparison already in OUT"
    )
    compare_parser.add_argument(
        "--no-progress", action="store_true", help="no line per backend as it trains"
    )
    compare_parser.add_argument(
        "--nproc", type=int, default=1,
        help="workers per backend, each framework's own distributed engine (default 1)",
    )  # fmt: skip
    _tensorboard_flag(compare_parser)
    compare_parser.add_argument(
        "--seeds", type=int, default=1,
        help="runs per backend from N seeds (seed, seed+1000, ...); N >= 2 gives each backend "
        "a verdict against the first backend's spread (default 1: one run)",
    )  # fmt: skip
    add_training_flags(compare_parser)
    compare_parser.set_defaults(handler=compare)

    sample_parser = commands.add_parser(
        "sample", parents=[common], help="draw samples from a checkpoint, on any backend"
    )
    _backend_flag(sample_parser)
    sample_parser.add_argument(
        "--checkpoint", type=Path, required=True,
        help="a checkpoint.npz that training wrote, or a .safetensors that export wrote",
    )  # fmt: skip
    sample_parser.add_argument(
        "--out", type=output_path, required=True,
        help="the PNG to write (a symbolic link, FIFO or device there is refused, not replaced)",
    )  # fmt: skip
    sample_parser.add_argument(
        "--save-array", type=output_path, help="also save the samples (.npy)"
    )
    sample_parser.set_defaults(handler=sample)

    export_parser = commands.add_parser(
        "export", parents=[common], help="a checkpoint's weights as a .safetensors file",
        description="Write both networks' weights of a checkpoint (G/<name>, D/<name>: the "
        "canonical names and layouts, the same on every backend) with the run's settings; "
        "--initial and sample --checkpoint read it on any backend.",
    )  # fmt: skip
    export_parser.add_argument(
        "--checkpoint", type=Path, required=True, help="a checkpoint.npz that training wrote"
    )
    export_parser.add_argument(
        "--format", choices=("safetensors",), default="safetensors",
        help="the file format (default safetensors)",
    )  # fmt: skip
    export_parser.add_argument(
        "--out", type=output_path, required=True,
        help="the .safetensors file to write (a symbolic link, FIFO or device there is refused)",
    )  # fmt: skip
    export_parser.set_defaults(handler=export)

    launch_parser = commands.add_parser(
        "launch", parents=[common], help="run a train command in N workers, data-parallel",
        description="Start N local workers through the backend's own distributed engine "
        f"({'; '.join(facts.engine for facts in selection.BACKENDS.values())}) and run the "
        "train command in each; the global batch is split across them.",
    )  # fmt: skip
    launch_parser.add_argument(
        "--nproc", type=int, required=True, help="the number of workers on this machine"
    )
    launch_parser.add_argument(
        "--nnodes", type=int, default=1, help="the number of machines, each running this command"
    )
    launch_parser.add_argument(
        "--node-rank", type=int, default=0, help="this machine's index, 0 to NNODES-1 (default 0)"
    )
    launch_parser.add_argument(
        "--master", metavar="HOST:PORT",
        help="node 0's address and the first of its ports (PORT to PORT+2+NNODES*NPROC)",
    )  # fmt: skip
    launch_parser.add_argument(
        "command", nargs=argparse.REMAINDER, help="the train command, e.g. train dcgan ..."
    )
    launch_parser.set_defaults(handler=launch)

    info_parser = commands.add_parser(
        "info", parents=[common], help="installed backends, versions, devices and threads"
    )
    info_parser.set_defaults(handler=info)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"gan-backends: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None, prog: str = "gan-backends") -> int:
    """The command; ``prog`` names it in usage and help (an example script gives its own)."""
    args = build_parser(prog).parse_args(argv)
    warnings.showwarning = _show_warning
    if args.verbose:
        os.environ[VERBOSE_VARIABLE] = "1"
    if getattr(args, "busy_wait", False):  # before a backend loads its framework's OpenMP
        os.environ["OMP_WAIT_POLICY"] = "ACTIVE"
    try:
        if getattr(args, "backend", None):
            selection.set_backend(args.backend)
        return args.handler(args)
    except USER_ERRORS as error:
        print(f"gan-backends: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        print(f"gan-backends: {str(interrupt) or 'interrupted'}", file=sys.stderr)
        return 128 + getattr(interrupt, "signal_number", signal.SIGINT)


if __name__ == "__main__":
    sys.exit(main())
