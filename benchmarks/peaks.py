"""What the cores can compute: the float32 and bfloat16 peaks that achieved TFLOP/s are read
against, measured here rather than taken from a data sheet.

A peak is the best of ``REPEATS`` square matrix products of ``SIZE`` (``2 * SIZE**3`` FLOPs each)
on every core, through PyTorch (oneDNN and MKL: the kernels its convolutions use too), after a
warm-up. It is the rate a well-tuned kernel reaches on these cores, so a training step can come
close to it but not pass it; a data sheet's peak (every FMA unit busy every cycle) is higher.
Without PyTorch, the float32 peak comes from NumPy's BLAS and the bfloat16 one is missing.

    python benchmarks/peaks.py        # prints both, e.g. {"float32": 0.23, "bfloat16": 0.47}
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Callable

SIZE = 2048
REPEATS = 10


def best_tflops(multiply: Callable[[], object]) -> float:
    multiply()
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        multiply()
        best = min(best, time.perf_counter() - start)
    return 2 * SIZE**3 / best / 1e12


def measure() -> dict[str, float]:
    """TFLOP/s per dtype name ("float32", "bfloat16" where PyTorch is installed)."""
    if importlib.util.find_spec("torch") is None:
        import numpy as np

        a, b = np.random.default_rng(0).standard_normal((2, SIZE, SIZE), dtype=np.float32)
        return {"float32": best_tflops(lambda: a @ b)}
    import torch

    peaks = {}
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(2, SIZE, SIZE, dtype=dtype)
        peaks[str(dtype).removeprefix("torch.")] = best_tflops(lambda a=a, b=b: a @ b)
    return peaks


if __name__ == "__main__":
    print(json.dumps(measure()))
