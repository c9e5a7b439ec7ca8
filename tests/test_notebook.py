"""The notebook view: in a Jupyter kernel, fit shows a progress bar and one figure redrawn in
place; the chapters' notebooks run on the selected backend; outside a kernel nothing changes."""

import json
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

import gan_backends as gb
from gan_backends import architectures, datasets, models, notebook

EXAMPLES = Path(__file__).parent.parent / "examples"
WIDGET = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    """A kernel spec, in the test's own folder, that runs this interpreter."""
    spec = tmp_path / "jupyter" / "kernels" / "gan-backends-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec.joinpath("kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "gan_backends test", "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return "gan-backends-test"


def outputs_of(cell):
    return {key for output in cell.outputs for key in output.get("data", {})}


@pytest.mark.parametrize("name", ["gan", "dcgan"])
def test_the_chapter_notebook_runs_and_shows_progress_and_a_live_figure(
    name, selected, kernel, monkeypatch
):
    monkeypatch.setenv("GAN_BACKEND", selected)
    book = nbformat.read(EXAMPLES / f"{name}.ipynb", as_version=4)
    setup = book.cells[1]
    assert "epochs=3" in setup.source
    setup.source = setup.source.replace("epochs=3", "epochs=2")  # two redraws suffice here
    resources = {"metadata": {"path": str(EXAMPLES)}}
    NotebookClient(book, kernel_name=kernel, timeout=300, resources=resources).execute()
    fit, plot = book.cells[2:]
    assert any(selected in output.get("text", "") for output in setup.outputs)
    figures = [o for o in fit.outputs if o.output_type == "display_data" and "image/png" in o.data]
    assert len(figures) == 1, "one live figure, redrawn in place"
    assert WIDGET in outputs_of(fit), "tqdm's notebook progress bar"
    (result,) = [o for o in fit.outputs if o.output_type == "execute_result"]
    assert result.data["text/plain"].startswith(f"History(2 epochs on {selected}; last: loss_D")
    assert "image/png" in outputs_of(plot)


def test_outside_a_notebook_fit_draws_nothing(selected, capsys):
    assert not notebook.in_notebook()
    generator = models.build(architectures.gan_generator())
    discriminator = models.build(architectures.gan_discriminator())
    history = gb.Trainer(generator, discriminator, seed=0).fit(
        datasets.gaussian(64, seed=0), epochs=2, batch_size=8
    )
    assert capsys.readouterr() == ("", "")
    assert "IPython" not in sys.modules or not notebook.in_notebook()
    assert repr(history).startswith(f"History(2 epochs on {selected}; last: loss_D ")
    assert repr(gb.History()) == "History(no epochs)"
    figure = history.plot("losses")
    png = figure._repr_png_()
    assert png.startswith(b"\x89PNG")
    assert np.allclose(figure.axes[0].lines[0].get_ydata(), history.loss_D)
