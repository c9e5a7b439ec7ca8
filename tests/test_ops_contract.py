# ruff: noqa: E501  (one case per line reads best as a table)
"""The facade's contract (the module docstring of gan_backends/ops.py) as a table of edge cases.

Each case is a call and what it must give on every backend: a NumPy value of one dtype (or a
tuple or string, for ``shape`` and ``dtype``), or an exception of one type with one message, in
full. ``{backend}`` in a message stands for the selected backend's name.
"""

import importlib
import math
import warnings
from typing import NamedTuple

import numpy as np
import pytest

import gan_backends as gb
from gan_backends import ops, selection
from gan_backends.backends import OPS
from gan_backends.ops import OpError


class Raises(NamedTuple):
    message: str
    type: type = OpError
    eager: bool = True  # raised before the framework computes anything


def t(data, dtype="float32"):
    return ops.tensor(data, dtype)


def native(array):
    """A tensor the framework makes from ``array`` as it is, e.g. a dtype the facade rejects."""
    return selection.current().ops.tensor(np.asarray(array))


DTYPES = "float32, float64, int32, int64"
UNSUPPORTED = (
    "which ops does not support (float32, float64, int32, int64); convert it with ops.astype(...)"
)
MAKE_ONE = "Make one with ops.tensor(...)"
nan = math.nan


def f32(*values):
    return np.array(values, np.float32)


