"""The backend-neutral network specs (gan_backends/architectures.py): d2l's layer sizes, the
canonical weight names and shapes, and one initialisation rule, checked without a framework."""

import numpy as np
import pytest

from gan_backends import architectures
from gan_backends.architectures import INIT_STD


def test_the_dcgan_at_64x64_has_d2ls_channels_and_parameter_count():
    generator = architectures.dcgan_generator()
    discriminator = architectures.dcgan_discriminator()
    kernels = {name: shape for name, shape in generator.weight_shapes().items() if "kernel" in name}
    assert kernels == {
        "block0_conv.kernel": (100, 512, 4, 4),
        "block1_conv.kernel": (512, 256, 4, 4),
        "block2_conv.kernel": (256, 128, 4, 4),
        "block3_conv.kernel": (128, 64, 4, 4),
        "out_conv.kernel": (64, 3, 4, 4),
    }
    trainable = {
        network.name: sum(
            int(np.prod(shape))
            for name, shape in network.weight_shapes().items()
            if not name.endswith(("moving_mean", "moving_var"))
        )
        for network in (generator, discriminator)
    }
    # What PyTorch counts for d2l's 20.2 networks (the kernels, batch norm's gamma and beta).
    assert trainable == {"dcgan_generator": 3_576_704, "dcgan_discriminator": 2_765_696}


@pytest.mark.parametrize("size", [16, 32, 64])
def test_the_image_size_sets_the_number_of_blocks_and_the_discriminators_input(size):
    blocks = {16: 2, 32: 3, 64: 4}[size]
    discriminator = architectures.dcgan_discriminator(width=8, image_size=size)
    assert discriminator.input_shape == (3, size, size)
    convolutions = [name for name in discriminator.weight_shapes() if name.endswith("_conv.kernel")]
    assert len(convolutions) == blocks + 1


def test_only_batch_norm_makes_an_examples_output_depend_on_its_batch():
    assert architectures.dcgan_discriminator().mixes_examples
    assert architectures.dcgan_generator().mixes_examples
    assert not architectures.gan_discriminator().mixes_examples
    assert not architectures.gan_generator().mixes_examples


def test_an_image_size_without_a_dcgan_is_refused_naming_the_sizes():
    with pytest.raises(ValueError, match=r"image_size must be one of \[16, 32, 64\], got 48"):
        architectures.dcgan_generator(image_size=48)


def test_initial_weights_follow_the_documented_rule_and_depend_only_on_the_seed():
    network = architectures.dcgan_discriminator(width=8, image_size=16)
    weights = network.initial_weights(np.random.default_rng(0))
    again = network.initial_weights(np.random.default_rng(0))
    assert weights.keys() == network.weight_shapes().keys()
    for name, value in weights.items():
        assert value.dtype == np.float32 and value.shape == network.weight_shapes()[name], name
        np.testing.assert_array_equal(value, again[name])
    kernel = weights["block0_conv.kernel"]
    assert abs(kernel.std() - INIT_STD) < 0.1 * INIT_STD and abs(kernel.mean()) < 0.1 * INIT_STD
    assert (weights["block0_bn.gamma"] == 1).all() and not weights["block0_bn.beta"].any()
    assert not weights["block0_bn.moving_mean"].any()
    assert (weights["block0_bn.moving_var"] == 1).all()
