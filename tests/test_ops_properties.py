"""Every facade op (gan_backends/ops.py) against NumPy, as properties searched by hypothesis.

Written once, run on each backend (the ``backend`` fixture): float32, float64, int32 and int64;
0-d and empty shapes; NaN, +-inf, -0.0, subnormals, the largest integers; and input outside the
contract, which must raise OpError. Where the contract's table of known differences allows a
backend to differ, the comparison says so in one place (``flushed``, ``in_range``).

The profile is fixed (``max_examples``, ``derandomize``), so every run tries the same cases.
"""

import contextlib
import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gan_backends import ops
from gan_backends.backends import OPS
from gan_backends.ops import OpError

EXAMPLES = 25
profile = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FLOATS, INTS = ("float32", "float64"), ("int32", "int64")
FLUSHING = {"tensorflow", "jax"}  # subnormals are zero there (the contract's known differences)
SUBNORMAL = 2.0**-100  # stands for the smallest subnormal (see ``arrays``)
SPECIAL_FLOATS = [0.0, -0.0, math.nan, math.inf, -math.inf, SUBNORMAL, -SUBNORMAL, 1.0, -1.0]
SPECIFIED: set[str] = set()


def specifies(*names):
    """Registers the ops a property specifies (every op in OPS must have one)."""
    SPECIFIED.update(names)
    return lambda test: test


def values(dtype, limit=None):
    """Elements of ``dtype``: the special values, the extremes and anything between."""
    if dtype in INTS:
        info = np.iinfo(dtype)
        low, high = (-limit, limit) if limit else (int(info.min), int(info.max))
        return st.one_of(st.sampled_from([low, high, 0, -1, 1]), st.integers(low, high))
    width = np.finfo(dtype).bits
    specials = [v for v in SPECIAL_FLOATS if not limit or not math.isfinite(v) or abs(v) <= limit]
    limit = limit and np.dtype(dtype).type(limit).item()
    # subnormals come from the specials: MXNet's import makes NumPy flush those hypothesis makes
    finite = st.floats(-limit if limit else None, limit, width=width, allow_subnormal=False)
    return st.one_of(st.sampled_from(specials), finite)


shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
dtypes = st.sampled_from([*FLOATS, *INTS])


def arrays(dtype, shape=shapes, limit=None):
    """Arrays of ``values``; hypothesis with NumPy 1 refuses subnormal elements, so they are
    put in afterwards."""
    made = hnp.arrays(dtype, shape, elements=values(dtype, limit))
    if dtype in INTS:
        return made
    smallest = np.nextafter(np.dtype(dtype).type(0), np.dtype(dtype).type(1))
    return made.map(lambda x: np.where(np.abs(x) == SUBNORMAL, np.copysign(smallest, x), x))


def flushed(array, backend, tiny_of=None):
    """``array`` with subnormals (of ``tiny_of``, its own dtype by default) made a zero of the
    same sign where the backend flushes them."""
    if backend not in FLUSHING or array.dtype.kind != "f":
        return array
    tiny = np.finfo(tiny_of or array.dtype).tiny
    return np.where(np.abs(array) < tiny, np.copysign(0, array), array).astype(array.dtype)


def assert_matches(result, expected, backend, rtol=0.0, atol=0.0):
    """Same shape, dtype, NaN and infinity positions; values within the (elementwise) tolerance."""
    value = ops.numpy(result)
    assert value.dtype == expected.dtype and value.shape == expected.shape
    value, expected = flushed(value, backend), flushed(expected, backend)
    if expected.dtype.kind != "f":
        np.testing.assert_array_equal(value, expected)
        return
    np.testing.assert_array_equal(np.isnan(value), np.isnan(expected))
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(np.where(finite, 0, value), np.where(finite, 0, expected))
    with np.errstate(all="ignore"):
        error = np.abs(value.astype(np.float64) - expected)
        bound = np.maximum(atol, 2 * np.finfo(expected.dtype).tiny) + rtol * np.abs(expected)
    assert (error <= bound)[finite].all(), f"{value} is not {expected} within {bound}"


