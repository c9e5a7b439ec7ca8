"""The networks of d2l 20.1 and 20.2 (gan_backends/models.py, built from the specs of
gan_backends/architectures.py): the same shapes, weight names, initialisation, padding, batch
norm and forward pass on every backend."""

from pathlib import Path

import numpy as np
import pytest

import gan_backends as gb
from gan_backends import architectures, datasets, models
from gan_backends.architectures import BatchNorm, Network
from tests.conftest import per_backend

GOLDEN = Path(__file__).parent / "golden" / "dcgan_small.npz"  # tests/test_training.py writes it
SMALL = {"latent_dim": 8, "width": 8, "image_size": 16}


def numpy_discriminator(weights, x):
    hidden = np.tanh(x @ weights["dense0.kernel"] + weights["dense0.bias"])
    hidden = np.tanh(hidden @ weights["dense1.kernel"] + weights["dense1.bias"])
    return hidden @ weights["dense2.kernel"] + weights["dense2.bias"]


def random_weights(model, seed):
    rng = np.random.default_rng(seed)
    return {
        k: rng.normal(size=v.shape).astype(np.float32) for k, v in gb.get_weights(model).items()
    }


def test_generator_and_discriminator_shapes_and_dtypes(backend):
    G, D = models.gan_generator(), models.gan_discriminator()
    fake = gb.generate(G, np.zeros((5, 2), np.float32))
    logits = gb.discriminate(D, fake)
    assert fake.shape == (5, 2) and fake.dtype == np.float32
    assert logits.shape == (5,) and logits.dtype == np.float32


def test_weights_have_the_same_canonical_names_and_shapes_everywhere(backend):
    assert {k: v.shape for k, v in gb.get_weights(models.gan_discriminator()).items()} == {
        "dense0.kernel": (2, 5), "dense0.bias": (5,),
        "dense1.kernel": (5, 3), "dense1.bias": (3,),
        "dense2.kernel": (3, 1), "dense2.bias": (1,),
    }  # fmt: skip
    assert {k: v.shape for k, v in gb.get_weights(models.gan_generator()).items()} == {
        "dense0.kernel": (2, 2),
        "dense0.bias": (2,),
    }


def test_initialisation_is_the_documented_rule_and_the_same_for_a_seed(backend):
    weights = gb.get_weights(models.gan_discriminator(seed=3))
    again = gb.get_weights(models.gan_discriminator(seed=3))
    for name, value in weights.items():
        np.testing.assert_array_equal(value, again[name])
        if name.endswith(".bias"):
            assert not value.any(), name
        if name.endswith(".kernel"):  # Glorot-uniform
            limit = np.sqrt(6 / sum(value.shape))
            assert np.abs(value).max() <= limit and np.abs(value).max() > limit / 2, name


def test_forward_matches_numpy_with_shared_weights(backend):
    G, D = models.gan_generator(), models.gan_discriminator()
    w_G, w_D = random_weights(G, 1), random_weights(D, 2)
    gb.set_weights(G, w_G)
    gb.set_weights(D, w_D)
    z = np.random.default_rng(3).normal(size=(16, 2)).astype(np.float32)
    expected_fake = z @ w_G["dense0.kernel"] + w_G["dense0.bias"]
    np.testing.assert_allclose(gb.generate(G, z), expected_fake, atol=1e-5)
    np.testing.assert_allclose(gb.discriminate(D, z), numpy_discriminator(w_D, z)[:, 0], atol=1e-5)


def forward_shape(model, shape):
    return models.forward(model, np.zeros(shape, np.float32)).shape


def test_the_seeds_shape_checks_hold_in_nchw(backend):
    assert forward_shape(models.g_block(20), (2, 3, 16, 16)) == (2, 20, 32, 32)
    assert forward_shape(models.g_block(20, strides=1, padding=0, size=1), (2, 3, 1, 1)) == (
        2, 20, 4, 4,
    )  # fmt: skip
    assert forward_shape(models.dcgan_generator(), (1, 100, 1, 1)) == (1, 3, 64, 64)
    assert forward_shape(models.d_block(20), (2, 3, 16, 16)) == (2, 20, 8, 8)
    logits = gb.discriminate(models.dcgan_discriminator(), np.zeros((1, 3, 64, 64), np.float32))
    assert logits.shape == (1,)


