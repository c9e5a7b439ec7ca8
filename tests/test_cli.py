"""The command line (gan_backends/cli.py): every bad input ends in one line that names the flag
or the file and the fix (no traceback, nothing loaded or compiled first, nothing of the user's
lost), and ``sample`` draws from a checkpoint on any backend."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gan_backends as gb
from gan_backends import compare as comparison
from gan_backends import experiments, models
from gan_backends.checkpoints import load_checkpoint
from gan_backends.cli import main as cli_main
from gan_backends.experiments import Config
from gan_backends.weights import save_weights

ROOT = Path(__file__).resolve().parent.parent
TINY_GAN = Config.for_model("gan", epochs=1, limit=16, compiled=False)
TINY_DCGAN = Config.for_model(
    "dcgan", epochs=1, batch_size=16, dataset="shapes", image_size=16, width=8, latent_dim=8,
    limit=64, lr_D=0.0005, lr_G=0.0005,
)  # fmt: skip


def cli(*arguments, env=None):
    environment = {k: v for k, v in os.environ.items() if k != "GAN_BACKEND"} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "gan_backends.cli", *arguments], cwd=ROOT, capture_output=True,
        text=True, env=environment, timeout=300,
    )  # fmt: skip


def assert_one_line_error(result, message):
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"gan-backends: error: {message}\n"


# flag and value, the message
BAD_SETTINGS = [
    (["--epochs", "0"], "--epochs must be an integer >= 1; got 0"),
    (["--batch-size", "-8"], "--batch-size must be an integer >= 1; got -8"),
    (["--lr", "nan"], "--lr-d (or --lr) must be a finite number > 0; got nan"),
    (["--lr-g", "inf"], "--lr-g (or --lr) must be a finite number > 0; got inf"),
    (["--lr-d", "0"], "--lr-d (or --lr) must be a finite number > 0; got 0.0"),
    (["--beta1", "1"], "--beta1 must be in [0, 1); got 1.0"),
    (["--beta1", "-0.1"], "--beta1 must be in [0, 1); got -0.1"),
    (["--latent-dim", "0"], "--latent-dim must be an integer >= 1; got 0"),
    (["--width", "0"], "--width must be an integer >= 1; got 0"),
    (["--limit", "0"], "--limit must be an integer >= 1; got 0"),
    (["--seed", "-1"], "--seed must be an integer >= 0; got -1"),
]


@pytest.mark.parametrize(
    ("flags", "message"), BAD_SETTINGS, ids=[" ".join(b[0]) for b in BAD_SETTINGS]
)
def test_a_bad_setting_is_refused_before_anything_is_loaded(tmp_path, flags, message):
    result = cli("train", "dcgan", "--dataset", str(tmp_path / "nowhere"), *flags,
                 "--out", str(tmp_path / "run"))  # fmt: skip
    assert_one_line_error(result, message)
    assert not (tmp_path / "run").exists()


def test_a_learning_rate_far_too_large_warns_in_one_line(tmp_path):
    result = cli("train", "gan", "--lr", "1e6", "--epochs", "1", "--limit", "8", "--eager",
                 "--out", str(tmp_path), "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr
    warning = (
        "gan-backends: warning: --lr-d (or --lr) 1e+06 is far above the usual 1e-4 to 0.05: "
        "Adam moves every weight by about the learning rate each step, so training will "
        "likely diverge"
    )
    assert warning in result.stderr.splitlines()


def test_trainer_refuses_settings_no_framework_could_use(selected):
    G, D = models.gan_generator(), models.gan_discriminator()
    for settings, message in [
        ({"lr_D": float("nan")}, "lr_D must be a finite number >= 0; got nan"),
        ({"lr_G": -1.0}, "lr_G must be a finite number >= 0; got -1.0"),
        ({"beta2": 1.0}, r"beta2 must be in \[0, 1\); got 1.0"),
        ({"epsilon": 0.0}, "epsilon must be a finite number > 0; got 0.0"),
    ]:
        with pytest.raises(ValueError, match=message):
            gb.Trainer(G, D, **settings)


def test_too_few_examples_for_the_batch_size_are_named_in_words(tmp_path):
    result = cli("train", "dcgan", "--dataset", "shapes", "--image-size", "16", "--limit",
                 "10", "--out", str(tmp_path))  # fmt: skip
    assert_one_line_error(
        result,
        "--limit 10 gives 10 examples, fewer than --batch-size 64: lower --batch-size to at "
        "most 10, or train on more data",
    )


def test_too_few_images_for_a_stable_quality_score_warn_in_words(selected, tmp_path):
    config = Config.for_model(
        "dcgan", epochs=1, batch_size=8, dataset="shapes", image_size=16, width=4,
        latent_dim=4, limit=16, compiled=False,
    )  # fmt: skip
    with pytest.warns(UserWarning, match="--limit 16 gives only 16 images: the quality score"):
        experiments.run(config, tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "{path} is not a checkpoint: it is not an .npz archive (the file is empty)"),
        (b"\x80\x04K\x01.", "{path} is not a checkpoint: it is not an .npz archive"),
        ("truncated", "{path} is a damaged checkpoint (truncated or corrupted: "),
        ("weights", "{path} is not a gan_backends checkpoint (no 'meta' entry); checkpoints "
                    "are the checkpoint.npz files that training writes"),
    ],
    ids=["empty", "pickle", "truncated", "weights file"],
)  # fmt: skip
def test_sample_names_a_bad_checkpoint_in_one_line(
    selected, checkpoint_bytes, tmp_path, content, message
):
    path = tmp_path / "checkpoint.npz"
    if content == "truncated":
        content = checkpoint_bytes[: len(checkpoint_bytes) // 2]
    elif content == "weights":
        save_weights(models.gan_generator(), path)
        content = path.read_bytes()
    path.write_bytes(content)
    result = cli("sample", "--checkpoint", str(path), "--out", str(tmp_path / "grid.png"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"gan-backends: error: {message.format(path=path)}")


def test_a_damaged_initial_weights_file_is_named(tmp_path):
    (tmp_path / "initial.npz").write_bytes(b"PK\x03\x04 not really")
    result = cli("train", "gan", "--initial", str(tmp_path / "initial.npz"),
                 "--out", str(tmp_path / "run"))  # fmt: skip
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(
        f"gan-backends: error: {tmp_path / 'initial.npz'} is a damaged initial weights file "
        "(--initial) (truncated or corrupted: "
    )


def test_backend_flag_takes_any_case_as_gan_backend_does(selected, tmp_path):
    upper = selected.upper()
    result = cli("train", "gan", "--backend", upper, "--epochs", "1", "--limit", "8", "--eager",
                 "--out", str(tmp_path / "flag"), "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr
    result = cli("train", "gan", "--epochs", "1", "--limit", "8", "--eager", "--no-progress",
                 "--out", str(tmp_path / "env"), env={"GAN_BACKEND": upper})  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_busy_wait_lets_openmp_threads_spin_in_the_run(selected, tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    arguments = ["--epochs", "1", "--limit", "8", "--eager", "--out", str(tmp_path / "run")]
    assert cli_main(["train", "gan", *arguments, "--no-progress", "--busy-wait"]) == 0
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_an_unknown_backend_flag_lists_the_valid_names():
    result = cli("train", "gan", "--backend", "caffe")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "gan-backends train: error: argument --backend: unknown backend 'caffe'; valid: "
        "torch, tensorflow, mxnet, jax"
    )


@pytest.fixture
def broken_framework(tmp_path):
    """A PYTHONPATH on which the selected backend's framework is installed but fails to import."""
    name = gb.selection.resolve() if gb.installed_backends() else "torch"
    package = tmp_path / gb.selection.BACKENDS[name].module
    package.mkdir()
    (package / "__init__.py").write_text("raise ImportError('libbroken.so: cannot open')\n")
    return name, {"PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}


def test_info_says_which_framework_is_broken_and_why(broken_framework):
    name, env = broken_framework
    result = cli("info", env=env | {"GAN_BACKEND": name})
    assert result.returncode == 0, result.stderr
    module = gb.selection.BACKENDS[name].module
    assert f"{name:<11} broken: {module} is installed but fails to import (ImportError: " \
        "libbroken.so: cannot open); reinstall it: pip install" in result.stdout  # fmt: skip


@pytest.mark.parametrize(
    ("import_does", "how"),
    [("import os\nos.abort()\n", "killed the process (SIGABRT)"),
     ("import sys\nsys.exit(3)\n", "ended the process (exit status 3)")],
    ids=["aborts", "exits"],
)  # fmt: skip
def test_info_survives_a_framework_whose_import_ends_the_process(tmp_path, import_does, how):
    name = gb.selection.resolve() if gb.installed_backends() else "torch"
    module = gb.selection.BACKENDS[name].module
    (tmp_path / module).mkdir()
    (tmp_path / module / "__init__.py").write_text(import_does)
    result = cli("info", env={"PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}", "GAN_BACKEND": name})
    assert result.returncode == 0, result.stderr
    assert (
        f"{name:<11} broken: importing {module} {how}; reinstall it: "
        f"{gb.selection.pip_hint(name)}\n"
    ) in result.stdout
    assert result.stdout.count("\n") == 5  # the selected backend and all four listed


def test_training_on_a_broken_framework_is_one_line(broken_framework, tmp_path):
    name, env = broken_framework
    result = cli("train", "gan", "--out", str(tmp_path), env=env | {"GAN_BACKEND": name})
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "fails to import (ImportError: libbroken.so: cannot open)" in result.stderr


EMPTY_BACKENDS = "--backends is empty; name one or more of torch, tensorflow, mxnet, jax"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--backends", ""], EMPTY_BACKENDS),
        (["--backends", " , "], EMPTY_BACKENDS),
        (["--python", "torch"], "--python takes NAME=PATH pairs separated by commas, e.g. "
                                "torch=.tox/torch/bin/python; got 'torch'"),
        (["--python", "torch="], "--python takes NAME=PATH pairs separated by commas, e.g. "
                                 "torch=.tox/torch/bin/python; got 'torch='"),
        (["--python", "caffe=/usr/bin/python3"], "unknown backend 'caffe' in --python; valid: "
                                                 "torch, tensorflow, mxnet, jax"),
    ],
)  # fmt: skip
def test_compare_names_a_bad_flag_in_one_line(tmp_path, flags, message):
    result = cli("compare", *flags, "--out", str(tmp_path))
    assert_one_line_error(result, message)


