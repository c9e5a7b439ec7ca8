"""d2l 20.2: a DCGAN learns 64x64 sprites (Noto emoji by default), on the backend GAN_BACKEND
selects.

    GAN_BACKEND=tensorflow python examples/dcgan.py
    python examples/dcgan.py --dataset shapes --image-size 32 --width 16 --epochs 5

Flags as ``gan-backends train dcgan --help``; writes a 3x7 sample grid after every epoch,
losses.png, metrics.json and a checkpoint that ``--resume`` continues.
"""

import os
import sys

from gan_backends.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "dcgan", *sys.argv[1:]], prog=os.path.basename(sys.argv[0])))