@pytest.mark.parametrize(
    "block, strides, padding, size",
    [
        (models.d_block, 2, 1, 16),  # padding PyTorch's way is TensorFlow's "same"
        (models.d_block, 2, 1, 15),  # an odd input, where it is not
        (models.d_block, 1, 1, 8),
        (models.g_block, 2, 1, 8),
        (models.g_block, 1, 2, 8),
    ],
)
def test_every_padding_computes_the_same_block_everywhere(
    all_backends, block, strides, padding, size
):
    x = np.random.default_rng(0).standard_normal((2, 3, size, size)).astype(np.float32)
    gb.set_backend(all_backends[0])
    weights = gb.get_weights(block(4, strides=strides, padding=padding, size=size))

    def forward():
        model = block(4, strides=strides, padding=padding, size=size)
        gb.set_weights(model, weights)
        return models.forward(model, x, training=True)

    outputs = per_backend(all_backends, forward)
    for name, output in outputs.items():
        np.testing.assert_allclose(output, outputs[all_backends[0]], atol=1e-5, err_msg=name)


@pytest.mark.parametrize("size", [16, 32])
def test_smaller_images_drop_blocks_from_the_same_family(backend, size):
    G = models.dcgan_generator(latent_dim=10, width=4, image_size=size)
    D = models.dcgan_discriminator(width=4, image_size=size)
    images = gb.generate(G, np.zeros((2, 10, 1, 1), np.float32))
    assert images.shape == (2, 3, size, size) and images.dtype == np.float32
    assert np.abs(images).max() <= 1.0
    assert gb.discriminate(D, images).shape == (2,)


def test_weights_have_canonical_names_and_pytorch_layouts(backend):
    shapes = {k: v.shape for k, v in gb.get_weights(models.dcgan_generator(**SMALL)).items()}
    assert shapes == architectures.dcgan_generator(8, 8, 16).weight_shapes()
    assert shapes["block0_conv.kernel"] == (8, 16, 4, 4)  # transposed: (in, out, k, k)
    assert shapes["block1_bn.moving_var"] == (8,)
    D_shapes = {k: v.shape for k, v in gb.get_weights(models.dcgan_discriminator(8, 16)).items()}
    assert D_shapes["block0_conv.kernel"] == (8, 3, 4, 4)  # (out, in, k, k)
    assert D_shapes["out_conv.kernel"] == (1, 16, 4, 4)


def test_batch_norm_follows_the_documented_convention(backend):
    network = Network("bn", (3, 4, 5), (BatchNorm("bn", 3),))
    model = models.build(network)
    x = np.random.default_rng(0).normal(2.0, 3.0, (6, 3, 4, 5)).astype(np.float32)
    y = models.forward(model, x, training=True)
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))  # biased
    expected = (x - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5)
    np.testing.assert_allclose(y, expected, atol=1e-4)
    weights = gb.get_weights(model)
    np.testing.assert_allclose(weights["bn.moving_mean"], 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(weights["bn.moving_var"], 0.9 + 0.1 * var, rtol=1e-5)
    inference = models.forward(model, x, training=False)
    moving = (x - weights["bn.moving_mean"][:, None, None]) / np.sqrt(
        weights["bn.moving_var"][:, None, None] + 1e-5
    )
    np.testing.assert_allclose(inference, moving, atol=1e-4)


def small_outputs():
    """Training- and inference-mode outputs of the small DCGAN from seeded weights and inputs."""
    G, D = models.dcgan_generator(**SMALL, seed=0), models.dcgan_discriminator(8, 16, seed=1)
    noise = np.random.default_rng(2).standard_normal((4, 8, 1, 1), np.float32)
    images = datasets.shapes(4, image_size=16, seed=3)
    return {
        "G_inference": gb.generate(G, noise),
        "D_inference": gb.discriminate(D, images),
        "G_training": models.forward(G, noise, training=True),
        "D_training": models.forward(D, images, training=True).ravel(),
        "G_moving_var_after_training_forward": gb.get_weights(G)["block0_bn.moving_var"],
    }


def test_forward_matches_the_golden_outputs(backend):
    golden = np.load(GOLDEN)
    for name, value in small_outputs().items():
        np.testing.assert_allclose(value, golden[name], atol=1e-4, rtol=0, err_msg=name)


def test_forward_agrees_across_backends_in_both_modes(all_backends):
    outputs = per_backend(all_backends, small_outputs)
    for name in all_backends[1:]:
        for key, value in outputs[name].items():
            np.testing.assert_allclose(
                value, outputs[all_backends[0]][key], atol=1e-4, rtol=0, err_msg=f"{name} {key}"
            )
