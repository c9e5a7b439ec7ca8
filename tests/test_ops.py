# ruff: noqa: E501  (one op per line reads best as a table)
"""Every facade op matches NumPy on every backend: values, dtypes and shapes; every gradient
matches its analytic derivative."""

import numpy as np
import pytest

import gan_backends as gb
from gan_backends import ops
from gan_backends.backends import OPS
from tests.conftest import require_backends

rng = np.random.default_rng(0)
A = rng.normal(size=(3, 4)).astype(np.float32)
B = rng.normal(size=(4, 2)).astype(np.float32)
C = rng.normal(size=(3, 4)).astype(np.float32)
POSITIVE = rng.uniform(0.1, 3.0, size=(2, 5)).astype(np.float32)
X = np.linspace(-4, 4, 33, dtype=np.float32)


def t(array):
    return ops.tensor(array)


# name, facade call, NumPy reference
CASES = [
    ("tensor", lambda: ops.tensor([[1, 2], [-0.1, 0.5]]), lambda: np.array([[1, 2], [-0.1, 0.5]], np.float32)),
    ("tensor_int_data_is_float32", lambda: ops.tensor([1, 2]), lambda: np.array([1.0, 2.0], np.float32)),
    ("tensor_int64", lambda: ops.tensor([1, 2], dtype="int64"), lambda: np.array([1, 2], np.int64)),
    ("astype", lambda: ops.astype(t(A), "float64"), lambda: A.astype(np.float64)),
    ("zeros", lambda: ops.zeros((2, 3)), lambda: np.zeros((2, 3), np.float32)),
    ("zeros_int_shape", lambda: ops.zeros(4), lambda: np.zeros(4, np.float32)),
    ("ones", lambda: ops.ones((3, 1)), lambda: np.ones((3, 1), np.float32)),
    ("ones_float64", lambda: ops.ones(2, dtype=np.float64), lambda: np.ones(2, np.float64)),
    ("arange", lambda: ops.arange(5), lambda: np.arange(5, dtype=np.float32)),
    ("arange_start_stop_step", lambda: ops.arange(-1, 2, 0.5), lambda: np.arange(-1, 2, 0.5, dtype=np.float32)),
    ("arange_int32", lambda: ops.arange(0, 6, 2, dtype="int32"), lambda: np.arange(0, 6, 2, dtype=np.int32)),
    ("matmul", lambda: ops.matmul(t(A), t(B)), lambda: A @ B),
    ("transpose", lambda: ops.transpose(t(A)), lambda: A.T),
    ("transpose_axes", lambda: ops.transpose(t(A.reshape(3, 2, 2)), (2, 0, 1)), lambda: A.reshape(3, 2, 2).transpose(2, 0, 1)),
    ("reshape", lambda: ops.reshape(t(A), (2, -1)), lambda: A.reshape(2, -1)),
    ("concat", lambda: ops.concat([t(A), t(C)], axis=1), lambda: np.concatenate([A, C], axis=1)),
    ("concat_default_axis", lambda: ops.concat([t(A), t(C)]), lambda: np.concatenate([A, C])),
    ("stack", lambda: ops.stack([t(A), t(C)], axis=1), lambda: np.stack([A, C], axis=1)),
    ("sum", lambda: ops.sum(t(A)), lambda: A.sum()),
    ("sum_axis", lambda: ops.sum(t(A), axis=1), lambda: A.sum(axis=1)),
    ("sum_axes_keepdims", lambda: ops.sum(t(A), axis=(0, 1), keepdims=True), lambda: A.sum(axis=(0, 1), keepdims=True)),
    ("mean", lambda: ops.mean(t(A)), lambda: A.mean()),
    ("mean_axis_keepdims", lambda: ops.mean(t(A), axis=0, keepdims=True), lambda: A.mean(axis=0, keepdims=True)),
    ("exp", lambda: ops.exp(t(A)), lambda: np.exp(A)),
    ("log", lambda: ops.log(t(POSITIVE)), lambda: np.log(POSITIVE)),
    ("abs", lambda: ops.abs(t(A)), lambda: np.abs(A)),
    ("add", lambda: ops.add(t(A), t(C)), lambda: A + C),
    ("add_int32_and_float64_broadcast", lambda: ops.add(ops.tensor([[1], [2]], "int32"), ops.tensor([0.5, 1], "float64")), lambda: np.array([[1.5, 2], [2.5, 3]])),
    ("subtract", lambda: ops.subtract(t(A), t(C)), lambda: A - C),
    ("subtract_scalar", lambda: ops.subtract(ops.tensor([5, 7], "int64"), 2), lambda: np.array([3, 5], np.int64)),
    ("multiply", lambda: ops.multiply(t(A), t(C)), lambda: A * C),
    ("multiply_int_by_float_scalar_is_float32", lambda: ops.multiply(ops.tensor([1, 2], "int32"), 0.5), lambda: np.array([0.5, 1], np.float32)),
    ("divide", lambda: ops.divide(t(A), t(POSITIVE[:, :4].repeat(2, 0)[:3])), lambda: A / POSITIVE[:, :4].repeat(2, 0)[:3]),
    ("divide_ints_is_float32", lambda: ops.divide(ops.tensor([1, -3, 0], "int64"), ops.tensor([2, 0, 0], "int32")), lambda: np.array([0.5, -np.inf, np.nan], np.float32)),
    ("maximum", lambda: ops.maximum(t(A), t(C)), lambda: np.maximum(A, C)),
    ("maximum_scalar", lambda: ops.maximum(t(A), 0.25), lambda: np.maximum(A, np.float32(0.25))),
    ("relu", lambda: ops.relu(t(X)), lambda: np.maximum(X, 0)),
    ("sigmoid", lambda: ops.sigmoid(t(X)), lambda: 1 / (1 + np.exp(-X))),
    ("tanh", lambda: ops.tanh(t(X)), lambda: np.tanh(X)),
    ("leaky_relu", lambda: ops.leaky_relu(t(X)), lambda: np.where(X > 0, X, 0.2 * X)),
    ("leaky_relu_alpha", lambda: ops.leaky_relu(t(X), alpha=0.01), lambda: np.where(X > 0, X, 0.01 * X)),
]  # fmt: skip