def numpy_op(backend, compute, *inputs):
    """``compute`` on the inputs as the backend sees them, with NumPy's warnings off."""
    with np.errstate(all="ignore"):
        return compute(*(flushed(x, backend) for x in inputs))


ULPS = {"float32": 4e-6, "float64": 1e-13}
UNARY = {
    "exp": np.exp,
    "log": np.log,
    "abs": np.abs,
    "relu": lambda x: np.maximum(x, x.dtype.type(0)),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x.astype(np.float64))),
    "tanh": lambda x: np.tanh(x.astype(np.float64)),
}


@specifies(*UNARY)
@pytest.mark.parametrize("name", UNARY)
@profile
@given(data=st.data())
def test_elementwise_ops_match_numpy(backend, name, data):
    x = data.draw(arrays(data.draw(dtypes)), label="x")
    computes_in = x.dtype.name if x.dtype.name in FLOATS or name in ("abs", "relu") else "float32"
    expected = numpy_op(backend, lambda x: UNARY[name](x.astype(computes_in)), x).astype(
        computes_in
    )
    rtol = ULPS[computes_in] if computes_in in FLOATS else 0
    assert_matches(getattr(ops, name)(ops.tensor(x, x.dtype)), expected, backend, rtol=rtol)


@specifies("leaky_relu")
@profile
@given(x=st.sampled_from(FLOATS).flatmap(arrays), alpha=st.floats(-2, 2))
def test_leaky_relu_is_x_where_positive_else_alpha_x(backend, x, alpha):
    expected = numpy_op(backend, lambda x: np.where(x > 0, x, x.dtype.type(alpha) * x), x)
    result = ops.leaky_relu(ops.tensor(x, x.dtype), alpha)
    assert_matches(result, expected, backend, rtol=ULPS[x.dtype.name])


BINARY = {
    "add": np.add,
    "subtract": np.subtract,
    "multiply": np.multiply,
    "divide": np.divide,
    "maximum": np.maximum,
}


def result_dtype(a, b, op):
    floats = [d for d in (a, b) if d in FLOATS]
    dtype = max(floats or [a, b], key=lambda d: np.dtype(d).itemsize)
    return "float32" if op == "divide" and dtype in INTS else dtype


@specifies(*BINARY)
@pytest.mark.parametrize("name", BINARY)
@profile
@given(data=st.data())
def test_binary_ops_broadcast_and_promote_like_the_contract(backend, name, data):
    shape_a, shape_b = data.draw(
        hnp.mutually_broadcastable_shapes(num_shapes=2, max_side=3)
    ).input_shapes
    a = data.draw(arrays(data.draw(dtypes), shape_a), label="a")
    b = data.draw(arrays(data.draw(dtypes), shape_b), label="b")
    dtype = result_dtype(a.dtype.name, b.dtype.name, name)
    expected = numpy_op(backend, lambda a, b: BINARY[name](a.astype(dtype), b.astype(dtype)), a, b)
    result = getattr(ops, name)(ops.tensor(a, a.dtype), ops.tensor(b, b.dtype))
    assert_matches(result, expected.astype(dtype), backend, rtol=ULPS.get(dtype, 0))


@pytest.mark.parametrize("name", BINARY)
@profile
@given(data=st.data())
def test_binary_ops_take_a_number_as_b(backend, name, data):
    a = data.draw(arrays(data.draw(dtypes)), label="a")
    b = data.draw(st.one_of(st.integers(-(2**31), 2**31 - 1), values("float64")), label="b")
    if isinstance(b, float) and a.dtype.name in INTS:
        dtype = "float32"
    else:
        dtype = result_dtype(a.dtype.name, a.dtype.name, name)
    with np.errstate(over="ignore"):
        b_array = np.array(b).astype(dtype)
    expected = numpy_op(backend, lambda a, b: BINARY[name](a.astype(dtype), b), a, b_array)
    result = getattr(ops, name)(ops.tensor(a, a.dtype), b)
    assert_matches(result, expected.astype(dtype), backend, rtol=ULPS.get(dtype, 0))


def reduced(x, axis):
    return tuple(range(x.ndim)) if axis is None else axis


