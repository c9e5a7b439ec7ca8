"""safetensors files: the canonical names and layouts on every backend, readable anywhere."""

import sys
from dataclasses import replace

import numpy as np
import pytest

import gan_backends as gb
from gan_backends import architectures, cli, experiments, models
from gan_backends import safetensors_files as safetensors
from gan_backends.checkpoints import load_checkpoint
from gan_backends.experiments import Config
from gan_backends.extras import MissingExtraError
from gan_backends.files import CorruptFileError

TINY_DCGAN = Config.for_model(
    "dcgan", epochs=1, batch_size=16, dataset="shapes", image_size=16, width=8, latent_dim=8,
    limit=64, compiled=False,
)  # fmt: skip
TINY_GAN = Config.for_model("gan", epochs=1, limit=64, compiled=False)
NETWORKS = {
    "gan generator": architectures.gan_generator(),
    "gan discriminator": architectures.gan_discriminator(),
    "dcgan generator": architectures.dcgan_generator(latent_dim=8, width=8, image_size=16),
    "dcgan discriminator": architectures.dcgan_discriminator(width=8, image_size=16),
}


@pytest.mark.parametrize("role", list(NETWORKS))
def test_weights_written_on_one_backend_load_bit_for_bit_on_every_other(
    role, all_backends, tmp_path
):
    network = NETWORKS[role]
    weights = network.initial_weights(np.random.default_rng(0))
    inputs = np.random.default_rng(1).standard_normal((4, *network.input_shape), np.float32)
    outputs = {}
    for writer in all_backends:
        gb.set_backend(writer)
        model = models.build(network)
        gb.set_weights(model, weights)
        gb.save_weights(model, tmp_path / f"{writer}.safetensors")
        outputs[writer] = models.forward(model, inputs, training=False)
    for writer in all_backends:
        for reader in all_backends:
            gb.set_backend(reader)
            model = models.build(network)
            gb.load_weights(model, tmp_path / f"{writer}.safetensors")
            for name, value in gb.get_weights(model).items():
                np.testing.assert_array_equal(value, weights[name], err_msg=f"{writer}->{reader}")
            np.testing.assert_allclose(
                models.forward(model, inputs, training=False), outputs[reader], rtol=0, atol=1e-6,
                err_msg=f"{writer} -> {reader}",
            )  # fmt: skip


def test_a_file_holds_the_canonical_names_and_shapes_for_any_safetensors_reader(selected, tmp_path):
    network = NETWORKS["dcgan generator"]
    model = models.build(network)
    gb.save_weights(model, tmp_path / "G.safetensors")
    from safetensors.numpy import load_file

    tensors = load_file(tmp_path / "G.safetensors")
    assert {name: value.shape for name, value in tensors.items()} == network.weight_shapes()
    assert all(value.dtype == np.float32 for value in tensors.values())


def test_export_feeds_initial_and_sample_on_the_selected_backend(selected, tmp_path, capsys):
    experiments.run(TINY_DCGAN, tmp_path / "run")
    exported = tmp_path / "dcgan.safetensors"
    assert cli.main(["export", "--checkpoint", str(tmp_path / "run" / "checkpoint.npz"),
                     "--out", str(exported)]) == 0  # fmt: skip
    checkpoint = load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    settings, epoch, tensors = safetensors.read_run(exported, "export")
    assert epoch == 1 and Config.from_dict(settings) == TINY_DCGAN
    for name, value in checkpoint.generator.items():
        np.testing.assert_array_equal(tensors[f"G/{name}"], value)
    for name, value in checkpoint.discriminator.items():
        np.testing.assert_array_equal(tensors[f"D/{name}"], value)

    assert cli.main(["sample", "--checkpoint", str(exported), "--out", str(tmp_path / "g.png"),
                     "--save-array", str(tmp_path / "g.npy")]) == 0  # fmt: skip
    generator = models.build(TINY_DCGAN.networks()[0])
    gb.set_weights(generator, checkpoint.generator)
    expected = gb.generate(generator, experiments.fixed_noise(TINY_DCGAN))
    np.testing.assert_array_equal(np.load(tmp_path / "g.npy"), expected)

    from_npz = experiments.run(replace(TINY_DCGAN, seed=5), tmp_path / "a",
                               initial=tmp_path / "run" / "checkpoint.npz")  # fmt: skip
    from_safetensors = experiments.run(replace(TINY_DCGAN, seed=5), tmp_path / "b",
                                       initial=exported)  # fmt: skip
    assert from_safetensors["loss_D"] == from_npz["loss_D"]


def error_line(argv, capsys):
    capsys.readouterr()
    assert cli.main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_damaged_foreign_or_mismatched_files_are_refused_in_one_line(selected, tmp_path, capsys):
    experiments.run(TINY_GAN, tmp_path / "run")
    exported = tmp_path / "gan.safetensors"
    cli.main(["export", "--checkpoint", str(tmp_path / "run" / "checkpoint.npz"),
              "--out", str(exported)])  # fmt: skip
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(exported.read_bytes()[:-10])
    foreign = tmp_path / "foreign.safetensors"
    from safetensors.numpy import save_file

    save_file({"x": np.zeros(3, np.float32)}, foreign)
    one_network = tmp_path / "G.safetensors"
    gb.save_weights(models.build(TINY_GAN.networks()[0]), one_network)

    for path, reason in [
        (truncated, "not a readable safetensors file"),
        (foreign, "not written by gan_backends"),
        (one_network, "one network's weights, not a run's"),
    ]:
        line = error_line(["sample", "--checkpoint", str(path), "--out", "x.png"], capsys)
        assert str(path) in line and reason in line
    line = error_line(["train", "dcgan", "--initial", str(exported), "--limit", "64",
                       "--out", str(tmp_path / "dcgan")], capsys)  # fmt: skip
    assert str(exported) in line and "does not fit this model" in line
    line = error_line(["export", "--checkpoint", str(tmp_path / "run" / "checkpoint.npz"),
                       "--out", str(tmp_path / "weights.bin")], capsys)  # fmt: skip
    assert "--out" in line and ".safetensors" in line
    with pytest.raises(CorruptFileError, match="a run's weights, not one network's"):
        gb.load_weights(models.build(TINY_GAN.networks()[0]), exported)
    discriminator = models.build(TINY_GAN.networks()[1])
    with pytest.raises(ValueError, match="holds weights of a"):
        gb.load_weights(discriminator, one_network)


def test_a_missing_safetensors_package_names_the_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(MissingExtraError, match=r'pip install "gan_backends\[safetensors\]"'):
        safetensors.write(tmp_path / "w.safetensors", {}, {})
    assert not (tmp_path / "w.safetensors").exists()
