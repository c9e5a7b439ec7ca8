"""The ``gan-backends`` command: train, compare, sample and info.

    gan-backends train gan --epochs 20 --out runs/gan
    gan-backends train dcgan --backend tensorflow --dataset emoji --out runs/dcgan
    gan-backends sample --checkpoint runs/dcgan/checkpoint.npz --backend mxnet --out grid.png
    gan-backends info

``--backend`` overrides ``GAN_BACKEND``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

from gan_backends import compare as comparison
from gan_backends import experiments, models, plots, selection
from gan_backends.checkpoints import load_checkpoint
from gan_backends.experiments import Config
from gan_backends.files import CorruptFileError, WriteError
from gan_backends.runs import RunFolderError
from gan_backends.weights import set_weights

VALID = ", ".join(selection.DEFAULT_ORDER)
USER_ERRORS = (
    selection.BackendError, FileNotFoundError, ValueError, FloatingPointError, WriteError,
    CorruptFileError, RunFolderError, NotImplementedError,
)  # fmt: skip


def backend_name(text: str) -> str:
    """``--backend``'s type: a valid name in any case, as ``GAN_BACKEND`` accepts it."""
    name = text.strip().lower()
    if name not in selection.DEFAULT_ORDER:
        raise argparse.ArgumentTypeError(f"unknown backend {text!r}; valid: {VALID}")
    return name


def _add_backend(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend", type=backend_name, metavar="{" + ",".join(selection.DEFAULT_ORDER) + "}",
        help="overrides GAN_BACKEND for this run",
    )  # fmt: skip