# id ("op/what"), call, expected
CASES = [
    # Every supported dtype, and the dtype arguments a user may write.
    ("tensor/float32_default", lambda: t([1, 2]), f32(1, 2)),
    ("tensor/float64", lambda: t([1, 2], "float64"), np.array([1, 2], np.float64)),
    ("tensor/int32", lambda: t([1, 2], "int32"), np.array([1, 2], np.int32)),
    ("tensor/int64_as_numpy_dtype", lambda: t([1, 2], np.dtype("int64")), np.array([1, 2], np.int64)),
    ("tensor/float32_as_numpy_type", lambda: t(2.5, np.float32), np.array(2.5, np.float32)),
    ("tensor/floats_to_int_truncate", lambda: t([1.7, -1.7], "int32"), np.array([1, -1], np.int32)),
    ("tensor/bools_to_float32", lambda: t([True, False]), f32(1, 0)),
    ("tensor/beyond_float32_is_inf", lambda: t(1e300), np.array(np.inf, np.float32)),
    ("tensor/empty_list", lambda: t([]), np.zeros(0, np.float32)),
    ("tensor/of_a_tensor_casts", lambda: t(t([1.5, 2.5]), "int64"), np.array([1, 2], np.int64)),
    ("zeros/int32", lambda: ops.zeros((2, 1), "int32"), np.zeros((2, 1), np.int32)),
    ("ones/int64", lambda: ops.ones(2, "int64"), np.ones(2, np.int64)),
    ("ones/float64", lambda: ops.ones(2, "float64"), np.ones(2, np.float64)),
    ("normal/float64", lambda: ops.normal(3, mean=2, std=0, dtype="float64"), np.full(3, 2.0)),
    ("arange/int64", lambda: ops.arange(0, 5, 2, dtype="int64"), np.array([0, 2, 4], np.int64)),
    ("astype/int_to_float64", lambda: ops.astype(t([1, 2], "int32"), "float64"), np.array([1, 2], np.float64)),
    ("astype/float_to_int_truncates", lambda: ops.astype(t([1.9, -1.9]), "int64"), np.array([1, -1], np.int64)),
    ("astype/bool_enters_the_facade", lambda: ops.astype(native([True, False]), "int32"), np.array([1, 0], np.int32)),
    ("dtype/int64", lambda: ops.dtype(t([1], "int64")), "int64"),
    ("dtype/native_bool_keeps_its_name", lambda: ops.dtype(native([True])), "bool"),
    ("numpy/keeps_int64", lambda: ops.numpy(t([2**40], "int64")), np.array([2**40], np.int64)),
    ("numpy/keeps_float64", lambda: ops.numpy(t([0.1], "float64")), np.array([0.1], np.float64)),
    ("shape/scalar", lambda: ops.shape(t(1.0)), ()),
    ("shape/empty", lambda: ops.shape(ops.zeros((0, 3))), (0, 3)),
    # Unsupported dtypes: given as an argument, or on a native tensor.
    ("tensor/float16", lambda: t([1], "float16"), Raises(f"tensor: dtype must be one of {DTYPES}; got float16")),
    ("tensor/dtype_None", lambda: t([1], None), Raises(f"tensor: dtype must be one of {DTYPES}; got None")),
    ("tensor/dtype_unknown_name", lambda: t([1], "torch.float32"), Raises(f"tensor: dtype must be one of {DTYPES}; got 'torch.float32'")),
    ("zeros/bool", lambda: ops.zeros(2, bool), Raises(f"zeros: dtype must be one of {DTYPES}; got bool")),
    ("ones/uint8", lambda: ops.ones(2, "uint8"), Raises(f"ones: dtype must be one of {DTYPES}; got uint8")),
    ("arange/complex64", lambda: ops.arange(3, dtype="complex64"), Raises(f"arange: dtype must be one of {DTYPES}; got complex64")),
    ("normal/int32", lambda: ops.normal(2, dtype="int32"), Raises("normal: dtype must be float32 or float64; got int32")),
    ("astype/float16", lambda: ops.astype(ops.ones(2), "float16"), Raises(f"astype: dtype must be one of {DTYPES}; got float16")),
    ("exp/native_uint8", lambda: ops.exp(native(np.ones(2, np.uint8))), Raises(f"exp: x has dtype uint8, {UNSUPPORTED}")),
    ("sum/native_bool", lambda: ops.sum(native([True])), Raises(f"sum: x has dtype bool, {UNSUPPORTED}")),
    ("maximum/native_bool_b", lambda: ops.maximum(ops.ones(1), native([True])), Raises(f"maximum: b has dtype bool, {UNSUPPORTED}")),
    # Values an integer dtype cannot hold, and data that are not numbers.
    ("tensor/nan_to_int", lambda: t([nan], "int32"), Raises("tensor: data has values that int32 cannot hold (NaN, inf or too large)")),
    ("tensor/too_large_for_int32", lambda: t([2**31], "int32"), Raises("tensor: data has values that int32 cannot hold (NaN, inf or too large)")),
    ("tensor/None", lambda: t(None), Raises("tensor: data must be real numbers (a scalar, nested lists of equal lengths or an array); got None, which NumPy does not read as numbers")),
    ("tensor/ragged_lists", lambda: t([[1], [1, 2]]), Raises("tensor: data must be real numbers (a scalar, nested lists of equal lengths or an array); got list, which NumPy does not read as numbers")),
    ("tensor/string", lambda: t("12"), Raises("tensor: data must be real numbers (a scalar, nested lists of equal lengths or an array); got str, which NumPy does not read as numbers")),
    ("tensor/complex", lambda: t([1j]), Raises("tensor: data must be real numbers (a scalar, nested lists of equal lengths or an array); got list, which NumPy does not read as numbers")),
    # Promotion: within a kind the wider dtype, ints with floats the float one.
    ("matmul/int32_int64", lambda: ops.matmul(t([[1, 2]], "int32"), t([[3], [4]], "int64")), np.array([[11]], np.int64)),
    ("matmul/float32_float64", lambda: ops.matmul(t([[1, 2]]), t([[3], [4]], "float64")), np.array([[11]], np.float64)),
    ("matmul/int64_float32", lambda: ops.matmul(t([[1, 2]], "int64"), t([[0.5], [4]])), np.array([[8.5]], np.float32)),
    ("matmul/int32_int32", lambda: ops.matmul(t([[1, 2], [3, 4]], "int32"), t([[1, 0], [0, 1]], "int32")), np.array([[1, 2], [3, 4]], np.int32)),
    ("maximum/int32_float64", lambda: ops.maximum(t([1, 5], "int32"), t([2.5, 2.5], "float64")), np.array([2.5, 5], np.float64)),
    ("maximum/int32_int64", lambda: ops.maximum(t([1, 5], "int32"), t([2, 2], "int64")), np.array([2, 5], np.int64)),
    ("concat/int32_int64", lambda: ops.concat([t([1], "int32"), t([2], "int64")]), np.array([1, 2], np.int64)),
    ("concat/ints_and_float32", lambda: ops.concat([t([1], "int32"), t([2], "int64"), t([0.5])]), f32(1, 2, 0.5)),
    ("stack/float32_float64", lambda: ops.stack([t([1]), t([2], "float64")]), np.array([[1], [2]], np.float64)),
    ("stack/int64_float32", lambda: ops.stack([t([1], "int64"), t([0.5])]), np.array([[1], [0.5]], np.float32)),
    # A number as maximum's b is weak: it takes a's dtype, but a float with ints gives float32.
    ("maximum/int32_and_int", lambda: ops.maximum(t([1, 5], "int32"), 2), np.array([2, 5], np.int32)),
    ("maximum/int64_and_float", lambda: ops.maximum(t([1, 5], "int64"), 2.5), f32(2.5, 5)),
    ("maximum/float64_and_float", lambda: ops.maximum(t([1, 5], "float64"), 2.5), np.array([2.5, 5], np.float64)),
    ("maximum/float32_and_numpy_float", lambda: ops.maximum(t([1, 5]), np.float64(2.5)), f32(2.5, 5)),
    ("maximum/int64_and_large_int", lambda: ops.maximum(t([1], "int64"), 2**40), np.array([2**40], np.int64)),
    ("maximum/int32_and_too_large_int", lambda: ops.maximum(t([1], "int32"), 2**40), Raises("maximum: b = 1099511627776 does not fit a's dtype int32")),
    ("maximum/nan_wins", lambda: ops.maximum(t([nan, 1, 2]), t([0, nan, 1])), f32(nan, nan, 2)),
    ("maximum/nan_number_wins", lambda: ops.maximum(t([1, 2]), nan), f32(nan, nan)),
    # Float-only functions compute integers in float32; abs and relu keep the dtype; sum gives int64.
    ("sigmoid/int64", lambda: ops.sigmoid(t([1], "int64")), f32(1 / (1 + math.exp(-1)))),
    ("sigmoid/float64_stays", lambda: ops.sigmoid(t([1], "float64")), np.array([1 / (1 + math.exp(-1))], np.float64)),
    ("exp/int32", lambda: ops.exp(t([0, 1], "int32")), f32(1, math.e)),
    ("log/int64", lambda: ops.log(t([1, 0], "int64")), f32(0, -math.inf)),
    ("log/negative_is_nan", lambda: ops.log(t([-1.0])), f32(nan)),
    ("tanh/int32", lambda: ops.tanh(t([1], "int32")), f32(math.tanh(1))),
    ("leaky_relu/int64", lambda: ops.leaky_relu(t([-5, 2], "int64")), f32(-1, 2)),
    ("mean/int32", lambda: ops.mean(t([1, 2], "int32")), np.array(1.5, np.float32)),
    ("mean/float64_stays", lambda: ops.mean(t([1, 2], "float64")), np.array(1.5, np.float64)),
    ("relu/int32_stays", lambda: ops.relu(t([-1, 2], "int32")), np.array([0, 2], np.int32)),
    ("abs/int64_stays", lambda: ops.abs(t([-3, 2], "int64")), np.array([3, 2], np.int64)),
    ("sum/int32_to_int64", lambda: ops.sum(t([2**30, 2**30], "int32")), np.array(2**31, np.int64)),
    ("sum/int64", lambda: ops.sum(t([1, 2], "int64"), axis=0), np.array(3, np.int64)),
    ("sum/float64_stays", lambda: ops.sum(t([0.5, 2], "float64")), np.array(2.5, np.float64)),
    ("sum/no_axes_is_x", lambda: ops.sum(t([1, 2], "int32"), axis=()), np.array([1, 2], np.int64)),
    ("sum/keepdims_all_axes", lambda: ops.sum(ops.ones((2, 3)), keepdims=True), np.full((1, 1), 6, np.float32)),
    ("mean/negative_axes", lambda: ops.mean(t([[1, 2], [3, 5]]), axis=(-1,)), f32(1.5, 4)),
    # Empty tensors: sum 0, mean NaN, no warnings; other ops keep the empty shape.
    ("sum/empty", lambda: ops.sum(ops.zeros(0)), np.array(0, np.float32)),
    ("sum/empty_int32", lambda: ops.sum(ops.zeros(0, "int32")), np.array(0, np.int64)),
    ("sum/empty_rows", lambda: ops.sum(ops.zeros((0, 3)), axis=0), np.zeros(3, np.float32)),
    ("sum/empty_result", lambda: ops.sum(ops.zeros((0, 3)), axis=1), np.zeros(0, np.float32)),
    ("mean/empty", lambda: ops.mean(ops.zeros(0)), np.array(nan, np.float32)),
    ("mean/empty_int64", lambda: ops.mean(ops.zeros(0, "int64")), np.array(nan, np.float32)),
    ("mean/empty_rows", lambda: ops.mean(ops.zeros((0, 3)), axis=0), np.full(3, nan, np.float32)),
    ("mean/empty_rows_keepdims", lambda: ops.mean(ops.zeros((2, 0)), axis=1, keepdims=True), np.full((2, 1), nan, np.float32)),
    ("mean/empty_result", lambda: ops.mean(ops.zeros((0, 3)), axis=1), np.zeros(0, np.float32)),
    ("exp/empty", lambda: ops.exp(ops.zeros((0, 2))), np.zeros((0, 2), np.float32)),
    ("matmul/empty_inner_axis", lambda: ops.matmul(ops.ones((2, 0)), ops.ones((0, 3))), np.zeros((2, 3), np.float32)),
    ("matmul/empty_rows_int", lambda: ops.matmul(ops.ones((0, 2), "int64"), ops.ones((2, 3), "int64")), np.zeros((0, 3), np.int64)),
    ("concat/with_empty", lambda: ops.concat([ops.zeros(0), ops.ones(2)]), f32(1, 1)),
    ("stack/empties", lambda: ops.stack([ops.zeros(0), ops.zeros(0)]), np.zeros((2, 0), np.float32)),
    ("reshape/empty", lambda: ops.reshape(ops.zeros((0, 3)), (3, -1)), np.zeros((3, 0), np.float32)),
    ("reshape/empty_ambiguous", lambda: ops.reshape(ops.zeros((0, 3)), (0, -1)), Raises("reshape: cannot reshape shape (0, 3) (0 elements) to (0, -1)")),
    ("zeros/empty", lambda: ops.zeros((0, 2), "int32"), np.zeros((0, 2), np.int32)),
    # Shapes: checked in the facade, the same message everywhere.
    ("stack/shapes_differ", lambda: ops.stack([ops.ones(2), ops.ones(3)]), Raises("stack: every tensor must have the same shape; got (2,), (3,)")),
    ("stack/empty_list", lambda: ops.stack([]), Raises("stack: tensors must hold at least one tensor; got an empty sequence")),
    ("stack/a_tensor_not_a_list", lambda: ops.stack(ops.ones((2, 2))), Raises("stack: tensors must be a list or tuple of tensors; got {tensor_type}")),
    ("stack/axis_out_of_range", lambda: ops.stack([ops.ones(2), ops.ones(2)], axis=2), Raises("stack: axis 2 is out of range for stacking shape (2,); use -2 to 1")),
    ("stack/last_axis", lambda: ops.stack([t([1, 2]), t([3, 4])], axis=-1), f32([1, 3], [2, 4])),
    ("concat/ranks_differ", lambda: ops.concat([ops.ones((2, 3)), ops.ones(3)]), Raises("concat: every tensor must have the same rank; got (2, 3), (3,)")),
    ("concat/other_axes_differ", lambda: ops.concat([ops.ones((2, 3)), ops.ones((2, 4))]), Raises("concat: shapes must match except on axis 0; got (2, 3), (2, 4)")),
    ("concat/scalars", lambda: ops.concat([t(1.0), t(2.0)]), Raises("concat: tensors must have at least one axis; got shape ()")),
    ("concat/axis_out_of_range", lambda: ops.concat([ops.ones(2), ops.ones(2)], axis=1), Raises("concat: axis 1 is out of range for shape (2,); use -1 to 0")),
    ("concat/empty_tuple", lambda: ops.concat(()), Raises("concat: tensors must hold at least one tensor; got an empty sequence")),
    ("matmul/inner_axes_differ", lambda: ops.matmul(ops.ones((2, 3)), ops.ones((4, 2))), Raises("matmul: a's last axis must match b's rows; got shapes (2, 3) and (4, 2)")),
    ("matmul/vector_length_differs", lambda: ops.matmul(ops.ones((2, 3)), ops.ones(2)), Raises("matmul: a's last axis must match b's rows; got shapes (2, 3) and (2,)")),
    ("matmul/scalar", lambda: ops.matmul(t(2.0), ops.ones(2)), Raises("matmul: a and b need at least one axis each; got shapes () and (2,)")),
    ("matmul/batches_differ", lambda: ops.matmul(ops.ones((2, 2, 3)), ops.ones((4, 3, 2))), Raises("matmul: batch axes do not broadcast; got shapes (2, 2, 3) and (4, 3, 2)")),
    ("matmul/vectors", lambda: ops.matmul(t([1, 2]), t([3, 4])), np.array(11, np.float32)),
    ("matmul/vector_by_batch", lambda: ops.matmul(t([1, 2]), ops.ones((3, 2, 4))), np.full((3, 4), 3, np.float32)),
    ("matmul/batch_broadcasts", lambda: ops.matmul(ops.ones((2, 1, 1, 3)), ops.ones((5, 3, 2))), np.full((2, 5, 1, 2), 3, np.float32)),
    ("reshape/size_differs", lambda: ops.reshape(ops.ones((2, 3)), (4, 2)), Raises("reshape: cannot reshape shape (2, 3) (6 elements) to (4, 2)")),
    ("reshape/cannot_infer", lambda: ops.reshape(ops.ones((2, 3)), (4, -1)), Raises("reshape: cannot reshape shape (2, 3) (6 elements) to (4, -1)")),
    ("reshape/two_unknowns", lambda: ops.reshape(ops.ones((2, 3)), (-1, -1)), Raises("reshape: shape must be ints >= 0 with at most one -1; got (-1, -1)")),
    ("reshape/negative", lambda: ops.reshape(ops.ones((2, 3)), (-2, -3)), Raises("reshape: shape must be ints >= 0 with at most one -1; got (-2, -3)")),
    ("transpose/repeated_axis", lambda: ops.transpose(ops.ones((2, 3)), (0, 0)), Raises("transpose: axes must be a permutation of (0, 1) for shape (2, 3); got (0, 0)")),
    ("transpose/too_few_axes", lambda: ops.transpose(ops.ones((2, 3, 4)), (1, 0)), Raises("transpose: axes must be a permutation of (0, 1, 2) for shape (2, 3, 4); got (1, 0)")),
    ("transpose/negative_axes", lambda: ops.transpose(t([[1, 2, 3]]), (-1, 0)), f32([1], [2], [3])),
    ("transpose/scalar", lambda: ops.transpose(t(5.0)), np.array(5, np.float32)),
    ("maximum/shapes_do_not_broadcast", lambda: ops.maximum(ops.ones(2), ops.ones(3)), Raises("maximum: shapes (2,) and (3,) do not broadcast")),
    ("maximum/broadcasts", lambda: ops.maximum(t([[0], [3]]), t([1, 2])), f32([1, 2], [3, 3])),
    ("sum/axis_out_of_range", lambda: ops.sum(ops.ones((2, 3)), axis=2), Raises("sum: axis 2 is out of range for shape (2, 3); use -2 to 1")),
    ("mean/axis_out_of_range", lambda: ops.mean(ops.ones((2, 3)), axis=(0, -3)), Raises("mean: axis -3 is out of range for shape (2, 3); use -2 to 1")),
    ("sum/axis_twice", lambda: ops.sum(ops.ones((2, 3)), axis=(1, -1)), Raises("sum: axis (1, -1) names an axis twice for shape (2, 3)")),
    ("sum/axis_not_an_int", lambda: ops.sum(ops.ones(2), axis=0.5), Raises("sum: axis must be None, an int or a sequence of ints; got 0.5")),
    ("mean/axis_of_a_scalar", lambda: ops.mean(t(1.0), axis=0), Raises("mean: axis 0 is out of range for shape (), which has no axes")),
    ("zeros/negative_shape", lambda: ops.zeros((2, -1)), Raises("zeros: shape must be an int >= 0 or a sequence of them; got (2, -1)")),
    ("ones/float_shape", lambda: ops.ones(2.5), Raises("ones: shape must be an int >= 0 or a sequence of them; got 2.5")),
    ("normal/negative_shape", lambda: ops.normal(-1), Raises("normal: shape must be an int >= 0 or a sequence of them; got -1")),
    ("normal/negative_std", lambda: ops.normal(2, std=-1), Raises("normal: std must be >= 0; got -1.0")),
    ("arange/step_zero", lambda: ops.arange(0, 1, 0), Raises("arange: bounds must be finite and step not 0; got (0, 1, 0)")),
    ("arange/infinite", lambda: ops.arange(math.inf), Raises("arange: bounds must be finite and step not 0; got (0, inf, 1)")),
    ("manual_seed/float", lambda: ops.manual_seed(1.5), Raises("manual_seed: seed must be an int; got 1.5")),
    ("leaky_relu/alpha_a_tensor", lambda: ops.leaky_relu(ops.ones(1), alpha=[0.1]), Raises("leaky_relu: alpha must be a real number; got list")),
    # What a property-based search against NumPy found (issue 25), one case per finding.
    ("sum/inf_meets_finite", lambda: ops.sum(t([math.inf, 1], "float64")), np.array(math.inf)),
    ("sum/minus_inf_meets_finite", lambda: ops.sum(t([-math.inf, 1, 2])), np.array(-math.inf, np.float32)),
    ("sum/inf_meets_minus_inf", lambda: ops.sum(t([math.inf, -math.inf, 1])), np.array(nan, np.float32)),
    ("sum/inf_along_an_axis_keepdims", lambda: ops.sum(t([[math.inf, 1], [2, 3]]), axis=1, keepdims=True), f32([math.inf], [5])),
    ("mean/inf_meets_finite", lambda: ops.mean(t([math.inf, 1], "float64")), np.array(math.inf)),
    ("abs/largest_int64", lambda: ops.abs(t([2**63 - 1, -(2**63 - 1)], "int64")), np.array([2**63 - 1] * 2, np.int64)),
    ("leaky_relu/scalar", lambda: ops.leaky_relu(t(-2)), np.array(-0.4, np.float32)),
    ("leaky_relu/scalar_grad", lambda: ops.grad(ops.leaky_relu, t(-2)), np.array(0.2, np.float32)),
    ("leaky_relu/alpha_zero_at_nan_and_minus_inf", lambda: ops.leaky_relu(t([nan, -math.inf, -2]), alpha=0.0), f32(nan, nan, 0)),
    ("leaky_relu/float64_alpha_is_not_rounded", lambda: ops.leaky_relu(t([-1.2295, -1.7e308], "float64")), np.array([-1.2295 * 0.2, -1.7e308 * 0.2])),
    ("leaky_relu/negative_alpha_grad", lambda: ops.grad(lambda x: ops.leaky_relu(x, -0.5), t([-2, 3], "float64")), np.array([-0.5, 1])),
    ("leaky_relu/alpha_beyond_float32", lambda: ops.leaky_relu(t([1]), alpha=1e300), Raises("leaky_relu: alpha must be finite in x's dtype; got 1e+300")),
    ("leaky_relu/alpha_infinite", lambda: ops.leaky_relu(t([1], "float64"), alpha=math.inf), Raises("leaky_relu: alpha must be finite in x's dtype; got inf")),
    ("grad/none_through_an_int_cast", lambda: ops.grad(lambda x: ops.astype(ops.astype(x, "int32"), "float32"), t([1.5, 2])), f32(0, 0)),
    ("grad/abs_at_zeros", lambda: ops.grad(ops.abs, t([0.0, -0.0, 2, -2])), f32(0, 0, 1, -1)),
    ("grad/relu_at_zero", lambda: ops.grad(ops.relu, t([0.0, -0.0])), f32(0, 0)),
    ("normal/float64_has_float64_precision", lambda: bool((lambda s: (s.astype(np.float32) != s).all())(ops.numpy(ops.normal(64, dtype="float64")))), True),
    ("normal/nan_mean", lambda: ops.normal(2, mean=nan), f32(nan, nan)),
    ("normal/infinite_mean", lambda: ops.normal(2, mean=-math.inf, std=0.5), f32(-math.inf, -math.inf)),
    ("normal/infinite_std", lambda: bool(np.isinf(ops.numpy(ops.normal(4, std=math.inf))).all()), True),
    ("zeros/empty_with_an_axis_beyond_2**31", lambda: ops.zeros((2**40, 0)), Raises("zeros: shape (1099511627776, 0) is too large; a tensor has at most 2**31 - 1 elements and no longer axis")),
    ("zeros/empty_with_an_axis_of_2**32+1", lambda: ops.zeros((2**32 + 1, 0)), Raises("zeros: shape (4294967297, 0) is too large; a tensor has at most 2**31 - 1 elements and no longer axis")),
    ("zeros/2**40_elements", lambda: ops.zeros((2**40,)), Raises("zeros: shape (1099511627776,) is too large; a tensor has at most 2**31 - 1 elements and no longer axis")),
    ("reshape/beyond_2**31", lambda: ops.reshape(ops.zeros(0), (2**31, 0)), Raises("reshape: shape (2147483648, 0) is too large; a tensor has at most 2**31 - 1 elements and no longer axis")),
    ("tensor/int64_of_2**63", lambda: t(2**63, "int64"), Raises("tensor: data has values that int64 cannot hold (NaN, inf or too large)")),
    ("tensor/int64_of_float_2**63", lambda: t(2.0**63, "int64"), Raises("tensor: data has values that int64 cannot hold (NaN, inf or too large)")),
    ("tensor/int64_largest", lambda: t([2**63 - 1, -(2**63)], "int64"), np.array([2**63 - 1, -(2**63)], np.int64)),
    ("tensor/int32_truncation_that_fits", lambda: t(2147483647.5, "int32"), np.array(2147483647, np.int32)),
    ("tensor/int32_of_float32_rounded_beyond", lambda: t(np.float32(2147483647.5), "int32"), Raises("tensor: data has values that int32 cannot hold (NaN, inf or too large)")),
    ("tensor/list_of_scalar_tensors", lambda: t([t(1), t(2)]), Raises("tensor: data is a list holding tensors; join them with ops.stack(...)", eager=False)),
    ("maximum/int64_and_2**63", lambda: ops.maximum(t([1], "int64"), 2**63), Raises("maximum: b = 9223372036854775808 does not fit a's dtype int64")),
    ("maximum/int64_and_uint64_2**63", lambda: ops.maximum(t([1], "int64"), np.uint64(2**63)), Raises("maximum: b = 9223372036854775808 does not fit a's dtype int64")),
    ("manual_seed/largest", lambda: ops.manual_seed(2**63 - 1), None),
    ("manual_seed/2**63", lambda: ops.manual_seed(2**63), Raises("manual_seed: seed must be in [0, 2**63); got 9223372036854775808")),
    ("manual_seed/2**64", lambda: ops.manual_seed(2**64), Raises("manual_seed: seed must be in [0, 2**63); got 18446744073709551616")),
    ("manual_seed/2**70", lambda: ops.manual_seed(2**70), Raises("manual_seed: seed must be in [0, 2**63); got 1180591620717411303424")),
    ("manual_seed/negative", lambda: ops.manual_seed(-1), Raises("manual_seed: seed must be in [0, 2**63); got -1")),
    # The portable arithmetic: NumPy's promotion on every backend (native operators differ).
    ("add/int32_and_float32", lambda: ops.add(t([1], "int32"), t([0.5])), f32(1.5)),
    ("subtract/int32_and_int64", lambda: ops.subtract(t([1], "int32"), t([2**40], "int64")), np.array([1 - 2**40], np.int64)),
    ("multiply/int_wraps", lambda: ops.multiply(t([2**31 - 1], "int32"), 2), np.array([-2], np.int32)),
    ("divide/by_zero", lambda: ops.divide(t([1, -1, 0], "float64"), 0.0), np.array([math.inf, -math.inf, nan])),
    ("divide/int_by_int_scalar", lambda: ops.divide(t([3], "int64"), 2), f32(1.5)),
    ("add/b_too_large", lambda: ops.add(t([1], "int32"), 2**31), Raises("add: b = 2147483648 does not fit a's dtype int32")),
    ("divide/shapes_do_not_broadcast", lambda: ops.divide(ops.ones(2), ops.ones(3)), Raises("divide: shapes (2,) and (3,) do not broadcast")),
    # Gradients: float x only; f(x) a float tensor; zeros where f(x) does not depend on x.
    ("grad/constant_function", lambda: ops.grad(lambda x: ops.ones(3), t([1, 2])), f32(0, 0)),
    ("grad/constant_function_float64", lambda: ops.grad(lambda x: ops.ones(3), t([1, 2], "float64")), np.zeros(2, np.float64)),
    ("grad/partly_constant", lambda: ops.grad(lambda x: ops.concat([3 * x, ops.ones(1)]), t([1, 2])), f32(3, 3)),
    ("grad/float64", lambda: ops.grad(ops.exp, t([0, 1], "float64")), np.array([1, math.e], np.float64)),
    ("grad/keeps_x_dtype", lambda: ops.grad(lambda x: 2 * ops.astype(x, "float64"), t([1, 2])), f32(2, 2)),
    ("grad/empty_x", lambda: ops.grad(ops.exp, ops.zeros(0)), np.zeros(0, np.float32)),
    ("grad/sum_of_empty", lambda: ops.grad(ops.sum, ops.zeros((0, 2))), np.zeros((0, 2), np.float32)),
    ("grad/int_x", lambda: ops.grad(ops.exp, t([1, 2], "int32")), Raises('grad: x must be a float tensor (float32 or float64); got int32. Convert it with ops.astype(x, "float32")')),
    ("grad/f_not_callable", lambda: ops.grad([1.0], t([1, 2])), Raises("grad: f must be a function of x; got list")),
    ("grad/f_returns_int", lambda: ops.grad(lambda x: ops.astype(x, "int64"), t([1, 2])), Raises("grad: f(x) must be a float tensor (float32 or float64); got int64", eager=False)),
    ("grad/f_returns_number", lambda: ops.grad(lambda x: 1.0, t([1, 2])), Raises("grad: f(x) must be a tensor of the {backend} backend; got float", eager=False)),
    ("grad/f_returns_numpy", lambda: ops.grad(lambda x: np.ones(2, np.float32), t([1, 2])), Raises("grad: f(x) must be a tensor of the {backend} backend; got numpy.ndarray", eager=False)),
]  # fmt: skip

