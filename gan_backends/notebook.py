"""What :meth:`gan_backends.Trainer.fit` shows in a Jupyter kernel, as d2l's chapters draw it.

In a notebook, ``fit`` draws one figure and redraws it in place after every epoch: the two
losses by epoch beside the chapter's second panel (20.1: the real points and points generated
from fixed noise; 20.2: a grid of images generated from fixed noise), and shows a progress bar
(tqdm's notebook bar where ipywidgets is installed, else the text bar). Outside a kernel
(scripts, the CLI, IPython in a terminal) nothing is drawn. ``fit(..., live=False)`` turns it
off. The fixed noise comes from its own generator, so the view never changes what trains.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from gan_backends import models

if TYPE_CHECKING:
    from gan_backends.training import Trainer

#: Points (20.1) and images (20.2) the live figure draws.
POINTS, GRID_ROWS, GRID_COLUMNS = 100, 3, 7


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython with a kernel attached)."""
    IPython = sys.modules.get("IPython")
    shell = IPython.get_ipython() if IPython is not None else None
    return getattr(shell, "kernel", None) is not None


def progress_bar() -> type[tqdm]:
    """tqdm's notebook bar where ipywidgets can draw it, else the text bar."""
    try:
        import ipywidgets  # noqa: F401
        from tqdm.notebook import tqdm as notebook_tqdm
    except ImportError:
        return tqdm
    return notebook_tqdm


class LiveView:
    """One figure in the notebook's output, redrawn in place by :meth:`update`."""

    def __init__(self, trainer: Trainer, data: np.ndarray):
        from IPython.display import display

        rng = np.random.default_rng(0)
        images = len(trainer.data_shape) == 3
        count = GRID_ROWS * GRID_COLUMNS if images else POINTS
        self.noise = rng.standard_normal((count, *trainer.noise_shape), np.float32)
        self.real = None if images else np.asarray(data[:POINTS], np.float32)
        self.handle = display(self._figure(trainer), display_id=True)

    def update(self, trainer: Trainer) -> None:
        self.handle.update(self._figure(trainer))

    def _figure(self, trainer: Trainer) -> Any:
        from gan_backends import plots  # matplotlib loads only where a notebook draws

        history = trainer.history
        model = trainer.generator_network.name.removesuffix("_generator")
        title = f"{model} on {trainer.backend_name}, epoch {trainer.epoch}"
        fake = models.generate(trainer.generator, self.noise)
        if self.real is None:
            grid = plots.image_grid(fake, GRID_ROWS, GRID_COLUMNS)
            return plots.training_figure(history.loss_D, history.loss_G, grid=grid, title=title)
        return plots.training_figure(history.loss_D, history.loss_G, self.real, fake, title=title)


def live_view(trainer: Trainer, data: np.ndarray, live: bool) -> LiveView | None:
    """The live view of a ``fit`` in a notebook; None where ``live`` is off or no kernel runs."""
    return LiveView(trainer, data) if live and in_notebook() else None