def test_a_rerun_comparison_refuses_to_replace_the_first(tmp_path):
    (tmp_path / "compare.json").write_text("{}")
    result = cli("compare", "--out", str(tmp_path))
    assert_one_line_error(
        result,
        f"{tmp_path} already holds a comparison (compare.json); replace it with --overwrite, "
        "or choose another --out",
    )
    assert (tmp_path / "compare.json").read_text() == "{}"


def test_resume_refuses_a_checkpoint_of_other_settings_in_one_line(selected, tmp_path):
    experiments.run(TINY_GAN, tmp_path)
    result = cli("train", "gan", "--epochs", "2", "--limit", "16", "--batch-size", "4",
                 "--resume", "--eager", "--out", str(tmp_path))  # fmt: skip
    assert_one_line_error(
        result,
        f"cannot resume {tmp_path / 'checkpoint.npz'}: batch_size=4 (checkpoint: 8); use the "
        "checkpoint's settings or another --out folder",
    )
    assert load_checkpoint(tmp_path / "checkpoint.npz").epoch == 1


def test_sample_refuses_an_out_it_would_replace_before_any_work(tmp_path, capsys):
    (tmp_path / "mine.npy").write_text("my array")
    (tmp_path / "link.npy").symlink_to(tmp_path / "mine.npy")
    os.mkfifo(tmp_path / "fifo.npy")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "socket.npy"))
    specials = {
        tmp_path / "link.npy": "a symbolic link",
        tmp_path / "fifo.npy": "a FIFO",
        tmp_path / "socket.npy": "a socket",
        tmp_path: "a folder",
    }
    modes = {path: os.lstat(path).st_mode for path in [*specials, Path(os.devnull)]}
    never_read = ["sample", "--checkpoint", str(tmp_path / "no_checkpoint.npz")]
    with server:
        cases = [(["--out", str(path)], path, kind) for path, kind in specials.items()]
        cases += [
            (["--out", str(tmp_path / "grid.png"), "--save-array", str(path)], path, kind)
            for path, kind in specials.items()
            if path.suffix == ".npy"  # elsewhere --save-array adds .npy, as np.save does
        ]
        cases += [(["--out", os.devnull], Path(os.devnull), "a device")]
        for flags, path, kind in cases:
            assert cli_main([*never_read, *flags]) == 2
            assert capsys.readouterr().err == (
                f"gan-backends: error: {flags[-2]} {path} is {kind}, which is never replaced "
                "or written through; give the path of a regular file\n"
            ), flags
        assert cli_main([*never_read, "--out", str(tmp_path / "mine.npy" / "grid.png")]) == 2
        assert capsys.readouterr().err == (
            f"gan-backends: error: --out {tmp_path / 'mine.npy' / 'grid.png'}: cannot write "
            f"into {tmp_path / 'mine.npy'}; choose a writable folder\n"
        )
        for command in (never_read, ["train", "gan"]):
            with pytest.raises(SystemExit):
                cli_main([*command, "--out", ""])
            assert (
                capsys.readouterr()
                .err.splitlines()[-1]
                .endswith("error: argument --out: is empty; give a path")
            )
    assert {path: os.lstat(path).st_mode for path in modes} == modes
    assert (tmp_path / "mine.npy").read_text() == "my array"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "fifo.npy", "link.npy", "mine.npy", "socket.npy",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "flag"),
    [
        (["gan", "--latent-dim", "100000000"], "--latent-dim 100000000"),
        (["dcgan", "--dataset", "shapes", "--width", "100000"], "--width 100000"),
        (["dcgan", "--dataset", "shapes", "--batch-size", "100000000"], "--batch-size 100000000"),
    ],
)
def test_sizes_that_cannot_fit_in_memory_are_refused_before_any_work(tmp_path, capsys, flags, flag):
    assert cli_main(["train", *flags, "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"gan-backends: error: {flag} needs at least "), error
    assert error.endswith(f"GiB available; lower {flag.split()[0]}\n") and error.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_the_default_sizes_fit_in_a_few_gigabytes():
    for model in ("gan", "dcgan"):
        experiments.check_memory(Config.for_model(model), available=4 * 2**30)


def test_compare_names_every_missing_framework_at_once(tmp_path):
    with pytest.raises(FileNotFoundError) as missing:
        comparison.interpreters(["tensorflow", "mxnet", "jax"], True, {}, tmp_path)
    assert str(missing.value) == (
        "compare needs an interpreter for each of tensorflow, mxnet, jax (tensorflow: `tox -e "
        'tensorflow --notest` or pip install "gan_backends[tensorflow]"; mxnet: `tox -e mxnet '
        '--notest` or pip install "gan_backends[mxnet]"; jax: `tox -e jax --notest` or pip '
        'install "gan_backends[jax]"); or pass --python NAME=PATH, or leave them out of --backends'
    )


def test_sample_command_draws_from_a_checkpoint_on_the_selected_backend(backend, tmp_path):
    experiments.run(TINY_DCGAN, tmp_path)
    command = [
        sys.executable, "-m", "gan_backends.cli", "sample", "--backend", backend,
        "--checkpoint", str(tmp_path / "checkpoint.npz"), "--out", str(tmp_path / "grid.png"),
        "--save-array", str(tmp_path / "samples.npy"),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "grid.png").stat().st_size > 0
    G = models.build(TINY_DCGAN.networks()[0])
    gb.set_weights(G, load_checkpoint(tmp_path / "checkpoint.npz").generator)
    expected = gb.generate(G, experiments.fixed_noise(TINY_DCGAN))
    np.testing.assert_allclose(np.load(tmp_path / "samples.npy"), expected, atol=1e-4)
