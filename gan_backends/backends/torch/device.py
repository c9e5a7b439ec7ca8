"""Where PyTorch computes: the first GPU when there is one (unless GAN_DEVICE=cpu), else the CPU."""

import logging
import os

import torch

__all__ = ["describe", "framework_version", "threads"]

DEVICE = torch.device(
    "cuda" if torch.cuda.is_available() and os.environ.get("GAN_DEVICE") != "cpu" else "cpu"
)
if DEVICE.type == "cuda":
    torch.backends.cudnn.benchmark = True  # the shapes never change within a run
else:
    # A CUDA build of torch on a machine with a CUDA toolkit but no GPU warns "No CUDA runtime
    # is found" when torch.compile first loads its C++ builder: into the progress bar.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)


def describe():
    return f"cuda:{torch.cuda.current_device()}" if DEVICE.type == "cuda" else "cpu"


def framework_version():
    return torch.__version__


def threads():
    return torch.get_num_threads()
