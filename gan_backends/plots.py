"""Headless figures for the GAN examples, the same whatever backend trained the model.

Every plotting function draws on a ``matplotlib.figure.Figure`` attached to an Agg canvas
(``FigureCanvasAgg``) and writes a PNG: pyplot is never imported, so no GUI or display is needed,
and the process-wide matplotlib backend (``matplotlib.use``) is left untouched, so importing this
module does not change how pyplot behaves elsewhere (e.g. in a notebook). Each function creates
the parent folders of ``path``, replaces the file atomically, and returns it as a
``pathlib.Path``.

Figures are saved at ``DPI`` (100) dots per inch, without tight cropping, so their pixel sizes
are fixed: ``plot_losses`` and ``plot_quality`` 600x400, ``plot_gaussian`` 500x500,
``compare_figure`` 1000 (or 450 per grid, if wider) x 400 (one backend) or 700 (several: a row
of differences from the first backend, so that curves drawn on top of each other still show that
they agree) plus the height of the grid row, ``compare_bands_figure`` 1400 (or 450 per grid) x
450 plus the grid row, ``plot_functions`` 400x350 per panel, at most 3 panels per row.

Sample images are not drawn by matplotlib: ``image_grid`` tiles NCHW images in [-1, 1] into one
HWC ``uint8`` array (pixel = round(255 * clip(x / 2 + 0.5, 0, 1)), so -1 -> 0, 0 -> 128,
1 -> 255) with a ``GAP`` (2) pixel white gap between tiles and no outer border, and
``save_image_grid`` writes that array with Pillow, pixel for pixel, under an optional title
strip (``TITLE_HEIGHT`` pixels a line, black on white).
"""

# The arguments loss_D / loss_G keep the d2l chapter's names (and History's field names).

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure, SubFigure
from matplotlib.ticker import MaxNLocator
from PIL import Image, ImageDraw, ImageFont

from gan_backends.files import write_atomically

__all__ = [
    "DPI",
    "GAP",
    "TITLE_HEIGHT",
    "compare_bands_figure",
    "compare_figure",
    "figure_pixels",
    "gaussian_figure",
    "image_grid",
    "losses_figure",
    "plot_functions",
    "plot_gaussian",
    "plot_losses",
    "plot_quality",
    "save_image_grid",
    "training_figure",
]

DPI = 100
GAP = 2
TITLE_HEIGHT = 18
#: Line styles and markers that keep curves lying on top of each other distinguishable.
CURVE_STYLES = [("-", "", 3.0), ("--", "o", 2.0), (":", "x", 2.0), ("-.", "s", 1.5)]

Curves = dict[str, tuple[Sequence[float], Sequence[float]]]

#: The scores of ``metrics.json``'s ``quality`` that ``plot_quality`` draws, with their labels,
#: and the score drawn dashed beside one as its floor (what real data scores).
QUALITY_CURVES = {
    "swd": "SWD of generated against real images",
    "mean_error": "distance of the mean from the true mean",
    "cov_error": "distance of the covariance from the true one",
}
QUALITY_FLOORS = {"swd": ("swd_floor", "SWD of held-out real images (the floor)")}


def _figure(width: float, height: float, title: str) -> Figure:
    fig = InlineFigure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    if title:
        fig.suptitle(title)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    return write_atomically(path, lambda file: fig.savefig(file, format="png", dpi=DPI))


def _epochs(values: Sequence[float]) -> np.ndarray:
    return np.arange(1, len(values) + 1)


