"""What a training step costs beyond its time: model FLOPs, counted from the architecture, and
the growth of a process's peak memory.

FLOPs: a dense or (transposed) convolution layer costs 2 FLOPs per multiply-accumulate forward
and twice that backward (input and weight gradients), so 3x forward in all, for three passes of
the discriminator (real data, fake data, fake data again for the generator's loss) and one of
the generator. Recomputation (d2l's code and keras.io's run the generator twice) and skipped
gradients (the library skips the discriminator's weight gradients in the generator's update) are
not counted, so every side is credited with the same work. Batch norm and activations are left
out.

Memory: the growth of the peak RSS from a starting point (``VmHWM`` minus ``VmRSS`` at the start,
the peak reset through ``/proc/self/clear_refs``; ``ru_maxrss`` where there is no ``/proc``) and,
with PyTorch on a GPU, ``torch.cuda.max_memory_allocated`` above what was allocated at the start.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

from peers import Settings

from gan_backends.architectures import Conv, Dense, Network

MIB = 1024 * 1024


def forward_macs(network: Network) -> int:
    """Multiply-accumulates of one example through the dense and convolution layers."""
    size = network.input_shape[-1] if network.is_image else 1
    macs = 0
    for layer in network.layers:
        if isinstance(layer, Dense):
            macs += layer.in_features * layer.out_features
        elif isinstance(layer, Conv):
            # A transposed convolution scatters a k x k patch from every input pixel, a plain
            # one gathers one into every output pixel.
            pixels = size if layer.transposed else layer.output_size(size)
            k = layer.kernel_size
            macs += pixels * pixels * layer.in_channels * layer.out_channels * k * k
            size = layer.output_size(size)
    return macs


def flops_per_step(settings: Settings) -> float:
    """Model FLOPs of one training step (the module docstring says what is counted)."""
    generator, discriminator = settings.networks()
    forward_and_backward = 3 * 2  # 2 FLOPs per MAC forward, twice that backward
    passes = 3 * forward_macs(discriminator) + forward_macs(generator)
    return float(settings.batch_size * forward_and_backward * passes)


class PeakMemory:
    """Peak growth of this process's resident memory (and of PyTorch's CUDA memory) from now."""

    def __init__(self, cuda: bool):
        self.cuda = cuda
        if cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.cuda_before = torch.cuda.memory_allocated()
        try:
            Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM := the current RSS
            self.rss_before_kib = self._status_kib("VmRSS")
        except OSError:  # no /proc: only the growth of the peak so far can be seen
            self.rss_before_kib = self._peak_rss_kib()

    @staticmethod
    def _status_kib(field: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        raise OSError(f"/proc/self/status has no {field}")

    @classmethod
    def _peak_rss_kib(cls) -> int:
        try:
            return cls._status_kib("VmHWM")
        except OSError:
            max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            return max_rss // 1024 if sys.platform == "darwin" else max_rss  # bytes on macOS

    def growth_mib(self) -> dict[str, float | None]:
        cuda_mib = None
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            cuda_mib = (torch.cuda.max_memory_allocated() - self.cuda_before) / MIB
        rss_mib = (self._peak_rss_kib() - self.rss_before_kib) / 1024
        return {"rss_mib": rss_mib, "cuda_mib": cuda_mib}
