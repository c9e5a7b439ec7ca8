"""What the cores can compute: the float32 and bfloat16 peaks that achieved TFLOP/s are read
against, measured here rather than taken from a data sheet.

A peak is the best rate, over ``REPEATS`` runs after a warm-up, on every core, of two kernels
through PyTorch: a square matrix product of ``SIZE`` (``2 * SIZE**3`` FLOPs; MKL) and one of
the DCGAN's convolutions (4x4, stride 2, 256 to 512 channels on a batch of 64 16x16 maps,
channels-last; oneDNN, whose kernels the training steps run). oneDNN's convolution is the faster
of the two on a Zen 4 (measured: 0.245 against 0.183 TFLOP/s in float32, 0.48 against 0.41 in
bfloat16), so a training step can come close to the peak but hardly pass it; a data sheet's peak
(every FMA unit busy every cycle) is higher. Without PyTorch, the float32 peak is NumPy's BLAS
matrix product and the bfloat16 one is missing.

    python benchmarks/peaks.py        # prints both, e.g. {"float32": 0.245, "bfloat16": 0.48}
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Callable

SIZE = 2048
REPEATS = 5
CONVOLUTION = {"batch": 64, "in": 256, "out": 512, "size": 16, "kernel": 4, "stride": 2}


def best_tflops(run: Callable[[], object], flops: float) -> float:
    run()
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return flops / best / 1e12


def measure() -> dict[str, float]:
    """TFLOP/s per dtype name ("float32", "bfloat16" where PyTorch is installed)."""
    product_flops = 2 * SIZE**3
    if importlib.util.find_spec("torch") is None:
        import numpy as np

        a, b = np.random.default_rng(0).standard_normal((2, SIZE, SIZE), dtype=np.float32)
        return {"float32": best_tflops(lambda: a @ b, product_flops)}
    import torch
    import torch.nn.functional as F

    c = CONVOLUTION
    out_size = c["size"] // c["stride"]
    convolution_flops = 2 * c["batch"] * c["out"] * out_size**2 * c["in"] * c["kernel"] ** 2
    peaks = {}
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(2, SIZE, SIZE, dtype=dtype)
        channels_last = torch.channels_last
        x = torch.randn(c["batch"], c["in"], c["size"], c["size"], dtype=dtype)
        w = torch.randn(c["out"], c["in"], c["kernel"], c["kernel"], dtype=dtype)
        x, w = x.to(memory_format=channels_last), w.to(memory_format=channels_last)
        peaks[str(dtype).removeprefix("torch.")] = max(
            best_tflops(lambda a=a, b=b: a @ b, product_flops),
            best_tflops(
                lambda x=x, w=w: F.conv2d(x, w, stride=c["stride"], padding=1), convolution_flops
            ),
        )
    return peaks


if __name__ == "__main__":
    print(json.dumps(measure()))