def _label_epoch_axis(ax: Axes) -> None:
    """Whole epochs on the x axis, a single one too (MaxNLocator wants two ticks unless told)."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlabel("epoch")


def _label_loss_axes(ax: Axes) -> None:
    _label_epoch_axis(ax)
    ax.set_ylabel("loss")
    ax.legend()


def _draw_losses(ax: Axes, loss_D: Sequence[float], loss_G: Sequence[float]) -> None:
    ax.plot(_epochs(loss_D), loss_D, label="discriminator", marker="." if len(loss_D) < 2 else "")
    ax.plot(_epochs(loss_G), loss_G, label="generator", marker="." if len(loss_G) < 2 else "")
    _label_loss_axes(ax)


def _points(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"{name} must have shape (n, 2), got {x.shape}")
    return x


def _draw_scatter(ax: Axes, real: np.ndarray, fake: np.ndarray) -> None:
    real, fake = _points(real, "real"), _points(fake, "fake")
    ax.scatter(real[:, 0], real[:, 1], s=8, alpha=0.6, label="real")
    ax.scatter(fake[:, 0], fake[:, 1], s=8, alpha=0.6, label="generated")
    ax.legend()


def _draw_curves(axes: Sequence[Axes], curves: Curves) -> None:
    for index, (ax, role) in enumerate(zip(axes, ("discriminator", "generator"), strict=True)):
        for (name, pair), (line, marker, width) in zip(
            curves.items(), itertools.cycle(CURVE_STYLES), strict=False
        ):
            values = pair[index]
            marker = marker or ("." if len(values) < 2 else "")
            ax.plot(_epochs(values), values, label=name, linestyle=line, marker=marker,
                    linewidth=width, markevery=max(1, len(values) // 10))  # fmt: skip
        ax.set_title(role)
        _label_loss_axes(ax)


def _draw_differences(axes: Sequence[Axes], curves: Curves) -> None:
    """|loss - the first backend's loss| per epoch, for every other backend."""
    (reference, first), *others = curves.items()
    for index, ax in enumerate(axes):
        for colour, (name, pair) in enumerate(others, start=1):
            count = min(len(pair[index]), len(first[index]))
            difference = np.abs(np.subtract(pair[index][:count], first[index][:count]))
            ax.plot(_epochs(difference), difference, color=f"C{colour}", label=name,
                    marker="o" if count < 2 else "")  # fmt: skip
        ax.set_title(f"difference from {reference}")
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        _label_epoch_axis(ax)
        ax.set_ylabel("|loss difference|")
        ax.legend()


def plot_losses(
    loss_D: Sequence[float], loss_G: Sequence[float], path: str | Path, title: str = ""
) -> Path:
    """Per-epoch discriminator and generator losses (x axis: epochs 1..n), 600x400 PNG."""
    fig = _figure(6, 4, title)
    _draw_losses(fig.add_subplot(), loss_D, loss_G)
    return _save(fig, path)


def plot_quality(quality: Sequence[Mapping[str, float]], path: str | Path, title: str = "") -> Path:
    """The quality scores by epoch, lower is better, from ``metrics.json``'s ``quality`` (one
    mapping per epoch, with its ``epoch``), 600x400 PNG: the DCGAN's SWD beside the held-out
    data's, dashed; the GAN's distances from the true mean and covariance."""
    fig = _figure(6, 4, title)
    ax = fig.add_subplot()
    epochs = [entry["epoch"] for entry in quality]
    marker = "o" if len(epochs) < 2 else ""
    drawn = [score for score in QUALITY_CURVES if quality and score in quality[0]]
    for colour, score in enumerate(drawn):
        label = QUALITY_CURVES[score]
        ax.plot(epochs, [entry[score] for entry in quality], f"C{colour}", label=label,
                marker=marker)  # fmt: skip
        if score in QUALITY_FLOORS:
            floor, floor_label = QUALITY_FLOORS[score]
            ax.plot(epochs, [entry[floor] for entry in quality], f"C{colour}--",
                    label=floor_label, marker=marker)  # fmt: skip
    ax.set_ylim(0, 1.3 * ax.get_ylim()[1])  # room for the legend above the curves
    _label_epoch_axis(ax)
    ax.set_ylabel("lower is better")
    ax.legend()
    return _save(fig, path)


def plot_gaussian(real: np.ndarray, fake: np.ndarray, path: str | Path, title: str = "") -> Path:
    """Scatter of real vs generated (n, 2) points, legend "real" / "generated", 500x500 PNG."""
    fig = _figure(5, 5, title)
    _draw_scatter(fig.add_subplot(), real, fake)
    return _save(fig, path)


