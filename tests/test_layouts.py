"""Weights between the canonical layout and a framework's own (gan_backends/layouts.py): an
axis permutation there and back, float64 kept and every other dtype made float32."""

import numpy as np
import pytest

from gan_backends.layouts import to_canonical, to_native

KERNEL = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)  # (out, in, k, k)


@pytest.mark.parametrize("axes", [None, (2, 3, 1, 0), (0, 2, 3, 1)])
def test_native_and_back_is_the_identity(axes):
    native = to_native(KERNEL, axes)
    assert native.flags.c_contiguous
    np.testing.assert_array_equal(to_canonical(native, axes), KERNEL)


def test_keras_kernels_are_laid_out_kernel_first():
    native = to_native(KERNEL, (2, 3, 1, 0))  # (k, k, in, out)
    assert native.shape == (4, 4, 3, 2)
    assert native[1, 2, 0, 1] == KERNEL[1, 0, 1, 2]


@pytest.mark.parametrize(
    ("dtype", "kept"),
    [(np.float64, np.float64), (np.float32, np.float32), (np.float16, np.float32),
     (np.int64, np.float32)],
)  # fmt: skip
def test_float64_is_kept_and_every_other_dtype_becomes_float32(dtype, kept):
    assert to_native(KERNEL.astype(dtype), None).dtype == kept
    assert to_canonical(KERNEL.astype(dtype), None).dtype == kept