# Anything but a tensor of the selected backend, where a tensor is expected.
NOT_TENSORS = [
    ("list", [1.0, 2.0], "list"),
    ("numpy_array", np.ones(2, np.float32), "numpy.ndarray"),
    ("number", 2.0, "float"),
    ("None", None, "None"),
]
X_OPS = {
    "exp": ops.exp, "log": ops.log, "abs": ops.abs, "relu": ops.relu, "sigmoid": ops.sigmoid,
    "tanh": ops.tanh, "leaky_relu": ops.leaky_relu, "sum": ops.sum, "mean": ops.mean,
    "transpose": ops.transpose, "reshape": lambda x: ops.reshape(x, 2), "numpy": ops.numpy,
    "shape": ops.shape, "dtype": ops.dtype, "astype": lambda x: ops.astype(x, "float32"),
    "grad": lambda x: ops.grad(ops.exp, x),
}  # fmt: skip
BINARY_OPS = {"add": ops.add, "subtract": ops.subtract, "multiply": ops.multiply, "divide": ops.divide, "maximum": ops.maximum}  # fmt: skip
for kind, value, type_name in NOT_TENSORS:
    got = f"got {type_name}. {MAKE_ONE}"
    CASES += [
        *((f"{op}/x_{kind}", lambda f=f, v=value: f(v), Raises(f"{op}: x must be a tensor of the {{backend}} backend; {got}")) for op, f in X_OPS.items()),
        (f"matmul/a_{kind}", lambda v=value: ops.matmul(v, ops.ones((2, 2))), Raises(f"matmul: a must be a tensor of the {{backend}} backend; {got}")),
        (f"matmul/b_{kind}", lambda v=value: ops.matmul(ops.ones((2, 2)), v), Raises(f"matmul: b must be a tensor of the {{backend}} backend; {got}")),
        *((f"{op}/a_{kind}", lambda f=f, v=value: f(v, ops.ones(2)), Raises(f"{op}: a must be a tensor of the {{backend}} backend; {got}")) for op, f in BINARY_OPS.items()),
        (f"concat/element_{kind}", lambda v=value: ops.concat([ops.ones(2), v]), Raises(f"concat: tensors[1] must be a tensor of the {{backend}} backend; {got}")),
        (f"stack/element_{kind}", lambda v=value: ops.stack([v, ops.ones(2)]), Raises(f"stack: tensors[0] must be a tensor of the {{backend}} backend; {got}")),
    ]  # fmt: skip
    if kind != "number":  # a number is the binary ops' documented exception
        CASES += [(f"{op}/b_{kind}", lambda f=f, v=value: f(ops.ones(2), v), Raises(f"{op}: b must be a tensor of the {{backend}} backend or a real number; {got}")) for op, f in BINARY_OPS.items()]  # fmt: skip
