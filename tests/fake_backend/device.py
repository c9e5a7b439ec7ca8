"""The fake backend computes with NumPy on the CPU."""

import os

import numpy as np

__all__ = ["describe", "framework_version", "threads"]


def describe():
    return "cpu"


def framework_version():
    return np.__version__


def threads():
    return os.cpu_count() or 1
