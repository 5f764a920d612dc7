"""Numerics: stable at the extremes, float32 kept float32, numpy semantics kept."""

import warnings

import numpy as np
import pytest

from edugrad import Tensor, no_grad, ops
from edugrad.checking import weighted_sum
from opspecs import SPEC_PARAMS


EXTREME = np.array([[1e4, -1e4, 0.0, 3.0], [-1e4, 1e4, -2.0, 1e4]])

STABLE = {
    "sigmoid": lambda x: ops.reduce_sum(ops.sigmoid(x)),
    "tanh": lambda x: ops.reduce_sum(ops.tanh(x)),
    "softmax": lambda x: weighted_sum(ops.softmax(x), np.arange(8.0).reshape(2, 4)),
    "log_softmax": lambda x: ops.reduce_sum(ops.log_softmax(x)),
    "log_softmax axis 0": lambda x: ops.reduce_sum(ops.log_softmax(x, axis=0)),
    "cross_entropy": lambda x: ops.cross_entropy(x, np.array([1, 0])),
    "cross_entropy soft": lambda x: ops.cross_entropy(x, np.full((2, 4), 0.25)),
    "binary_cross_entropy_with_logits": lambda x: ops.binary_cross_entropy_with_logits(x, np.ones((2, 4)) * 0.3),
}


STABLE_MARKS = {"sigmoid": pytest.mark.ex_sigmoid, "softmax": pytest.mark.ex_softmax_backward}


