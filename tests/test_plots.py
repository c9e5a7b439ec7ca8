"""Specification of gan_backends.plots: headless PNG figures and exact sample grids."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan_backends.plots import (
    GAP,
    TITLE_HEIGHT,
    compare_bands_figure,
    compare_figure,
    image_grid,
    losses_figure,
    plot_functions,
    plot_gaussian,
    plot_losses,
    plot_quality,
    save_image_grid,
)

# matplotlib's default colour cycle: C0, C1, C2.
BLUE, ORANGE, GREEN = (31, 119, 180), (255, 127, 14), (44, 160, 44)
LOSS_D = [0.69, 0.62, 0.58, 0.55, 0.52, 0.50]
LOSS_G = [0.69, 0.80, 0.90, 1.00, 1.10, 1.20]


def on_white(colour: tuple[int, int, int], alpha: float) -> tuple[float, ...]:
    return tuple(alpha * c + (1 - alpha) * 255 for c in colour)


def count_near(pixels: np.ndarray, colour: tuple[float, ...], tolerance: float = 25) -> int:
    """Pixels of an (H, W, >=3) array whose RGB is within ``tolerance`` of ``colour``."""
    distance = np.abs(pixels[..., :3].astype(float) - np.array(colour)).max(axis=-1)
    return int((distance <= tolerance).sum())


def open_png(path: Path) -> Image.Image:
    assert path.is_file() and path.stat().st_size > 0
    image = Image.open(path)
    assert image.format == "PNG"
    return image


def gaussian_points(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 2))


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


def test_plot_losses_writes_both_curves_into_a_new_folder(tmp_path):
    path = tmp_path / "nested" / "folder" / "losses.png"
    assert plot_losses(LOSS_D, LOSS_G, path, title="GAN") == path
    image = open_png(path)
    assert image.size == (600, 400)
    pixels = np.asarray(image)
    assert count_near(pixels, BLUE) > 50
    assert count_near(pixels, ORANGE) > 50


def test_plot_losses_accepts_a_string_path_and_a_single_epoch(tmp_path):
    path = plot_losses([0.7], [0.7], str(tmp_path / "one.png"))
    assert isinstance(path, Path)
    assert open_png(path).size == (600, 400)


@pytest.mark.parametrize(("epochs", "ticks"), [(1, [1]), (3, [1, 2, 3])])
def test_the_epoch_axis_shows_whole_epochs(epochs, ticks):
    fig = losses_figure([0.7] * epochs, [0.8] * epochs)
    fig.canvas.draw()
    (ax,) = fig.axes
    low, high = ax.get_xlim()
    assert [t for t in ax.get_xticks() if low <= t <= high] == ticks


def test_plot_quality_draws_the_dcgans_swd_above_its_floor_by_epoch(tmp_path):
    quality = [
        {"epoch": epoch, "swd": swd, "swd_floor": 54.0, "swd_64": 1.0}
        for epoch, swd in [(3, 660.0), (4, 400.0), (5, 170.0)]  # a resumed run's epochs
    ]
    path = plot_quality(quality, tmp_path / "quality.png", title="dcgan")
    pixels = np.asarray(open_png(path))
    assert open_png(path).size == (600, 400)
    assert count_near(pixels, BLUE) > 100  # the SWD, solid, and its floor, dashed


def test_plot_quality_draws_the_gans_mean_and_covariance_errors(tmp_path):
    quality = [{"epoch": 1, "mean_error": 0.5, "cov_error": 0.9, "energy_distance": 0.1}]
    pixels = np.asarray(open_png(plot_quality(quality, tmp_path / "quality.png")))
    assert count_near(pixels, BLUE) > 20 and count_near(pixels, ORANGE) > 20
    assert count_near(pixels, GREEN) < 20  # nothing else: energy distance is not drawn


def test_plot_gaussian_scatters_real_and_generated(tmp_path):
    path = plot_gaussian(gaussian_points(200, 0), gaussian_points(200, 1) + 3, tmp_path / "g.png")
    image = open_png(path)
    assert image.size == (500, 500)
    pixels = np.asarray(image)
    assert count_near(pixels, on_white(BLUE, 0.6)) > 100
    assert count_near(pixels, on_white(ORANGE, 0.6)) > 100


def test_plot_gaussian_rejects_points_that_are_not_2d(tmp_path):
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        plot_gaussian(np.zeros((10, 3)), gaussian_points(10, 0), tmp_path / "bad.png")


def test_compare_figure_overlays_one_line_per_backend_in_both_panels(tmp_path):
    curves = {
        "torch": (LOSS_D, LOSS_G),
        "tensorflow": ([v + 0.05 for v in LOSS_D], [v - 0.05 for v in LOSS_G]),
        "mxnet": (LOSS_D[:3], LOSS_G[:3]),
    }
    image = open_png(compare_figure(curves, None, tmp_path / "curves.png", title="compare"))
    assert image.size == (1000, 700)
    pixels = np.asarray(image)
    for panel in (pixels[:400, :500], pixels[:400, 500:]):
        for colour in (BLUE, ORANGE, GREEN):
            assert count_near(panel, colour) > 30


def test_identical_curves_stay_visible_and_their_differences_are_drawn(tmp_path):
    curves = {name: (LOSS_D, LOSS_G) for name in ("torch", "tensorflow", "mxnet")}
    pixels = np.asarray(open_png(compare_figure(curves, None, tmp_path / "same.png")))
    for panel in (pixels[:400, :500], pixels[:400, 500:]):
        for colour in (BLUE, ORANGE, GREEN):  # markers and dashes show the lines beneath
            assert count_near(panel, colour, tolerance=10) > 30
    for panel in (pixels[400:, :500], pixels[400:, 500:]):  # differences from torch: flat at 0
        assert count_near(panel, BLUE, tolerance=10) == 0
        assert count_near(panel, ORANGE, tolerance=10) > 30
        assert count_near(panel, GREEN, tolerance=10) > 30


def test_a_single_backend_has_no_difference_row(tmp_path):
    image = open_png(compare_figure({"torch": (LOSS_D, LOSS_G)}, None, tmp_path / "one.png"))
    assert image.size == (1000, 400)


def test_compare_figure_puts_each_grid_below_the_curves(tmp_path):
    curves = {"torch": (LOSS_D, LOSS_G), "mxnet": (LOSS_D, LOSS_G)}
    magenta = np.zeros((196, 460, 3), dtype=np.uint8)
    magenta[..., [0, 2]] = 255
    grids = {"torch": magenta, "mxnet": magenta}
    with_grids = open_png(compare_figure(curves, grids, tmp_path / "with.png", title="DCGAN"))
    without = open_png(compare_figure(curves, None, tmp_path / "without.png"))
    assert without.size == (1000, 700)
    assert with_grids.size[0] == 1000
    assert with_grids.size[1] > 700 + 196  # the grid row: 500 px wide panels of 460x196 grids
    pixels = np.asarray(with_grids)
    assert count_near(pixels[:700], (255, 0, 255), tolerance=5) == 0
    assert count_near(pixels[700:], (255, 0, 255), tolerance=5) > 2 * 150 * 400
    assert count_near(np.asarray(without), (255, 0, 255), tolerance=5) == 0


def test_compare_figure_widens_for_many_grids(tmp_path):
    curves = {name: (LOSS_D, LOSS_G) for name in "abcd"}
    grids = {name: np.full((196, 460, 3), 128, dtype=np.uint8) for name in "abcd"}
    image = open_png(compare_figure(curves, grids, tmp_path / "four.png"))
    assert image.size[0] == 4 * 450


def test_compare_bands_figure_draws_each_backends_band_and_median_in_every_panel(tmp_path):
    runs = [LOSS_D, [v + 0.04 for v in LOSS_D], [v - 0.02 for v in LOSS_D]]
    far = [[v + 1.0 for v in run] for run in runs]
    bands = {"torch": {"loss_D": runs, "swd": runs}, "jax": {"loss_D": far, "swd": far}}
    image = open_png(compare_bands_figure(bands, None, tmp_path / "bands.png", title="seeds"))
    assert image.size == (1400, 450)
    pixels = np.asarray(image)
    for panel in (pixels[:, :700], pixels[:, 700:]):
        for colour in (BLUE, ORANGE):
            assert count_near(panel, colour, tolerance=10) > 30  # the median lines
            assert count_near(panel, on_white(colour, 0.25), tolerance=10) > 1000  # the bands


def test_plot_functions_draws_one_panel_per_function(tmp_path):
    x = np.linspace(-4, 4, 101)
    relu = (np.maximum(x, 0), (x > 0).astype(float))
    tanh = (np.tanh(x), 1 - np.tanh(x) ** 2)
    three = {"relu": relu, "tanh": tanh, "identity": (x, np.ones_like(x))}
    image = open_png(plot_functions(x, three, tmp_path / "three.png", title="activations"))
    assert image.size == (3 * 400, 350)
    pixels = np.asarray(image)
    for panel in np.split(pixels, 3, axis=1):
        assert count_near(panel, BLUE) > 30 and count_near(panel, ORANGE) > 30
    four = open_png(plot_functions(x, {**three, "again": relu}, tmp_path / "four.png"))
    assert four.size == (3 * 400, 2 * 350)
    with pytest.raises(ValueError):
        plot_functions(x, {}, tmp_path / "none.png")


def test_importing_plots_does_not_load_pyplot():
    code = "import sys, gan_backends.plots; print('matplotlib.pyplot' in sys.modules)"
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------------
# Sample grids
# ---------------------------------------------------------------------------------------------


def test_image_grid_shape_for_3x7_of_64x64():
    grid = image_grid(np.zeros((21, 3, 64, 64), dtype=np.float32))
    assert GAP == 2
    assert grid.shape == (3 * 64 + 2 * 2, 7 * 64 + 6 * 2, 3) == (196, 460, 3)
    assert grid.dtype == np.uint8


def test_image_grid_maps_minus_one_to_0_and_one_to_255_with_clipping():
    values = np.array([-1.0, 1.0, 0.0, -3.0, 2.0, 0.5], dtype=np.float32)
    images = np.broadcast_to(values[:, None, None, None], (6, 3, 4, 4))
    grid = image_grid(images, rows=1, cols=6)
    tiles = [grid[:, i * (4 + GAP) : i * (4 + GAP) + 4] for i in range(6)]
    assert [int(tile[0, 0, 0]) for tile in tiles] == [0, 255, 128, 0, 255, 191]
    assert all((tile == tile[0, 0, 0]).all() for tile in tiles)


def test_image_grid_fills_rows_first_with_white_gaps():
    n, rows, cols, size = 6, 2, 3, 5
    levels = np.linspace(-1, 1, n, dtype=np.float32)
    images = np.broadcast_to(levels[:, None, None, None], (n, 3, size, size)).copy()
    images[:, 1] = -1.0  # green off: every tile pixel differs from the white gap
    grid = image_grid(images, rows=rows, cols=cols)
    assert grid.shape == (2 * 5 + 2, 3 * 5 + 2 * 2, 3)
    for index in range(n):
        top, left = (index // cols) * (size + GAP), (index % cols) * (size + GAP)
        tile = grid[top : top + size, left : left + size]
        expected = round((levels[index] / 2 + 0.5) * 255)
        assert (tile[..., 0] == expected).all() and (tile[..., 1] == 0).all()
    gap_rows = grid[size : size + GAP]
    gap_cols = grid[:, size : size + GAP]
    assert (gap_rows == 255).all() and (gap_cols == 255).all()


def test_image_grid_uses_the_first_images_and_turns_grey_into_rgb():
    images = np.concatenate([np.full((4, 1, 8, 8), 1.0), np.full((3, 1, 8, 8), -1.0)])
    grid = image_grid(images, rows=2, cols=2)
    assert grid.shape == (18, 18, 3)
    assert (grid == 255).all()  # only the first four (white) images are used


def test_image_grid_rejects_too_few_images_and_wrong_layouts():
    with pytest.raises(ValueError, match="needs 21 images, got 20"):
        image_grid(np.zeros((20, 3, 64, 64)))
    with pytest.raises(ValueError, match="NCHW"):
        image_grid(np.zeros((21, 64, 64, 3)))


def test_save_image_grid_writes_the_exact_pixels(tmp_path):
    images = np.random.default_rng(0).uniform(-1, 1, size=(21, 3, 64, 64)).astype(np.float32)
    path = tmp_path / "samples" / "grid.png"
    assert save_image_grid(images, path) == path
    image = open_png(path)
    assert image.mode == "RGB" and image.size == (460, 196)
    np.testing.assert_array_equal(np.asarray(image), image_grid(images))
    small = open_png(save_image_grid(images, tmp_path / "small.png", rows=1, cols=2))
    assert small.size == (2 * 64 + GAP, 64)


def test_a_titled_grid_keeps_the_exact_pixels_under_its_title(tmp_path):
    images = np.random.default_rng(1).uniform(-1, 1, size=(21, 3, 16, 16)).astype(np.float32)
    path = save_image_grid(images, tmp_path / "titled.png", title="dcgan on mxnet, epoch 3, emoji")
    pixels = np.asarray(open_png(path))
    grid = image_grid(images)
    lines = (pixels.shape[0] - grid.shape[0]) // TITLE_HEIGHT
    assert pixels.shape[1] == grid.shape[1] and lines >= 2  # wrapped to the narrow grid
    np.testing.assert_array_equal(pixels[lines * TITLE_HEIGHT :], grid)
    title = pixels[: lines * TITLE_HEIGHT]
    assert count_near(title, (0, 0, 0), tolerance=60) > 50  # there is text
    assert count_near(title, (255, 255, 255), tolerance=5) > title.size // 3 // 2  # on white