@specifies("sum", "mean")
@pytest.mark.parametrize("name", ["sum", "mean"])
@profile
@given(data=st.data())
def test_reductions_match_numpy_within_the_rounding_of_any_order(backend, name, data):
    dtype = data.draw(dtypes)
    x = data.draw(arrays(dtype, limit={"float32": 1e30, "float64": 1e300}.get(dtype)), label="x")
    axis = data.draw(
        st.none() | st.lists(st.integers(0, max(x.ndim - 1, 0)), unique=True).map(tuple)
    )
    axis = None if x.ndim == 0 else axis
    keepdims = data.draw(st.booleans())
    result_dtype = {"sum": {"int32": "int64"}, "mean": {"int32": "float32", "int64": "float32"}}
    dtype = result_dtype[name].get(dtype, dtype)
    y = flushed(x, backend).astype(dtype)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy's mean of no elements is NaN with a warning
        exact = y.astype(np.float64) if dtype in FLOATS else y
        expected = getattr(np, name)(exact, axis=axis, keepdims=keepdims)
        expected = np.asarray(expected, dtype=dtype)
        bound = np.sum(np.abs(exact), axis=reduced(x, axis), keepdims=keepdims)
    size = math.prod(x.shape[a] for a in reduced(x, axis))
    if dtype in FLOATS:  # any order of summation rounds within size * eps * sum(|x|)
        bound = np.nan_to_num(bound / (max(size, 1) if name == "mean" else 1), posinf=0)
        atol = size * np.finfo(dtype).eps * bound
    else:
        atol = 0
    assert_matches(
        getattr(ops, name)(ops.tensor(x, x.dtype), axis, keepdims), expected, backend, atol=atol
    )


@specifies("matmul")
@profile
@given(data=st.data())
def test_matmul_matches_numpy(backend, data):
    n, m, k = (data.draw(st.integers(0, 3)) for _ in range(3))
    batch = data.draw(st.sampled_from([(), (2,)]))
    dtype_a, dtype_b = data.draw(dtypes), data.draw(dtypes)
    limit = {"float32": 1e15, "float64": 1e150, "int32": 2**15, "int64": 2**31}
    a = data.draw(arrays(dtype_a, st.sampled_from([(*batch, n, m), (m,)]), limit[dtype_a]))
    b = data.draw(arrays(dtype_b, st.sampled_from([(m, k), (m,)]), limit[dtype_b]))
    dtype = result_dtype(dtype_a, dtype_b, "matmul")
    with np.errstate(all="ignore"):
        exact = [flushed(x, backend).astype(dtype if dtype in INTS else np.float64) for x in (a, b)]
        expected = np.matmul(*exact).astype(dtype)
        atol = 0 if dtype in INTS else m * np.finfo(dtype).eps * np.matmul(*map(np.abs, exact))
    atol = np.nan_to_num(atol, posinf=0) if dtype in FLOATS else 0
    result = ops.matmul(ops.tensor(a, a.dtype), ops.tensor(b, b.dtype))
    assert_matches(result, np.asarray(expected), backend, atol=atol)


def in_range(x, dtype):
    """Where ``x`` converts to ``dtype`` without leaving its range (NaN and inf do)."""
    if dtype in FLOATS:
        return np.ones(x.shape, bool)
    info = np.iinfo(dtype)
    if x.dtype.kind != "f":
        return (x >= info.min) & (x <= info.max)
    with np.errstate(invalid="ignore"):
        return np.isfinite(x) & (np.trunc(x) >= info.min) & (np.trunc(x) < -float(info.min))