CASES += [(f"{op}/b_bool", lambda f=f: f(ops.ones(2), True), Raises(f"{op}: b must be a tensor of the {{backend}} backend or a real number; got bool. {MAKE_ONE}")) for op, f in BINARY_OPS.items()]  # fmt: skip

TENSOR_TYPES = {"torch": "torch.Tensor", "tensorflow": "tensorflow.EagerTensor", "mxnet": "mxnet.ndarray", "jax": "jaxlib.ArrayImpl"}  # fmt: skip


def outcome(call):
    """What ``call()`` gives: a NumPy array for a tensor, the value or the exception otherwise.

    Python warnings fail the case; MXNet, which computes asynchronously, is waited for, so a
    failure inside the framework shows in the case that caused it.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result = call()
            value = ops.numpy(result) if ops.is_tensor(result) else result
            if selection.current_name() == "mxnet":
                import mxnet

                mxnet.nd.waitall()
    except Exception as error:
        return error
    return value


def check(result, expected, backend):
    if isinstance(expected, Raises):
        assert isinstance(result, expected.type), (
            f"expected {expected.type.__name__}, got {result!r}"
        )
        message = expected.message.format(backend=backend, tensor_type=TENSOR_TYPES[backend])
        assert str(result) == message
    elif isinstance(result, Exception):
        raise AssertionError(f"expected {expected!r}, got {result!r}") from result
    elif isinstance(expected, np.ndarray):
        assert isinstance(result, np.ndarray) and result.dtype == expected.dtype, result
        assert result.shape == expected.shape
        np.testing.assert_allclose(result, expected, rtol=1e-6, atol=0, equal_nan=True)
    else:
        assert type(result) is type(expected) and result == expected


@pytest.fixture
def selected(backend):
    selection.current()  # the framework's import, and its warnings, happen outside the cases
    return backend


@pytest.mark.parametrize(("case", "call", "expected"), CASES, ids=[c[0] for c in CASES])
def test_contract_case(selected, capfd, case, call, expected):
    capfd.readouterr()
    check(outcome(call), expected, selected)
    assert capfd.readouterr().err == "", "the call printed to stderr"


ERRORS = [(case, call, expected) for case, call, expected in CASES if isinstance(expected, Raises)]
FRAMEWORK_OPS = sorted(set(OPS) - {"is_tensor", "dtype", "shape"})


@pytest.mark.parametrize(
    ("case", "call", "expected"),
    [e for e in ERRORS if e[2].eager],
    ids=[e[0] for e in ERRORS if e[2].eager],
)
def test_errors_are_raised_before_the_framework_computes(
    selected, monkeypatch, case, call, expected
):
    """The op under test (and any dtype conversion) may not reach the backend: OpError comes
    from the facade's own checks."""
    op = case.split("/")[0]

    def framework_reached(*args, **kwargs):
        raise AssertionError(f"{case}: the {selected} framework was called")

    for name in {op, "astype"} & set(FRAMEWORK_OPS):
        monkeypatch.setattr(selection.current().ops, name, framework_reached)
    check(outcome(call), expected, selected)