def add_train_arguments(parser: argparse.ArgumentParser, model: str | None = None) -> None:
    """The training flags of ``train MODEL`` (and ``examples/*.py``); ``compare`` (model None)
    shares them, less those of a single run."""
    if model is not None:
        _add_backend(parser)
        parser.add_argument("--out", type=Path, help="output folder (default runs/MODEL-BACKEND)")
        parser.add_argument("--resume", action="store_true", help="continue OUT/checkpoint.npz")
        parser.add_argument(
            "--overwrite", action="store_true", help="replace the run already in OUT"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        parser.add_argument("--initial", type=Path, help="start from these weights (.npz)")
    else:
        parser.add_argument("--out", type=Path, help="output folder (default runs/compare-MODEL)")
        parser.add_argument(
            "--overwrite", action="store_true", help="replace the comparison already in OUT"
        )
    parser.add_argument("--epochs", type=int, help="default 20")
    parser.add_argument("--batch-size", type=int, help="default 8 (gan), 64 (dcgan)")
    parser.add_argument("--lr", type=float, help="learning rate of both networks")
    parser.add_argument("--lr-d", type=float, help="discriminator learning rate")
    parser.add_argument("--lr-g", type=float, help="generator learning rate")
    parser.add_argument("--beta1", type=float, help="Adam's beta1: 0.9 (gan), 0.5 (dcgan)")
    parser.add_argument("--latent-dim", type=int, help="noise size: 2 (gan), 100 (dcgan)")
    parser.add_argument("--seed", type=int, default=0, help="seeds data, weights, batches, noise")
    parser.add_argument("--limit", type=int, help="train on the first LIMIT examples only")
    parser.add_argument(
        "--eager", action="store_true", help="no torch.compile, tf.function or hybridize"
    )
    parser.add_argument(
        "--mixed-precision", action="store_true", help="bfloat16 forward passes (PyTorch, GPU)"
    )
    if model != "gan":
        parser.add_argument("--dataset", help="emoji (default), shapes, or a folder or .zip")
        parser.add_argument("--image-size", type=int, choices=(16, 32, 64), help="default 64")
        parser.add_argument("--width", type=int, help="narrowest block's channels (default 64)")


def config_from(args: argparse.Namespace) -> Config:
    return Config.for_model(
        args.model,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr_D=args.lr_d if args.lr_d is not None else args.lr,
        lr_G=args.lr_g if args.lr_g is not None else args.lr,
        beta1=args.beta1,
        latent_dim=args.latent_dim,
        dataset=getattr(args, "dataset", None),
        image_size=getattr(args, "image_size", None),
        width=getattr(args, "width", None),
        seed=args.seed,
        limit=args.limit,
        compiled=not args.eager,
        mixed_precision=args.mixed_precision,
    )


def train(args: argparse.Namespace) -> int:
    config = config_from(args)
    out = args.out or Path("runs") / f"{args.model}-{selection.current_name()}"
    progress = not args.no_progress and sys.stderr.isatty()
    metrics = experiments.run(config, out, progress, args.resume, args.initial, args.overwrite)
    print(f"{selection.current_name()}: results in {out}")
    print(experiments.summary_line(metrics))
    return 0


def sample(args: argparse.Namespace) -> int:
    checkpoint = load_checkpoint(args.checkpoint)
    config = Config.from_dict(checkpoint.config)
    generator = models.build(config.networks()[0])
    set_weights(generator, checkpoint.generator)
    fake = models.generate(generator, experiments.fixed_noise(config))
    if config.model == "gan":
        real = experiments.load_data(config)
        path = plots.plot_gaussian(real, fake, args.out, f"gan on {selection.current_name()}")
    else:
        rows, columns = experiments.SAMPLE_ROWS, experiments.SAMPLE_COLUMNS
        path = plots.save_image_grid(fake, args.out, rows, columns)
    if args.save_array:
        np.save(args.save_array, fake)
    print(f"{selection.current_name()}: {len(fake)} samples from {args.checkpoint} -> {path}")
    return 0


def compare(args: argparse.Namespace) -> int:
    backends = [name.strip().lower() for name in args.backends.split(",") if name.strip()]
    if not backends:
        raise ValueError(f"--backends is empty; name one or more of {VALID}")
    for name in backends:
        if name not in selection.DEFAULT_ORDER:
            raise ValueError(f"unknown backend {name!r} in --backends; valid: {VALID}")
    pythons = parse_pythons(args.python) if args.python else {}
    out = args.out or Path("runs") / f"compare-{args.model}"
    comparison.compare(config_from(args), backends, out, args.isolated, pythons, args.overwrite)
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


def info(args: argparse.Namespace) -> int:
    installed = selection.installed_backends()
    print(f"selected: {selection.current_name() if installed else 'none'}")
    for name in selection.DEFAULT_ORDER:
        if name not in installed:
            print(f"{name:<11} not installed ({selection.pip_hint(name)})")
            continue
        try:
            device = selection.load(name).device
        except selection.BackendError as error:
            print(f"{name:<11} broken: {error}")
            continue
        print(
            f"{name:<11} {device.framework_version():<10} device {device.describe():<7} "
            f"threads {device.threads()}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gan-backends", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train_parser = commands.add_parser("train", help="train the GAN or the DCGAN")
    train_models = train_parser.add_subparsers(dest="model", required=True)
    for model in ("gan", "dcgan"):
        add_train_arguments(train_models.add_parser(model, help=f"d2l's {model.upper()}"), model)
    train_parser.set_defaults(handler=train)

    compare_parser = commands.add_parser("compare", help="one run per backend, side by side")
    compare_parser.add_argument("--model", choices=("gan", "dcgan"), default="gan")
    compare_parser.add_argument("--backends", default="torch,tensorflow,mxnet")
    compare_parser.add_argument(
        "--isolated", action="store_true", help="each backend in its own interpreter (tox envs)"
    )
    compare_parser.add_argument("--python", help="interpreters: torch=PATH,mxnet=PATH,...")
    add_train_arguments(compare_parser)
    compare_parser.set_defaults(handler=compare)

    sample_parser = commands.add_parser("sample", help="samples from a checkpoint, any backend")
    _add_backend(sample_parser)
    sample_parser.add_argument("--checkpoint", type=Path, required=True)
    sample_parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    sample_parser.add_argument("--save-array", type=Path, help="also save the samples (.npy)")
    sample_parser.set_defaults(handler=sample)

    info_parser = commands.add_parser("info", help="installed backends, versions, devices")
    info_parser.set_defaults(handler=info)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"gan-backends: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.showwarning = _show_warning
    try:
        if getattr(args, "backend", None):
            selection.set_backend(args.backend)
        return args.handler(args)
    except USER_ERRORS as error:
        print(f"gan-backends: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        print(f"\ngan-backends: {interrupt or 'interrupted'}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