@specifies("tensor", "astype", "numpy", "dtype", "shape", "is_tensor")
@profile
@given(data=st.data())
def test_tensor_and_astype_convert_like_numpy(backend, data):
    x = data.draw(arrays(data.draw(dtypes)), label="x")
    dtype = data.draw(dtypes, label="dtype")
    with np.errstate(all="ignore"):
        expected = flushed(x, backend).astype(dtype)
    if in_range(x, dtype).all():
        made = ops.tensor(x, dtype)
        assert ops.is_tensor(made) and ops.dtype(made) == dtype and ops.shape(made) == x.shape
        assert_matches(made, expected, backend)
    else:
        with pytest.raises(OpError, match="cannot hold"):
            ops.tensor(x, dtype)
    cast = ops.astype(ops.tensor(x, x.dtype), dtype)
    assert ops.dtype(cast) == dtype and ops.shape(cast) == x.shape
    # Float to int out of range is a known difference; ints wrap like NumPy's.
    defined = in_range(x, dtype) if x.dtype.kind == "f" else np.ones(x.shape, bool)
    value = np.where(defined, ops.numpy(cast), 0).astype(dtype)
    # a float32 subnormal cast to float64 is a normal number the backend may have flushed
    tiny_of = x.dtype if x.dtype.kind == "f" else None
    np.testing.assert_array_equal(
        flushed(value, backend, tiny_of), flushed(np.where(defined, expected, 0), backend, tiny_of)
    )


@specifies("reshape", "transpose")
@profile
@given(data=st.data())
def test_reshape_and_transpose_move_values_like_numpy(backend, data):
    x = data.draw(arrays(data.draw(dtypes)), label="x")
    permutation = data.draw(st.permutations(range(x.ndim)))
    np.testing.assert_array_equal(
        ops.numpy(ops.transpose(ops.tensor(x, x.dtype), permutation)), x.transpose(permutation)
    )
    flat = (-1,) if x.size else (0,)
    np.testing.assert_array_equal(
        ops.numpy(ops.reshape(ops.tensor(x, x.dtype), flat)), x.reshape(flat)
    )
    wrong = x.size + 1
    with pytest.raises(OpError, match="cannot reshape"):
        ops.reshape(ops.tensor(x, x.dtype), wrong)


@specifies("concat", "stack")
@profile
@given(data=st.data())
def test_concat_and_stack_join_and_promote_like_numpy(backend, data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3))
    xs = [data.draw(arrays(data.draw(dtypes), shape)) for _ in range(data.draw(st.integers(1, 3)))]
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    dtype = max(
        [x.dtype.name for x in xs if x.dtype.name in FLOATS] or [x.dtype.name for x in xs],
        key=lambda d: np.dtype(d).itemsize,
    )
    tensors = [ops.tensor(x, x.dtype) for x in xs]
    joined = [flushed(x, backend).astype(dtype) for x in xs]
    assert_matches(ops.concat(tensors, axis), np.concatenate(joined, axis), backend)
    assert_matches(ops.stack(tensors, axis), np.stack(joined, axis), backend)


@specifies("zeros", "ones", "arange")
@profile
@given(
    shape=shapes,
    dtype=dtypes,
    bounds=st.tuples(
        st.integers(-20, 20), st.integers(-20, 20), st.sampled_from([1, 2, -1, 0.5, -3])
    ),
)
def test_zeros_ones_and_arange_match_numpy(backend, shape, dtype, bounds):
    assert_matches(ops.zeros(shape, dtype), np.zeros(shape, dtype), backend)
    assert_matches(ops.ones(shape, dtype), np.ones(shape, dtype), backend)
    assert_matches(ops.arange(*bounds, dtype=dtype), np.arange(*bounds).astype(dtype), backend)


@specifies("normal", "manual_seed")
@profile
@given(
    shape=shapes,
    dtype=st.sampled_from(FLOATS),
    seed=st.integers(0, 2**63 - 1),
    mean=st.floats(-1e3, 1e3),
    std=st.floats(0, 1e3),
)
def test_normal_is_repeatable_for_a_seed_and_has_its_shape_and_dtype(
    backend, shape, dtype, seed, mean, std
):
    ops.manual_seed(seed)
    first = ops.numpy(ops.normal(shape, mean, std, dtype))
    ops.manual_seed(seed)
    second = ops.numpy(ops.normal(shape, mean, std, dtype))
    assert first.shape == tuple(shape) and first.dtype == dtype
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(first, second)


DERIVATIVES = {
    "exp": np.exp,
    "log": lambda x: 1 / x,
    "abs": np.sign,
    "relu": lambda x: (x > 0).astype(x.dtype),
    "sigmoid": lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2,
    "tanh": lambda x: 1 / np.cosh(x) ** 2,
    "leaky_relu": lambda x: np.where(x > 0, 1, 0.2).astype(x.dtype),
}