def test_every_backend_gives_identical_results_for_the_whole_table(all_backends):
    def normalized(name, result):
        if isinstance(result, Exception):
            message = str(result).replace(f"the {name} backend", "the {backend} backend")
            return type(result).__name__, message.replace(TENSOR_TYPES[name], "{tensor_type}")
        return result

    results = {}
    for name in all_backends:
        gb.set_backend(name)
        selection.current()
        results[name] = [normalized(name, outcome(call)) for _, call, _ in CASES]
    first, *others = all_backends
    differences = []
    for name in others:
        for (case, _, _), mine, theirs in zip(CASES, results[first], results[name], strict=True):
            if isinstance(mine, np.ndarray) and isinstance(theirs, np.ndarray):
                same = (
                    mine.dtype == theirs.dtype
                    and mine.shape == theirs.shape
                    and np.allclose(mine, theirs, rtol=1e-6, atol=0, equal_nan=True)
                )
            else:
                same = type(mine) is type(theirs) and mine == theirs
            if not same:
                differences.append(f"{case}: {first} {mine!r} but {name} {theirs!r}")
    assert not differences, "\n".join(differences)


def test_a_tensor_of_another_framework_is_refused_with_its_type(all_backends):
    made = {}
    for name in all_backends:
        gb.set_backend(name)
        made[name] = ops.ones(2)
    for name in all_backends:
        gb.set_backend(name)
        for other in set(all_backends) - {name}:
            with pytest.raises(OpError) as error:
                ops.exp(made[other])
            assert (
                str(error.value)
                == f"exp: x must be a tensor of the {name} backend; got {TENSOR_TYPES[other]}. {MAKE_ONE}"
            )