@pytest.mark.parametrize("name", [pytest.param(n, marks=STABLE_MARKS[n]) if n in STABLE_MARKS else n for n in STABLE])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_stable_ops_are_finite_at_plus_minus_1e4(name, dtype):
    x = Tensor(EXTREME.astype(dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings either
        loss = STABLE[name](x)
        loss.backward()
    assert np.isfinite(loss.value) and np.all(np.isfinite(x.grad))
    assert x.grad.dtype == dtype


@pytest.mark.ex_sigmoid
def test_sigmoid_at_the_extremes_is_exactly_0_and_1():
    assert np.array_equal(ops.sigmoid(Tensor(np.array([-1e4, 1e4]))).value, [0.0, 1.0])


def test_extreme_values_are_right_not_just_finite():
    probabilities = ops.softmax(Tensor(np.array([[1e4, 0.0, -1e4]]))).value
    assert np.array_equal(probabilities, [[1.0, 0.0, 0.0]])
    # A confident wrong answer costs its margin: -log softmax = 2e4.
    assert ops.cross_entropy(Tensor(np.array([[1e4, -1e4]])), np.array([1])).value == pytest.approx(2e4)
    assert ops.binary_cross_entropy_with_logits(Tensor(np.array([-1e4])), np.array([1.0])).value == pytest.approx(1e4)


@pytest.mark.ex_log
def test_log_of_zero_is_minus_infinity_with_numpys_warning_not_a_crash():
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        value = ops.log(Tensor(np.array([0.0, 1.0]))).value
    assert value[0] == -np.inf and value[1] == 0


@pytest.mark.parametrize("spec", SPEC_PARAMS)
def test_float32_in_float32_out(spec):
    from hypothesis import given, settings, strategies as st

    @settings(max_examples=5)
    @given(data=st.data())
    def check(data):
        arrays, options = spec.draw(data)
        tensors = [Tensor(a.astype(np.float32) if a.dtype.kind == "f" else a) for a in arrays]
        output = spec.ours(*tensors, **options)
        assert output.value.dtype == np.float32
        ops.reduce_sum(output).backward()
        for tensor in tensors:
            if tensor.value.dtype.kind == "f":
                assert tensor.grad.dtype == np.float32

    check()


def test_float64_stays_float64():
    x = Tensor(np.ones((2, 3)))
    out = ops.cross_entropy(ops.tanh(x) @ np.ones((3, 4)), np.array([0, 1]))
    out.backward()
    assert out.value.dtype == x.grad.dtype == np.float64


def test_whole_tensor_reductions_keep_the_original_api():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    assert ops.reduce_sum(x).value == 15 and ops.reduce_sum(x).shape == ()
    assert ops.reduce_mean(x).value == 2.5
    assert ops.reduce_max(x).value == 5


def test_reduce_max_splits_the_gradient_between_ties_like_torch_amax(torch):
    values = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    x = Tensor(values)
    ops.reduce_sum(ops.reduce_max(x, axis=1)).backward()
    reference = torch.tensor(values, requires_grad=True)
    torch.amax(reference, dim=1).sum().backward()
    assert np.array_equal(x.grad, reference.grad.numpy())
    assert np.array_equal(x.grad, [[0, 0.5, 0.5], [0.5, 0.5, 0]])


@pytest.mark.ex_scatter_add
def test_lookup_rows_scatter_adds_repeated_indices_and_skips_the_padding_row():
    table = Tensor(np.zeros((4, 2)))
    ops.reduce_sum(ops.lookup_rows(table, np.array([[1, 1, 3], [1, 0, 0]]), padding_idx=0)).backward()
    assert np.array_equal(table.grad[:, 0], [0, 3, 0, 1])


@pytest.mark.ex_multiply
def test_tensor_methods_and_operators():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    assert np.array_equal(x.T.value, x.value.T)
    assert x.reshape(3, 2).shape == (3, 2) == x.reshape((3, 2)).shape
    assert x.sum(axis=1).shape == (2,) and x.mean(axis=0, keepdims=True).shape == (1, 3)
    assert x.max().value == 5
    assert np.array_equal((x @ np.ones(3)).value, [3, 12]) and np.array_equal((np.ones(2) @ x).value, [3, 5, 7])
    for expression, expected in [
        (x * 2, x.value * 2), (2 * x, 2 * x.value), (x / 2, x.value / 2), (1 / (x + 1), 1 / (x.value + 1)),
        (-x, -x.value), (2.0**x, 2.0**x.value), (np.ones(3) * x, x.value), (x - np.ones(3), x.value - 1),
    ]:
        assert isinstance(expression, Tensor)
        assert np.allclose(expression.value, expected)


def test_reflected_power_gradient():  # rpower: no exercise's operation involved
    x = Tensor(np.array([0.5, 2.0]))
    ops.reduce_sum(3.0**x).backward()
    assert np.allclose(x.grad, 3.0**x.value * np.log(3.0))


@pytest.mark.ex_scatter_add
def test_requires_grad_false_inputs_get_no_gradient_work():
    indices = Tensor(np.array([0, 1]))  # requires_grad defaults to True, but indices get None back
    table = Tensor(np.ones((3, 2)))
    ops.reduce_sum(ops.lookup_rows(table, indices)).backward()
    assert np.array_equal(indices.grad, np.zeros(2))
    frozen = Tensor(np.ones((3, 2)), requires_grad=False)
    out = ops.add(frozen, table)
    ops.reduce_sum(out).backward()
    assert frozen._grad is None


def test_no_grad_records_nothing_for_every_op():
    x = Tensor(np.ones((2, 3)))
    with no_grad():
        outputs = [ops.softmax(x), ops.tanh(x), ops.concat(x, x), ops.matmul(x, x.T), x.T, x.sum()]
    assert all(out.parents == () and not out.requires_grad for out in outputs)


def test_getitem_adds_the_gradients_of_repeated_indices_and_leaves_unpicked_entries_at_zero():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    ops.reduce_sum(x[:, [0, 0, 2]]).backward()
    assert np.array_equal(x.grad, [[2, 0, 1], [2, 0, 1]])
    y = Tensor(np.arange(4.0))
    ops.reduce_sum(y[1:3]).backward()
    assert np.array_equal(y.grad, [0, 1, 1, 0])


def test_a_tensor_iterates_over_its_first_axis_like_an_array():
    x = Tensor(np.arange(6.0).reshape(3, 2))
    rows = list(x)
    assert len(rows) == 3 and all(isinstance(row, Tensor) and row.shape == (2,) for row in rows)
    weighted_sum(ops.stack(*rows), np.arange(6.0).reshape(3, 2)).backward()
    assert np.array_equal(x.grad, np.arange(6.0).reshape(3, 2))
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        list(Tensor(1.0))


@pytest.mark.ex_softmax_backward  # the masked scores go through softmax
def test_where_keeps_float32_and_a_masked_fill_with_minus_infinity_passes_no_gradient():
    scores = Tensor(np.ones((2, 3), dtype=np.float32))
    mask = np.array([[False, False, True], [False, True, True]])
    out = ops.softmax(scores.masked_fill(mask, -np.inf), axis=1)
    assert out.value.dtype == np.float32 and np.all(out.value[mask] == 0)
    weighted_sum(out, np.arange(6.0, dtype=np.float32).reshape(2, 3)).backward()
    assert scores.grad.dtype == np.float32 and np.all(scores.grad[mask] == 0)