@pytest.mark.parametrize(("name", "call", "reference"), CASES, ids=[c[0] for c in CASES])
def test_op_matches_numpy(backend, name, call, reference):
    result, expected = call(), np.asarray(reference())
    value = ops.numpy(result)
    assert isinstance(value, np.ndarray)
    assert ops.shape(result) == expected.shape
    assert all(type(d) is int for d in ops.shape(result))
    assert value.dtype == expected.dtype, name
    np.testing.assert_allclose(value, expected, rtol=1e-6, atol=1e-6)


def test_every_facade_op_has_a_case():
    checked = {"dtype", "grad", "is_tensor", "manual_seed", "normal", "numpy", "shape"}
    checked |= {case[0] for case in CASES}
    for name in [*OPS, "arange"]:
        assert any(case == name or case.startswith(f"{name}_") for case in checked), name
    assert callable(ops.arange)


def test_normal_has_the_requested_shape_moments_and_dtype(backend):
    ops.manual_seed(0)
    sample = ops.numpy(ops.normal((200, 100), mean=1.5, std=0.5))
    assert sample.shape == (200, 100) and sample.dtype == np.float32
    assert abs(sample.mean() - 1.5) < 0.01
    assert abs(sample.std() - 0.5) < 0.01


def test_manual_seed_makes_normal_repeatable(backend):
    ops.manual_seed(7)
    first = ops.numpy(ops.normal(5))
    ops.manual_seed(7)
    np.testing.assert_array_equal(first, ops.numpy(ops.normal(5)))
    assert not np.array_equal(first, ops.numpy(ops.normal(5)))


def test_dtype_and_is_tensor_describe_tensors_of_the_selected_backend(backend):
    assert [ops.dtype(ops.zeros(1, d)) for d in ops.DTYPES] == list(ops.DTYPES)
    assert ops.is_tensor(ops.zeros(1))
    assert not ops.is_tensor(np.zeros(1)) and not ops.is_tensor([0.0])


def test_numpy_returns_an_independent_copy(backend):
    x = ops.zeros(3)
    value = ops.numpy(x)
    value[0] = 5.0
    assert ops.numpy(x)[0] == 0.0


# name, function, analytic derivative of sum(f(x)), input
GRADIENTS = [
    ("relu", ops.relu, lambda x: (x > 0).astype(np.float32), X),
    ("sigmoid", ops.sigmoid, lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2, X),
    ("tanh", ops.tanh, lambda x: 1 - np.tanh(x) ** 2, X),
    ("leaky_relu", ops.leaky_relu, lambda x: np.where(x > 0, 1.0, 0.2), X),
    ("exp", ops.exp, np.exp, X),
    ("log", ops.log, lambda x: 1 / x, POSITIVE),
    ("abs", ops.abs, np.sign, X[X != 0]),
    ("square_via_matmul", lambda x: ops.matmul(x, ops.transpose(x)), lambda x: 2 * x.sum(0, keepdims=True).repeat(len(x), 0), A),
    ("mean", lambda x: ops.mean(x, axis=1), lambda x: np.full_like(x, 1 / x.shape[1]), A),
    ("maximum", lambda x: ops.maximum(x, 0.5), lambda x: (x > 0.5).astype(np.float32), X + 0.1),
]  # fmt: skip


@pytest.mark.parametrize(("name", "f", "derivative", "x"), GRADIENTS, ids=[g[0] for g in GRADIENTS])
def test_grad_matches_the_analytic_derivative(backend, name, f, derivative, x):
    x_tensor = ops.tensor(x)
    gradient = ops.grad(f, x_tensor)
    assert ops.shape(gradient) == x.shape
    np.testing.assert_allclose(ops.numpy(gradient), derivative(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ops.numpy(x_tensor), x)


def test_jax_64_bit_mode_is_on_only_inside_the_facade():
    require_backends("jax")
    import jax
    import jax.numpy as jnp

    gb.set_backend("jax")
    wide = ops.add(ops.tensor([2**40], dtype="int64"), 1)
    assert (ops.dtype(wide), int(ops.numpy(wide)[0])) == ("int64", 2**40 + 1)
    assert ops.dtype(ops.normal((2,), dtype="float64")) == "float64"
    assert not jax.config.jax_enable_x64
    assert jnp.arange(3).dtype == jnp.int32