FRAMEWORK_DTYPES = {
    "torch": ("torch", "float32", "torch.dtype"),
    "tensorflow": ("tensorflow", "float32", "tensorflow.DType"),
    "jax": ("jax.numpy", "float32", "jax._ScalarMeta"),
}


def test_the_backends_own_dtype_object_is_refused(backend):
    """MXNet's ``mxnet.np.float32`` is NumPy's own type, so it is a NumPy dtype like any other."""
    if backend not in FRAMEWORK_DTYPES:
        pytest.skip(f"{backend}'s dtype objects are NumPy's")
    module, name, shown = FRAMEWORK_DTYPES[backend]
    framework_dtype = getattr(importlib.import_module(module), name)
    with pytest.raises(OpError) as error:
        ops.zeros(1, framework_dtype)
    assert str(error.value) == f"zeros: dtype must be one of {DTYPES}; got {shown}"


def test_op_error_is_a_value_error_and_a_type_error_exported_from_the_package():
    assert gb.OpError is OpError
    assert issubclass(OpError, ValueError) and issubclass(OpError, TypeError)


def test_grad_leaves_x_untouched_also_for_a_constant_function(backend):
    x = t([1.0, 2.0])
    ops.grad(lambda x: ops.ones(1), x)
    np.testing.assert_array_equal(ops.numpy(x), f32(1, 2))
    assert ops.dtype(x) == "float32"


def test_tensor_copies_its_numpy_data(backend):
    data = np.ones(2, np.float32)
    x = ops.tensor(data)
    data[0] = 5.0
    np.testing.assert_array_equal(ops.numpy(x), f32(1, 1))
