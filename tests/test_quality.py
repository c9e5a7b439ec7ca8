"""Specification of gan_backends.quality: framework-neutral GAN quality metrics."""

import numpy as np
import pytest

from gan_backends.quality import (
    energy_distance,
    gaussian_fit,
    gaussian_quality,
    image_quality,
    laplacian_pyramid,
    sliced_wasserstein,
    swd_floor,
)

# Small settings keep the image tests fast; the defaults are exercised once below.
FAST = {"patches_per_image": 32, "num_projections": 128}


def textures(n: int, seed: int, size: int = 32) -> np.ndarray:
    """A distribution of tinted random-sine textures, NCHW float32 in [-1, 1]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    freqs = rng.uniform(1, 8, size=(n, 3, 6, 2))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 3, 6))
    amp = rng.uniform(0.2, 0.6, size=(n, 3, 6))
    arg = 2 * np.pi * (freqs[..., 0, None, None] * x + freqs[..., 1, None, None] * y)
    img = (amp[..., None, None] * np.sin(arg + phase[..., None, None])).sum(axis=2)
    img += 0.1 * rng.standard_normal(img.shape) + np.array([0.4, 0.0, -0.4])[:, None, None]
    return np.tanh(img).astype(np.float32)


def box_blur(images: np.ndarray) -> np.ndarray:
    padded = np.pad(images, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
    h, w = images.shape[-2:]
    return sum(padded[..., i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9


@pytest.fixture(scope="module")
def real() -> np.ndarray:
    return textures(128, seed=0)


@pytest.fixture(scope="module")
def fake() -> np.ndarray:
    return textures(64, seed=1)


# ---------------------------------------------------------------------------------------------
# Laplacian pyramid
# ---------------------------------------------------------------------------------------------


def test_pyramid_levels_halve_the_resolution():
    images = textures(2, seed=3, size=64)
    pyramid = laplacian_pyramid(images, 3)
    assert [level.shape for level in pyramid] == [(2, 3, 64, 64), (2, 3, 32, 32), (2, 3, 16, 16)]
    assert all(level.dtype == np.float32 for level in pyramid)


def test_pyramid_of_one_level_is_the_image():
    images = textures(2, seed=3, size=16)
    (only,) = laplacian_pyramid(images, 1)
    np.testing.assert_array_equal(only, images)


def test_pyramid_of_a_constant_image_has_empty_bands_and_keeps_the_constant():
    images = np.full((1, 3, 32, 32), 0.25, dtype=np.float32)
    *bands, residual = laplacian_pyramid(images, 3)
    for band in bands:
        np.testing.assert_allclose(band, 0.0, atol=1e-6)
    np.testing.assert_allclose(residual, 0.25, atol=1e-6)


def test_pyramid_band_is_image_minus_its_upsampled_residual():
    # A single bright pixel in the middle: the band keeps the pixel minus the binomial spread.
    images = np.zeros((1, 1, 16, 16), dtype=np.float32)
    images[0, 0, 8, 8] = 1.0
    band, residual = laplacian_pyramid(images, 2)
    assert residual.shape == (1, 1, 8, 8)
    # Downsample: the 5x5 binomial (outer product of [1, 4, 6, 4, 1] / 16) sampled at even
    # pixels -> the residual pixel at (4, 4) gets 6/16 * 6/16.
    assert residual[0, 0, 4, 4] == pytest.approx((6 / 16) ** 2)
    # Upsample: the residual's 1-D profile [1, 6, 1] / 16 zero-inserted at pixels 6, 8, 10,
    # blurred and doubled per axis gives 2 * (1 + 36 + 1) / 256 at pixel 8.
    assert band[0, 0, 8, 8] == pytest.approx(1 - (2 * 38 / 256) ** 2)
    assert band.sum() == pytest.approx(0.0, abs=1e-6)  # a band-pass level has no DC


def test_pyramid_rejects_zero_levels():
    with pytest.raises(ValueError):
        laplacian_pyramid(textures(1, seed=0), 0)


# ---------------------------------------------------------------------------------------------
# Sliced Wasserstein distance
# ---------------------------------------------------------------------------------------------


def test_swd_levels_for_64x64_images_with_default_settings():
    images = textures(8, seed=4, size=64)
    result = sliced_wasserstein(images, textures(8, seed=5, size=64))
    assert set(result) == {"swd_64", "swd_32", "swd_16", "swd_mean"}
    levels = [result["swd_64"], result["swd_32"], result["swd_16"]]
    assert result["swd_mean"] == pytest.approx(np.mean(levels))
    assert all(value > 0 for value in levels)


def test_swd_of_a_set_with_itself_is_zero(real):
    result = sliced_wasserstein(real, real, **FAST)
    assert all(value == pytest.approx(0.0, abs=1e-9) for value in result.values())


def test_swd_of_same_distribution_is_near_the_floor(real, fake):
    floor = swd_floor(real, **FAST)["swd_mean"]
    same = sliced_wasserstein(fake, real[:64], **FAST)["swd_mean"]
    assert floor > 0
    assert same < 1.5 * floor


@pytest.mark.parametrize(
    "alter",
    [
        pytest.param(lambda x: np.clip(x + 0.2, -1, 1), id="brighter"),
        pytest.param(box_blur, id="blurred"),
        pytest.param(lambda x: x[:, ::-1], id="colours-swapped"),
    ],
)
def test_swd_of_an_altered_set_is_clearly_above_the_floor(real, fake, alter):
    floor = swd_floor(real, **FAST)["swd_mean"]
    altered = sliced_wasserstein(alter(fake), real[:64], **FAST)["swd_mean"]
    assert altered > 4 * floor


def test_blur_shows_up_in_the_fine_level_and_brightness_in_the_coarse_one(real, fake):
    same = sliced_wasserstein(fake, real[:64], **FAST)
    blurred = sliced_wasserstein(box_blur(fake), real[:64], **FAST)
    brighter = sliced_wasserstein(np.clip(fake + 0.2, -1, 1), real[:64], **FAST)
    assert blurred["swd_32"] > 4 * same["swd_32"]
    assert brighter["swd_16"] > 4 * same["swd_16"]
    assert brighter["swd_32"] < 2 * same["swd_32"]


def test_swd_floor_is_small_against_a_mismatched_set(real):
    noise = np.random.default_rng(7).uniform(-1, 1, size=(64, 3, 32, 32)).astype(np.float32)
    floor = swd_floor(real, **FAST)["swd_mean"]
    mismatched = sliced_wasserstein(noise, real[:64], **FAST)["swd_mean"]
    assert floor < mismatched / 3


def test_swd_is_deterministic_for_a_seed_and_varies_with_it(real, fake):
    first = sliced_wasserstein(fake, real, seed=3, **FAST)
    assert sliced_wasserstein(fake, real, seed=3, **FAST) == first
    assert sliced_wasserstein(fake, real, seed=4, **FAST) != first
    assert swd_floor(real, seed=3, **FAST) == swd_floor(real, seed=3, **FAST)


def test_swd_does_not_depend_on_the_intensity_range(real, fake):
    # [-1, 1] and [0, 255] give the same value: descriptors are normalised per channel.
    unit = sliced_wasserstein(fake, real, **FAST)
    bytes_range = sliced_wasserstein(fake * 127.5 + 127.5, real * 127.5 + 127.5, **FAST)
    for key, value in unit.items():
        assert bytes_range[key] == pytest.approx(value, rel=1e-3)


def test_swd_works_on_16x16_images_with_a_single_level():
    result = sliced_wasserstein(textures(8, seed=1, size=16), textures(8, seed=2, size=16))
    assert set(result) == {"swd_16", "swd_mean"}
    assert result["swd_mean"] == result["swd_16"] > 0


def test_swd_works_on_eight_images_and_on_sets_of_different_sizes(real):
    eight = textures(8, seed=9)
    assert sliced_wasserstein(eight, real[:8])["swd_mean"] > 0
    uneven = sliced_wasserstein(eight, real[:12], **FAST)
    swapped = sliced_wasserstein(real[:12], eight, **FAST)
    assert uneven["swd_mean"] > 0
    assert uneven["swd_mean"] == pytest.approx(swapped["swd_mean"], rel=1e-5)


def test_swd_rejects_images_below_min_resolution_and_mismatched_shapes():
    with pytest.raises(ValueError, match="min_resolution"):
        sliced_wasserstein(textures(2, seed=0, size=8), textures(2, seed=1, size=8))
    with pytest.raises(ValueError, match="shapes differ"):
        sliced_wasserstein(textures(2, seed=0, size=32), textures(2, seed=1, size=16))


def test_image_quality_reports_swd_floor_and_levels(real, fake):
    result = image_quality(fake, real, seed=2, **FAST)
    swd = sliced_wasserstein(fake, real, seed=2, **FAST)
    floor = swd_floor(real, seed=2, **FAST)
    assert result == {
        "swd": swd["swd_mean"],
        "swd_floor": floor["swd_mean"],
        "swd_32": swd["swd_32"],
        "swd_16": swd["swd_16"],
        "swd_floor_32": floor["swd_32"],
        "swd_floor_16": floor["swd_16"],
    }


# ---------------------------------------------------------------------------------------------
# 2-D Gaussian
# ---------------------------------------------------------------------------------------------

# The d2l chapter's data: X ~ N(0, I) mapped by x @ A + b.
A = np.array([[1.0, 2.0], [-0.1, 0.5]])
B = np.array([1.0, 2.0])
TRUE_MEAN = B
TRUE_COV = A.T @ A


def gaussian_sample(n: int, seed: int, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 2)) @ A + B + shift


def test_gaussian_fit_recovers_mean_and_covariance_of_a_big_sample():
    fit = gaussian_fit(gaussian_sample(200_000, seed=0), TRUE_MEAN, TRUE_COV)
    np.testing.assert_allclose(fit["learned_mean"], TRUE_MEAN, atol=0.02)
    np.testing.assert_allclose(fit["learned_cov"], TRUE_COV, atol=0.03)
    assert fit["mean_error"] < 0.02
    assert fit["cov_error"] < 0.05


def test_gaussian_fit_exact_values_on_a_small_sample():
    points = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    fit = gaussian_fit(points, np.zeros(2), np.zeros((2, 2)))
    assert fit["learned_mean"] == [1.0, 1.0]
    # Unbiased: each coordinate has squared deviations 1, 1, 1, 1 -> 4 / (4 - 1).
    np.testing.assert_allclose(fit["learned_cov"], [[4 / 3, 0.0], [0.0, 4 / 3]])
    assert isinstance(fit["learned_cov"], list) and isinstance(fit["learned_cov"][0], list)
    assert fit["mean_error"] == pytest.approx(np.sqrt(2))
    assert fit["cov_error"] == pytest.approx(np.sqrt(2) * 4 / 3)


def test_energy_distance_exact_value_uses_unbiased_within_set_terms():
    a = np.array([[0.0], [2.0]])
    b = np.array([[1.0], [3.0]])
    # Cross mean (1 + 3 + 1 + 1) / 4 = 1.5; within-set means over i != j: 2 and 2.
    assert energy_distance(a, b) == pytest.approx(2 * 1.5 - 2 - 2)


def test_energy_distance_is_about_zero_for_the_same_distribution_and_large_when_shifted():
    real = gaussian_sample(1000, seed=1)
    same = energy_distance(gaussian_sample(1000, seed=2), real)
    shifted = energy_distance(gaussian_sample(1000, seed=2, shift=1.0), real)
    assert abs(same) < 0.02
    assert shifted > 0.3


def test_energy_distance_subsamples_deterministically():
    big_a, big_b = gaussian_sample(3000, seed=3), gaussian_sample(3000, seed=4)
    first = energy_distance(big_a, big_b, max_points=500, seed=1)
    assert energy_distance(big_a, big_b, max_points=500, seed=1) == first
    assert energy_distance(big_a, big_b, max_points=500, seed=2) != first
    assert energy_distance(big_a[:500], big_b[:500], max_points=500) == energy_distance(
        big_a[:500], big_b[:500], max_points=10_000
    )


def test_energy_distance_rejects_mismatched_dimensions():
    with pytest.raises(ValueError):
        energy_distance(np.zeros((4, 2)), np.zeros((4, 3)))


def test_gaussian_quality_combines_fit_and_energy_distance():
    fake, real = gaussian_sample(500, seed=5), gaussian_sample(500, seed=6)
    result = gaussian_quality(fake, real, TRUE_MEAN, TRUE_COV)
    assert result == {
        **gaussian_fit(fake, TRUE_MEAN, TRUE_COV),
        "energy_distance": energy_distance(fake, real),
    }


def test_image_quality_reuses_a_precomputed_floor_exactly():
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (8, 3, 16, 16)).astype(np.float32)
    fake = rng.uniform(-1, 1, (8, 3, 16, 16)).astype(np.float32)
    floor = swd_floor(real, seed=3)
    assert image_quality(fake, real, seed=3, floor=floor) == image_quality(fake, real, seed=3)
    assert swd_floor(real, seed=3) == floor
