"""d2l 20.1: a GAN learns a 2-D Gaussian, on the backend GAN_BACKEND selects.

    GAN_BACKEND=tensorflow python examples/gan.py --epochs 20 --out runs/gan

Flags as ``gan-backends train gan --help``; writes metrics.json, losses.png and samples.png.
"""

import os
import sys

from gan_backends.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "gan", *sys.argv[1:]], prog=os.path.basename(sys.argv[0])))
