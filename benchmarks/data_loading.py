"""Load time and peak memory of a large folder of images, first run and cached.

    python benchmarks/data_loading.py --images 40000 200000
    python benchmarks/data_loading.py --images 40000 --baseline /path/to/older/checkout

Generates ``--images`` 64x64 PNG sprites (``datasets.shapes``, in 100 class folders, as d2l's
Pokemon are laid out) once per count in ``--work`` (kept between runs), then, each in a fresh
process: ``datasets.image_folder`` on the folder with an empty data cache (first run) and again
with the cache it left (cached). Reported: seconds, the growth of the process's peak resident
memory (``VmHWM`` over ``VmRSS`` before the call), the array's dtype and size, and whether it came
back memory-mapped. ``--baseline`` runs the same calls with another checkout of gan_backends on
``PYTHONPATH`` (e.g. the release before uint8 images and the cache), in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
CLASSES = 100

MEASURE = """
import json, sys, time
def memory(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
from gan_backends import datasets
before = memory("VmRSS")
start = time.perf_counter()
images = datasets.image_folder(sys.argv[1], 64)
seconds = time.perf_counter() - start
print(json.dumps({
    "seconds": seconds, "peak_growth_mib": (memory("VmHWM") - before) / 2**20,
    "dtype": str(images.dtype), "mib": images.nbytes / 2**20,
    "memory_mapped": type(images).__name__ == "memmap", "count": len(images),
}))
"""


def generate(folder: Path, count: int) -> None:
    """``count`` 64x64 PNG sprites in ``CLASSES`` class folders, unless already there."""
    done = folder / ".complete"
    if done.exists():
        return
    sys.path.insert(0, str(ROOT))
    from gan_backends import datasets

    for start in range(0, count, 2048):
        batch = datasets.shapes(min(2048, count - start), 64, seed=start)
        for offset, image in enumerate(batch.transpose(0, 2, 3, 1)):
            index = start + offset
            target = folder / f"class{index % CLASSES:03d}" / f"{index:06d}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.asarray(image)).save(target)
    done.touch()


def measure(library: Path, folder: Path, cache: Path) -> dict:
    environment = dict(os.environ, PYTHONPATH=str(library), GAN_BACKENDS_DATA=str(cache))
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(folder)], env=environment, capture_output=True,
        text=True, check=True, cwd=cache,
    )  # fmt: skip
    return json.loads(result.stdout.splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="+", default=[40000])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "gan-load")
    parser.add_argument("--baseline", type=Path, help="another checkout of gan_backends")
    args = parser.parse_args(argv)
    libraries = {"this": ROOT} | ({"baseline": args.baseline} if args.baseline else {})
    print(f"{'images':>8} {'library':<9} {'run':<7} {'seconds':>8} {'peak MiB':>9} "
          f"{'array MiB':>10} {'dtype':<8} mapped")  # fmt: skip
    for count in args.images:
        folder = args.work / f"images-{count}"
        generate(folder, count)
        for name, library in libraries.items():
            with tempfile.TemporaryDirectory() as cache:
                for run in ("first", "cached"):
                    r = measure(library, folder, Path(cache))
                    print(
                        f"{count:>8} {name:<9} {run:<7} {r['seconds']:>8.1f} "
                        f"{r['peak_growth_mib']:>9.0f} {r['mib']:>10.0f} {r['dtype']:<8} "
                        f"{'yes' if r['memory_mapped'] else 'no'}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
