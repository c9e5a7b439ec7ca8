"""Framework-neutral quality metrics for GAN output.

Everything here is plain NumPy, so the numbers are computed the same way whichever backend
(PyTorch, TensorFlow, MXNet, JAX) produced the samples, and numbers from different backends can be
compared directly. Pass samples as NumPy arrays (convert tensors first).

2-D Gaussian GAN
----------------
``gaussian_fit`` compares the generated points with the true Gaussian: the sample mean, the
unbiased sample covariance (``np.cov``, divisor ``n - 1``), the Euclidean norm of the mean
difference and the Frobenius norm of the covariance difference.

``energy_distance`` is the squared energy distance between two point sets ``X`` and ``Y``::

    D^2 = 2 E|X - Y| - E|X - X'| - E|Y - Y'|

with Euclidean norms. ``E|X - Y|`` is the mean over all cross pairs; the within-set terms are
U-statistics (mean over pairs ``i != j``, divisor ``n (n - 1)``), which makes the estimate
unbiased: two samples of the same distribution score about 0, and the estimate can then be
slightly negative. Sets larger than ``max_points`` are first subsampled without replacement
with ``np.random.default_rng(seed)``.

DCGAN images: sliced Wasserstein distance (SWD)
-----------------------------------------------
Follows Karras et al. 2018, "Progressive Growing of GANs", appendix D, with the differences
noted below. Images are float NCHW arrays (the library uses [-1, 1]; see the normalisation
step for why the range does not matter). The recipe, per call of ``sliced_wasserstein``:

1. Laplacian pyramid (``laplacian_pyramid``). Blur = separable 5-tap binomial kernel
   ``[1, 4, 6, 4, 1] / 16`` along H and then W, with reflect padding (``np.pad`` mode
   ``"reflect"``, the edge pixel is not repeated). Downsample = blur, then keep every second
   row and column (size ``ceil(h / 2)``). Upsample = insert zeros to the finer size, blur,
   multiply by 4. Band-pass level ``k`` = ``G_k - upsample(G_{k+1})`` where ``G_0`` is the image
   and ``G_{k+1} = downsample(G_k)``; the last level is the low-pass residual ``G_{levels-1}``.
2. Levels used: every level whose resolution ``min(h, w)`` is at least ``min_resolution``
   (default 16). A 64x64 image gives three levels: band-pass 64, band-pass 32 and the 16x16
   low-pass residual; a 16x16 image gives one level, the image itself.
3. Descriptors: at every level, ``patches_per_image`` (default 64; Karras uses 128) patches of
   ``patch_size x patch_size`` (default 7) pixels by all channels, i.e. 7x7x3 = 147 numbers,
   at uniformly random positions (top-left corner in ``[0, h - patch_size]``). The positions
   are drawn per level from the seed and shared by both sets: image ``i`` of ``images_a`` and
   image ``i`` of ``images_b`` use the same positions, so a set compared with itself scores
   exactly 0.
4. Normalisation: every channel of the descriptors is shifted to zero mean and scaled to unit
   (population) standard deviation, with the mean and std computed per level over the
   descriptors of *both* sets pooled together. (Karras' published code normalises each set
   separately, which hides global colour or brightness shifts; pooling keeps them visible and
   still makes the result invariant to a per-channel affine change of intensities applied to
   both sets, e.g. [-1, 1] versus [0, 255]; images are not quantised to 8 bits.) A channel with
   zero std is left unscaled. Implementation detail: the division by the std is folded into the
   projection directions, and the mean subtraction is skipped because it moves both projected
   sets by the same constant, which does not change a 1-D Wasserstein distance.
5. Projections: ``num_projections`` (default 512, as Karras' 4 x 128) directions drawn from a
   standard normal and scaled to unit length, per level from the seed. For every direction, the
   1-D Wasserstein-1 distance between the projected sets = mean absolute difference of the two
   sorted projections. If the sets differ in size, both quantile functions are evaluated at
   the ``m = max(n_a, n_b)`` points ``(k + 0.5) / m`` by linear interpolation of the sorted
   values at ``(j + 0.5) / n`` (identity for the larger set).
6. Level SWD = mean over directions, multiplied by 1e3 (Karras reports SWD x 1e3); reported
   as ``swd_<res>`` (e.g. ``swd_64``, ``swd_32``, ``swd_16``) together with ``swd_mean``, the
   plain mean over the levels.

Randomness: with ``n`` levels, level ``k`` (0 = finest) draws its positions and then its
directions from ``np.random.default_rng(np.random.SeedSequence(seed).spawn(n)[k])``, so a result
is deterministic for a seed, and a band-pass level scores the same whatever ``min_resolution``
(only the coarsest level used becomes the low-pass residual). The descriptor values are
computed in float32 and the distances accumulated in float64. Cost: the sorts dominate; with
the defaults, 2,000 vs 2,000 64x64 images hold 128,000 descriptors of 147 numbers per set and
level (75 MB each) and take about 5 s on 2 CPU cores (the sorts run in a thread pool).

``swd_floor`` shuffles the real set (``np.random.default_rng(seed).permutation``) and scores its
first half against its second half (``n // 2`` images each): what a perfect generator would
score. It uses half as many images per side as a full-size comparison, so it is a slightly
pessimistic (high) estimate of the floor for ``len(real)`` images. SWD values are comparable only
between runs that use the same image counts and settings.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "energy_distance",
    "gaussian_fit",
    "gaussian_quality",
    "image_quality",
    "laplacian_pyramid",
    "sliced_wasserstein",
    "swd_floor",
]

_KERNEL = np.array([1.0, 4.0, 6.0, 4.0, 1.0], dtype=np.float32) / 16.0
_PROJECTION_CHUNK = 128  # directions projected and sorted at a time (bounds memory use)


# ---------------------------------------------------------------------------------------------
# 2-D Gaussian
# ---------------------------------------------------------------------------------------------


def _points(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"{name} must have shape (n, d) with n >= 2, got {x.shape}")
    return x


def gaussian_fit(
    fake: np.ndarray, true_mean: np.ndarray, true_cov: np.ndarray
) -> dict[str, float | list]:
    """Mean and covariance of the generated points against the true Gaussian's.

    Returns ``learned_mean`` (list), ``learned_cov`` (list of lists, unbiased ``np.cov``),
    ``mean_error`` (Euclidean norm of the mean difference) and ``cov_error`` (Frobenius norm of
    the covariance difference).
    """
    fake = _points(fake, "fake")
    mean = fake.mean(axis=0)
    cov = np.atleast_2d(np.cov(fake, rowvar=False))
    true_mean = np.asarray(true_mean, dtype=np.float64).reshape(mean.shape)
    true_cov = np.asarray(true_cov, dtype=np.float64).reshape(cov.shape)
    return {
        "learned_mean": mean.tolist(),
        "learned_cov": cov.tolist(),
        "mean_error": float(np.linalg.norm(mean - true_mean)),
        "cov_error": float(np.linalg.norm(cov - true_cov, ord="fro")),
    }


def _sum_pairwise_distances(x: np.ndarray, y: np.ndarray) -> float:
    """Sum of ``|x_i - y_j|`` over all pairs, from exact differences in row chunks."""
    chunk = max(1, 4_000_000 // (y.shape[0] * y.shape[1]))
    total = 0.0
    for start in range(0, x.shape[0], chunk):
        diff = x[start : start + chunk, None, :] - y[None, :, :]
        total += float(np.sqrt((diff * diff).sum(axis=-1)).sum())
    return total


def energy_distance(a: np.ndarray, b: np.ndarray, max_points: int = 2000, seed: int = 0) -> float:
    """Squared energy distance ``2E|X-Y| - E|X-X'| - E|Y-Y'|`` between two (n, d) point sets.

    The within-set terms are unbiased U-statistics, so samples of one distribution give about
    0 (possibly slightly negative). Sets larger than ``max_points`` are subsampled without
    replacement, deterministically from ``seed``.
    """
    a = _points(a, "a")
    b = _points(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"dimension mismatch: {a.shape} vs {b.shape}")
    rng = np.random.default_rng(seed)
    if a.shape[0] > max_points:
        a = a[rng.choice(a.shape[0], size=max_points, replace=False)]
    if b.shape[0] > max_points:
        b = b[rng.choice(b.shape[0], size=max_points, replace=False)]
    n, m = a.shape[0], b.shape[0]
    cross = _sum_pairwise_distances(a, b) / (n * m)
    within_a = _sum_pairwise_distances(a, a) / (n * (n - 1))
    within_b = _sum_pairwise_distances(b, b) / (m * (m - 1))
    return 2.0 * cross - within_a - within_b


def gaussian_quality(
    fake: np.ndarray, real: np.ndarray, true_mean: np.ndarray, true_cov: np.ndarray
) -> dict[str, Any]:
    """``gaussian_fit(fake, true_mean, true_cov)`` plus ``energy_distance`` of fake vs real."""
    result: dict[str, Any] = dict(gaussian_fit(fake, true_mean, true_cov))
    result["energy_distance"] = energy_distance(fake, real)
    return result


# ---------------------------------------------------------------------------------------------
# Images: Laplacian pyramid and sliced Wasserstein distance
# ---------------------------------------------------------------------------------------------


def _images(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4 or x.shape[0] < 1:
        raise ValueError(f"{name} must be a non-empty NCHW array, got shape {x.shape}")
    return x


def _blur_axis(x: np.ndarray, axis: int) -> np.ndarray:
    """Binomial [1, 4, 6, 4, 1] / 16 filter along one axis, reflect padding."""
    pad = [(0, 0)] * x.ndim
    pad[axis] = (2, 2)
    padded = np.pad(x, pad, mode="reflect")
    size = x.shape[axis]

    def tap(offset: int) -> np.ndarray:
        index = [slice(None)] * x.ndim
        index[axis] = slice(offset, offset + size)
        return padded[tuple(index)]

    return tap(2) * _KERNEL[2] + (tap(1) + tap(3)) * _KERNEL[1] + (tap(0) + tap(4)) * _KERNEL[0]


def _resampling_matrices(size: int) -> tuple[np.ndarray, np.ndarray]:
    """1-D downsample (ceil(size/2) x size) and upsample (size x ceil(size/2)) matrices.

    Built by applying the recipe to unit vectors: downsample = blur, keep even indices;
    upsample = put the values at the even indices of a zero vector, blur, multiply by 2 (so 4
    over the two axes).
    """
    small = (size + 1) // 2
    down = _blur_axis(np.eye(size, dtype=np.float32), axis=0)[::2]
    zero_inserted = np.zeros((size, small), dtype=np.float32)
    zero_inserted[::2] = np.eye(small, dtype=np.float32)
    up = 2.0 * _blur_axis(zero_inserted, axis=0)
    return down, up


def _apply_2d(x: np.ndarray, row_matrix: np.ndarray, col_matrix: np.ndarray) -> np.ndarray:
    """``row_matrix @ image @ col_matrix.T`` for every (H, W) image of an NCHW array."""
    n, c, h, w = x.shape
    x = (x.reshape(-1, w) @ col_matrix.T).reshape(n, c, h, col_matrix.shape[0])
    return np.matmul(row_matrix, x)


def laplacian_pyramid(images: np.ndarray, levels: int) -> list[np.ndarray]:
    """Laplacian pyramid of NCHW images, finest level first, as float32 arrays.

    Levels ``0 .. levels-2`` are band-pass (``G_k - upsample(G_{k+1})``), the last one is the
    low-pass residual; with ``levels=1`` the result is ``[images]``. Level ``k`` has spatial
    size ``ceil(h / 2**k) x ceil(w / 2**k)``. See the module docstring for the kernel.
    """
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    current = _images(images, "images")
    pyramid = []
    for _ in range(levels - 1):
        down_h, up_h = _resampling_matrices(current.shape[-2])
        down_w, up_w = _resampling_matrices(current.shape[-1])
        smaller = _apply_2d(current, down_h, down_w)
        pyramid.append(current - _apply_2d(smaller, up_h, up_w))
        current = smaller
    pyramid.append(current)
    return pyramid


def _patches(level: np.ndarray, rows: np.ndarray, cols: np.ndarray, size: int) -> np.ndarray:
    """Patches at top-left corners ``(rows, cols)`` of shape (N, P) -> (N * P, C, size, size)."""
    n, channels = level.shape[:2]
    windows = sliding_window_view(level, size, axis=-1)  # (N, C, H, W - size + 1, size)
    image = np.arange(n)[:, None, None]
    patch_rows = rows[:n, :, None] + np.arange(size)
    patches = windows[image, :, patch_rows, cols[:n, :, None]]  # (N, P, size, C, size)
    return np.ascontiguousarray(patches.transpose(0, 1, 3, 2, 4)).reshape(-1, channels, size, size)


def _quantiles(sorted_values: np.ndarray, count: int) -> np.ndarray:
    """Rows of sorted samples -> their quantile functions at ``(k + 0.5) / count``."""
    n = sorted_values.shape[-1]
    if n == count:
        return sorted_values
    position = np.clip((np.arange(count) + 0.5) * (n / count) - 0.5, 0.0, n - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, n - 1)
    weight = (position - low).astype(sorted_values.dtype)
    return sorted_values[:, low] * (1 - weight) + sorted_values[:, high] * weight


def _sort_rows(x: np.ndarray, pool: ThreadPoolExecutor, workers: int) -> None:
    """Sort every row of a 2-D array in place, blocks of rows in parallel (NumPy frees the GIL)."""
    blocks = np.array_split(x, min(workers, x.shape[0]))
    for _ in pool.map(lambda block: block.sort(axis=-1), blocks):
        pass


def _level_swd(
    desc_a: np.ndarray,
    desc_b: np.ndarray,
    num_projections: int,
    rng: np.random.Generator,
    pool: ThreadPoolExecutor,
    workers: int,
) -> float:
    """SWD (not yet scaled) between two (M, C, S, S) descriptor sets, pooled normalisation.

    Dividing channel c by its std is folded into the directions (a direction's weights on that
    channel are divided by the std); the mean subtraction is skipped (see the module docstring).
    """
    channels, pixels = desc_a.shape[1], desc_a.shape[2] * desc_a.shape[3]
    flat_a = desc_a.reshape(desc_a.shape[0], -1)
    flat_b = desc_b.reshape(desc_b.shape[0], -1)
    count = (flat_a.shape[0] + flat_b.shape[0]) * pixels
    sums = flat_a.sum(axis=0, dtype=np.float64) + flat_b.sum(axis=0, dtype=np.float64)
    squares = np.einsum("ij,ij->j", flat_a, flat_a, dtype=np.float64) + np.einsum(
        "ij,ij->j", flat_b, flat_b, dtype=np.float64
    )
    mean = sums.reshape(channels, pixels).sum(axis=1) / count
    variance = squares.reshape(channels, pixels).sum(axis=1) / count - mean**2
    std = np.sqrt(np.maximum(variance, 0.0))
    std[std == 0] = 1.0
    directions = rng.standard_normal((num_projections, flat_a.shape[1]))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    weights = (directions / np.repeat(std, pixels)).astype(np.float32)
    size = max(flat_a.shape[0], flat_b.shape[0])
    total = 0.0
    for start in range(0, num_projections, _PROJECTION_CHUNK):
        chunk = weights[start : start + _PROJECTION_CHUNK]
        projected_a = chunk @ flat_a.T  # (K, M_a), C-contiguous
        projected_b = chunk @ flat_b.T
        _sort_rows(projected_a, pool, workers)
        _sort_rows(projected_b, pool, workers)
        diff = _quantiles(projected_a, size) - _quantiles(projected_b, size)
        total += float(np.abs(diff).mean(axis=-1, dtype=np.float64).sum())
    return total / num_projections


def sliced_wasserstein(
    images_a: np.ndarray,
    images_b: np.ndarray,
    patches_per_image: int = 64,
    patch_size: int = 7,
    num_projections: int = 512,
    seed: int = 0,
    min_resolution: int = 16,
) -> dict[str, float]:
    """Sliced Wasserstein distance x 1e3 between two NCHW image sets, per pyramid level.

    Returns ``swd_<res>`` for every level of resolution >= ``min_resolution`` and
    ``swd_mean``, their mean. The sets may differ in size but not in channels or image size.
    The exact recipe is in the module docstring.
    """
    images_a = _images(images_a, "images_a")
    images_b = _images(images_b, "images_b")
    if images_a.shape[1:] != images_b.shape[1:]:
        raise ValueError(f"image shapes differ: {images_a.shape[1:]} vs {images_b.shape[1:]}")
    if patches_per_image < 1 or num_projections < 1:
        raise ValueError("patches_per_image and num_projections must be >= 1")
    if min_resolution < patch_size:
        raise ValueError(f"min_resolution {min_resolution} is below patch_size {patch_size}")
    resolutions = []
    height, width = images_a.shape[-2:]
    while min(height, width) >= min_resolution:
        resolutions.append(min(height, width))
        height, width = (height + 1) // 2, (width + 1) // 2
    if not resolutions:
        raise ValueError(
            f"images of size {images_a.shape[-2:]} (NCHW expected) are smaller than "
            f"min_resolution {min_resolution}"
        )
    pyramids = [laplacian_pyramid(x, len(resolutions)) for x in (images_a, images_b)]
    n_images = max(images_a.shape[0], images_b.shape[0])
    seeds = np.random.SeedSequence(seed).spawn(len(resolutions))
    result = {}
    workers = min(os.cpu_count() or 1, 16)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for k, resolution in enumerate(resolutions):
            rng = np.random.default_rng(seeds[k])
            level_h, level_w = pyramids[0][k].shape[-2:]
            rows = rng.integers(0, level_h - patch_size + 1, size=(n_images, patches_per_image))
            cols = rng.integers(0, level_w - patch_size + 1, size=(n_images, patches_per_image))
            desc_a, desc_b = (_patches(p[k], rows, cols, patch_size) for p in pyramids)
            swd = _level_swd(desc_a, desc_b, num_projections, rng, pool, workers)
            result[f"swd_{resolution}"] = 1e3 * swd
    result["swd_mean"] = float(np.mean(list(result.values())))
    return result


def swd_floor(real: np.ndarray, seed: int = 0, **kwargs: Any) -> dict[str, float]:
    """``sliced_wasserstein`` between the two halves of the shuffled real set.

    The score a perfect generator would get (measured with ``len(real) // 2`` images per
    side). ``kwargs`` go to ``sliced_wasserstein``, which also gets ``seed``.
    """
    real = _images(real, "real")
    if real.shape[0] < 2:
        raise ValueError("swd_floor needs at least 2 images")
    order = np.random.default_rng(seed).permutation(real.shape[0])
    half = real.shape[0] // 2
    return sliced_wasserstein(real[order[:half]], real[order[half : 2 * half]], seed=seed, **kwargs)


def image_quality(
    fake: np.ndarray,
    real: np.ndarray,
    seed: int = 0,
    floor: dict[str, float] | None = None,
    **kwargs: Any,
) -> dict[str, float]:
    """SWD of fake vs real images, with the real set's floor for reference.

    Returns ``swd`` (``swd_mean`` of fake vs real), ``swd_floor`` (``swd_mean`` of
    ``swd_floor(real)``), and per level ``swd_<res>`` and ``swd_floor_<res>``. ``kwargs`` go to
    ``sliced_wasserstein`` for both measurements. ``floor``, a ``swd_floor(real, seed,
    **kwargs)`` result, is reused instead of measured again (it depends on ``real`` alone).
    """
    swd = sliced_wasserstein(fake, real, seed=seed, **kwargs)
    floor = dict(floor or swd_floor(real, seed=seed, **kwargs))
    result = {"swd": swd.pop("swd_mean"), "swd_floor": floor.pop("swd_mean")}
    result.update(swd)
    result.update({key.replace("swd_", "swd_floor_", 1): value for key, value in floor.items()})
    return result
