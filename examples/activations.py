"""ReLU, sigmoid, tanh and leaky ReLU and their gradients (d2l 5.1), with the facade only.

    GAN_BACKEND=mxnet python examples/activations.py --out runs/activations

writes activations.png and the curves themselves (activations.npz): the same on every backend.
"""

import argparse
from pathlib import Path

import numpy as np

import gan_backends as gb
from gan_backends import ops, plots

FUNCTIONS = {
    "relu": ops.relu,
    "sigmoid": ops.sigmoid,
    "tanh": ops.tanh,
    "leaky_relu": ops.leaky_relu,
}


def curves(x: ops.Tensor) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each function's values and gradient at ``x``."""
    return {name: (ops.numpy(f(x)), ops.numpy(ops.grad(f, x))) for name, f in FUNCTIONS.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/activations"), help="output folder")
    args = parser.parse_args(argv)
    x = ops.arange(-8.0, 8.0, 0.1)
    results = curves(x)
    args.out.mkdir(parents=True, exist_ok=True)
    figure = plots.plot_functions(
        ops.numpy(x), results, args.out / "activations.png", title=f"on {gb.backend()}"
    )
    arrays = {}
    for name, (values, gradients) in results.items():
        arrays[f"{name}_value"], arrays[f"{name}_grad"] = values, gradients
    np.savez(args.out / "activations.npz", x=ops.numpy(x), **arrays)
    print(f"{gb.backend()}: wrote {figure} and {args.out / 'activations.npz'}")


if __name__ == "__main__":
    main()