def image_grid(images: np.ndarray, rows: int = 3, cols: int = 7) -> np.ndarray:
    """Tile the first ``rows * cols`` NCHW images in [-1, 1] into one HWC uint8 RGB image.

    The result has shape ``(rows * H + (rows - 1) * GAP, cols * W + (cols - 1) * GAP, 3)``;
    images fill the grid row by row, gaps are white, single-channel images become grey RGB.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be NCHW with 1 or 3 channels, got shape {images.shape}")
    count = rows * cols
    if rows < 1 or cols < 1 or images.shape[0] < count:
        raise ValueError(f"a {rows}x{cols} grid needs {count} images, got {images.shape[0]}")
    values = images[:count].astype(np.float64)
    pixels = np.rint(np.clip(values / 2 + 0.5, 0, 1) * 255).astype(np.uint8)
    pixels = np.broadcast_to(pixels, (count, 3, *pixels.shape[2:])).transpose(0, 2, 3, 1)
    height, width = pixels.shape[1:3]
    grid = np.full(
        (rows * height + (rows - 1) * GAP, cols * width + (cols - 1) * GAP, 3), 255, np.uint8
    )
    for index, tile in enumerate(pixels):
        top = (index // cols) * (height + GAP)
        left = (index % cols) * (width + GAP)
        grid[top : top + height, left : left + width] = tile
    return grid


def save_image_grid(
    images: np.ndarray, path: str | Path, rows: int = 3, cols: int = 7, title: str = ""
) -> Path:
    """Write ``image_grid(images, rows, cols)`` as an RGB PNG with Pillow (exact pixels), under
    ``title`` (wrapped to the grid's width) when one is given."""
    grid = image_grid(images, rows, cols)
    if title:
        grid = np.concatenate([_title_strip(title, grid.shape[1]), grid])
    picture = Image.fromarray(grid)
    return write_atomically(path, lambda file: picture.save(file, format="PNG"))


def _title_strip(title: str, width: int) -> np.ndarray:
    """``title`` in black on white, wrapped into lines no wider than ``width`` pixels."""
    font = ImageFont.load_default(size=TITLE_HEIGHT - 5)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines: list[str] = []
    for word in title.split():
        if lines and measure.textlength(f"{lines[-1]} {word}", font=font) <= width - 4:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    strip = Image.new("RGB", (width, TITLE_HEIGHT * len(lines)), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    for row, line in enumerate(lines):
        left = max(2, (width - measure.textlength(line, font=font)) / 2)
        draw.text((left, row * TITLE_HEIGHT + 3), line, fill=(0, 0, 0), font=font)
    return np.asarray(strip)


def compare_figure(
    curves: Curves, grids: dict[str, np.ndarray] | None, path: str | Path, title: str = ""
) -> Path:
    """Loss curves overlaid on top; with several backends, each one's difference from the first
    below them; then, when given, each backend's sample grid with its name.

    ``grids`` maps a name to an HWC uint8 image from ``image_grid``. Width: 1000 pixels, or 450
    per grid when wider; height: 400 pixels for the curves, 300 for the differences, plus the
    grid row (its images' aspect ratio at their panel width, plus 50 for the titles).
    """
    width = max(10.0, 4.5 * len(grids or ()))
    heights = [4.0] + ([3.0] if len(curves) > 1 else [])
    if grids:
        aspect = max(grid.shape[0] / grid.shape[1] for grid in grids.values())
        heights.append(width / len(grids) * aspect + 0.5)
    fig = _figure(width, sum(heights), title)
    rows = fig.subfigures(len(heights), 1, height_ratios=heights, squeeze=False)[:, 0]
    _draw_curves(rows[0].subplots(1, 2), curves)
    if len(curves) > 1:
        _draw_differences(rows[1].subplots(1, 2), curves)
    if grids:
        _draw_grids(rows[-1], grids)
    return _save(fig, path)


def _draw_grids(row: SubFigure, grids: dict[str, np.ndarray]) -> None:
    """Each sample grid in ``row`` (a subfigure), side by side, titled with its name."""
    for ax, (name, grid) in zip(
        row.subplots(1, len(grids), squeeze=False)[0], grids.items(), strict=True
    ):
        ax.imshow(grid, interpolation="nearest")
        ax.set_title(name)
        ax.set_axis_off()


#: Hatches that keep overlapping bands apart in black and white, one per backend.
BAND_HATCHES = ["", "//", "\\\\", "..", "xx", "--"]


def compare_bands_figure(
    bands: dict[str, dict[str, Sequence[Sequence[float]]]],
    grids: dict[str, np.ndarray] | None,
    path: str | Path,
    title: str = "",
) -> Path:
    """Each backend's band over its runs: ``bands`` maps a backend to {metric: one per-epoch
    sequence per run}; one panel per metric, each backend's min-max band (its own hatch) and
    median line (its own line style, as in ``compare_figure``); then, when given, each backend's
    sample grid with its name.

    Width: 1400 pixels, or 450 per grid when wider; height: 450 pixels for the bands, plus the
    grid row as in ``compare_figure``.
    """
    metrics = list(next(iter(bands.values())))
    width = max(14.0, 4.5 * len(grids or ()))
    heights = [4.5]
    if grids:
        aspect = max(grid.shape[0] / grid.shape[1] for grid in grids.values())
        heights.append(width / len(grids) * aspect + 0.5)
    fig = _figure(width, sum(heights), title)
    rows = fig.subfigures(len(heights), 1, height_ratios=heights, squeeze=False)[:, 0]
    axes = rows[0].subplots(1, len(metrics), squeeze=False)[0]
    styles = itertools.cycle(zip(CURVE_STYLES, itertools.cycle(BAND_HATCHES), strict=False))
    for (name, runs), ((line, marker, width_), hatch), colour in zip(
        bands.items(), styles, itertools.count(), strict=False
    ):
        for ax, metric in zip(axes, metrics, strict=True):
            values = np.asarray(runs[metric], dtype=float)
            epochs = _epochs(values[0])
            ax.fill_between(epochs, values.min(axis=0), values.max(axis=0), alpha=0.25,
                            color=f"C{colour}", hatch=hatch, edgecolor=f"C{colour}",
                            linewidth=0.5)  # fmt: skip
            label = f"{name} ({len(values)} runs)"
            ax.plot(epochs, np.median(values, axis=0), color=f"C{colour}", linestyle=line,
                    marker=marker or ("." if len(epochs) < 2 else ""), linewidth=width_,
                    markevery=max(1, len(epochs) // 10), label=label)  # fmt: skip
    for ax, metric in zip(axes, metrics, strict=True):
        ax.set_title(metric)
        _label_epoch_axis(ax)
        ax.legend()
    if grids:
        _draw_grids(rows[-1], grids)
    return _save(fig, path)


def plot_functions(
    x: np.ndarray,
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    path: str | Path,
    title: str = "",
) -> Path:
    """One panel per function name: its ``(values, gradients)`` over ``x``, two labelled lines.

    Panels fill rows of at most 3; each panel is 400x350 pixels.
    """
    if not curves:
        raise ValueError("plot_functions needs at least one function")
    cols = min(3, len(curves))
    rows = math.ceil(len(curves) / cols)
    fig = _figure(4 * cols, 3.5 * rows, title)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (name, (values, gradients)) in zip(axes, curves.items(), strict=False):
        ax.plot(x, values, label=f"{name}(x)")
        ax.plot(x, gradients, label="gradient", linestyle="--")
        ax.set_title(name)
        ax.set_xlabel("x")
        ax.legend()
    for ax in axes[len(curves) :]:
        ax.set_axis_off()
    return _save(fig, path)


# Figures returned rather than saved: they show inline in a notebook (a PNG, as IPython asks
# through ``_repr_png_``), and TensorBoard and the notebook's live view draw with them.


class InlineFigure(Figure):
    """A Figure that a notebook displays as its PNG, with no pyplot and no inline backend."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=DPI)
        return buffer.getvalue()


def losses_figure(loss_D: Sequence[float], loss_G: Sequence[float], title: str = "") -> Figure:
    """:func:`plot_losses`' figure (600x400), returned instead of saved."""
    fig = _figure(6, 4, title)
    _draw_losses(fig.add_subplot(), loss_D, loss_G)
    return fig


def gaussian_figure(real: np.ndarray, fake: np.ndarray, title: str = "") -> Figure:
    """:func:`plot_gaussian`'s figure (500x500), returned instead of saved."""
    fig = _figure(5, 5, title)
    _draw_scatter(fig.add_subplot(), real, fake)
    return fig


def training_figure(
    loss_D: Sequence[float],
    loss_G: Sequence[float],
    real: np.ndarray | None = None,
    fake: np.ndarray | None = None,
    grid: np.ndarray | None = None,
    title: str = "",
) -> Figure:
    """d2l's training figure, 1000x400: the losses by epoch beside the real and generated
    points (``real``, ``fake``: (n, 2)) or a sample grid (``grid``: HWC uint8, from
    :func:`image_grid`)."""
    fig = _figure(10, 4, title)
    losses, samples = fig.subplots(1, 2)
    _draw_losses(losses, loss_D, loss_G)
    if grid is not None:
        samples.imshow(grid, interpolation="nearest")
        samples.set_axis_off()
    elif real is not None and fake is not None:
        _draw_scatter(samples, real, fake)
    else:
        samples.set_axis_off()
    return fig


def figure_pixels(fig: Figure) -> np.ndarray:
    """The figure drawn as an HWC uint8 RGB array (for TensorBoard's images)."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