@specifies("grad")
@pytest.mark.parametrize("name", DERIVATIVES)
@profile
@given(data=st.data())
def test_grad_is_the_derivative_with_the_kinks_of_the_contract(backend, name, data):
    dtype = data.draw(st.sampled_from(FLOATS))
    x = data.draw(arrays(dtype, limit=20), label="x")
    x = np.where(np.isfinite(x) & (np.abs(x) >= np.finfo(dtype).tiny), x, 0).astype(dtype)
    if name == "log":
        x = np.abs(x) + dtype_type(dtype)(0.5)
    with np.errstate(all="ignore"):
        expected = DERIVATIVES[name](x.astype(np.float64)).astype(dtype)
    gradient = ops.grad(getattr(ops, name), ops.tensor(x, dtype))
    # sigmoid's and tanh's gradients come from their rounded results: exact to a few eps, absolute
    assert_matches(gradient, expected, backend, rtol=ULPS[dtype], atol=8 * np.finfo(dtype).eps)


def dtype_type(dtype):
    return np.dtype(dtype).type


NOT_TENSORS = st.one_of(
    st.none(),
    st.text(max_size=3),
    st.lists(st.floats(), max_size=3),
    hnp.arrays(st.sampled_from(["float32", "int64"]), shapes),
    st.floats(),
)
ONE_TENSOR_OPS = [
    *UNARY,
    "leaky_relu",
    "sum",
    "mean",
    "transpose",
    "numpy",
    "shape",
    "dtype",
    "astype",
    "grad",
]
CALLS = {
    "astype": lambda x: ops.astype(x, "float32"),
    "grad": lambda x: ops.grad(ops.exp, x),
}


@profile
@given(data=st.data(), value=NOT_TENSORS)
def test_anything_but_a_tensor_of_the_backend_raises_op_error(backend, data, value):
    name = data.draw(
        st.sampled_from([*ONE_TENSOR_OPS, *BINARY, "matmul", "reshape", "concat", "stack"])
    )
    call = {
        "reshape": lambda x: ops.reshape(x, -1),
        "concat": lambda x: ops.concat([ops.ones(1), x]),
        "stack": lambda x: ops.stack([x]),
        "matmul": lambda x: ops.matmul(x, ops.ones((2, 2))),
        **{op: (lambda x, op=op: getattr(ops, op)(x, ops.ones(1))) for op in BINARY},
        **CALLS,
    }.get(name, getattr(ops, name))
    with pytest.raises(OpError, match="must be a tensor of the"):
        call(value)


@profile
@given(
    dtype=st.one_of(
        st.text(max_size=8),
        st.sampled_from(["bool", "float16", "uint8", "complex64", None, 3, object]),
    ),
    shape=shapes,
)
def test_any_other_dtype_raises_op_error(backend, dtype, shape):
    with contextlib.suppress(TypeError, ValueError, SyntaxError):  # np.dtype cannot read it
        assume(np.dtype(dtype).name not in ops.DTYPES)
    for make in (
        ops.zeros,
        ops.ones,
        lambda s, d: ops.tensor(np.zeros(s), d),
        lambda s, d: ops.astype(ops.zeros(s), d),
    ):
        with pytest.raises(OpError, match="dtype must be one of"):
            make(shape, dtype)


@profile
@given(
    shape=st.lists(
        st.integers(0, 3) | st.integers(-(2**40), -1) | st.integers(2**31, 2**40), max_size=3
    ),
    axis=st.integers(-5, 5),
)
def test_bad_shapes_and_axes_raise_op_error(backend, shape, axis):
    valid = (
        all(d >= 0 for d in shape) and math.prod(shape) < 2**31 and max(shape, default=0) < 2**31
    )
    assume(not valid or not -len(shape) <= axis < len(shape))
    if not valid:
        with pytest.raises(OpError, match="shape"):
            ops.zeros(shape)
    else:
        with pytest.raises(OpError, match="axis"):
            ops.sum(ops.zeros(shape), axis)


def test_every_op_in_ops_list_has_a_property():
    assert set(OPS) - SPECIFIED == set()
