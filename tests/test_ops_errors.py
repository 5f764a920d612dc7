"""Bad input gets a clear error naming the op, the shapes or values, and what was expected."""

import numpy as np
import pytest

from edugrad import Tensor, ops


def test_linear_names_the_shapes_that_do_not_fit():
    x, weight = Tensor(np.ones((4, 3))), Tensor(np.ones((2, 5)))
    with pytest.raises(ValueError, match=r"linear: inputs of shape \(4, 3\) do not fit a weight of shape \(2, 5\) \(the last axis of the inputs must have 2 entries\)"):
        ops.linear(x, weight)
    with pytest.raises(ValueError, match=r"linear: the bias must have shape \(5,\), got \(4,\)"):
        ops.linear(Tensor(np.ones((4, 2))), weight, Tensor(np.ones(4)))
    with pytest.raises(ValueError, match=r"linear: inputs of shape \(\) do not fit"):
        ops.linear(Tensor(1.0), weight)


def test_matmul_shape_mismatch():
    with pytest.raises(ValueError, match=r"matmul: cannot multiply shapes \(3, 4\) and \(3, 4\): the last axis of the first \(4\) must match the first axis of the second \(3\)"):
        ops.matmul(Tensor(np.ones((3, 4))), Tensor(np.ones((3, 4))))
    with pytest.raises(ValueError, match=r"matmul: the batch axes \(2,\) and \(3,\) of shapes \(2, 3, 4\) and \(3, 4, 2\) do not broadcast"):
        Tensor(np.ones((2, 3, 4))) @ np.ones((3, 4, 2))
    with pytest.raises(ValueError, match=r"matmul: cannot multiply shapes \(2, 3, 4\) and \(5, 3, 2\): the last axis of the first \(4\) must match the second-to-last axis of the second \(3\)"):
        Tensor(np.ones((2, 3, 4))) @ np.ones((5, 3, 2))
    with pytest.raises(ValueError, match=r"matmul: operands need at least one axis, got shapes \(\) and \(3,\)"):
        ops.matmul(Tensor(2.0), np.ones(3))


@pytest.mark.parametrize("op", [ops.add, pytest.param(ops.multiply, marks=pytest.mark.ex_multiply), ops.divide, ops.minus], ids=lambda op: op.__name__)
def test_add_and_multiply_shape_mismatch(op):
    with pytest.raises(ValueError, match=rf"{op.__name__}: .*\(input shapes: \(3, 4\), \(5,\)\)"):
        op(Tensor(np.ones((3, 4))), Tensor(np.ones(5)))


def test_embedding_bag_names_its_mode_shapes_and_indices():
    table = Tensor(np.ones((5, 2)))
    with pytest.raises(ValueError, match=r"embedding_bag: mode must be 'sum' or 'mean', got 'max'"):
        ops.embedding_bag(table, np.array([[1, 2]]), mode="max")
    with pytest.raises(ValueError, match=r"embedding_bag: needs a matrix \[rows, dimension\] and indices \[bags, length\], got shapes \(5, 2\) and \(3,\)"):
        ops.embedding_bag(table, np.array([1, 2, 3]))
    with pytest.raises(IndexError, match=r"embedding_bag: index 7 at position \(0, 1\) is out of range for a matrix with 5 rows"):
        ops.embedding_bag(table, np.array([[1, 7]]))


def test_lookup_rows_refuses_float_and_out_of_range_indices():
    table = Tensor(np.ones((5, 2)))
    with pytest.raises(TypeError, match=r"lookup_rows: indices must be integers, got float64"):
        ops.lookup_rows(table, np.array([1.0, 2.0]))
    with pytest.raises(IndexError, match=r"lookup_rows: index 5 at position \(1, 0\) is out of range for a matrix with 5 rows"):
        ops.lookup_rows(table, np.array([[0, 1], [5, 2]]))
    with pytest.raises(IndexError, match=r"lookup_rows: index -1 at position \(0,\) is out of range"):
        ops.lookup_rows(table, np.array([-1]))
    with pytest.raises(TypeError, match="lookup_rows: indices must be integers, got bool"):
        ops.lookup_rows(table, np.array([True, False]))


def test_cross_entropy_refuses_an_unknown_reduction_and_ignore_index_with_probabilities():
    logits = Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="cross_entropy: reduction must be one of mean, sum, none, got 'average'"):
        ops.cross_entropy(logits, np.array([0, 1]), reduction="average")
    with pytest.raises(ValueError, match="cross_entropy: ignore_index applies to class-index targets"):
        ops.cross_entropy(logits, np.full((2, 3), 1 / 3), ignore_index=0)
    with pytest.raises(IndexError, match=r"target -1 at position 1 is not a class in \[0, 3\), nor ignore_index=-100"):
        ops.cross_entropy(logits, np.array([0, -1]))


def test_cross_entropy_with_every_row_ignored_is_nan_with_a_zero_gradient_as_in_pytorch(torch):
    logits = Tensor(np.random.default_rng(0).standard_normal((3, 4)))
    loss = ops.cross_entropy(logits, np.full(3, -100))
    loss.backward()
    theirs = torch.tensor(logits.value, requires_grad=True)
    their_loss = torch.nn.functional.cross_entropy(theirs, torch.full((3,), -100))
    their_loss.backward()
    assert np.isnan(loss.value) and bool(torch.isnan(their_loss))
    np.testing.assert_array_equal(logits.grad, theirs.grad.numpy())


def test_cross_entropy_refuses_bad_targets():
    logits = Tensor(np.zeros((4, 3)))
    with pytest.raises(IndexError, match=r"cross_entropy: target 3 at position 2 is not a class in \[0, 3\)"):
        ops.cross_entropy(logits, np.array([0, 1, 3, 2]))
    with pytest.raises(IndexError, match=r"cross_entropy: target -1 at position 0"):
        ops.cross_entropy(logits, np.array([-1, 1, 1, 2]))
    with pytest.raises(ValueError, match=r"class-index targets must have shape \(4,\) for logits \(4, 3\), got \(3,\)"):
        ops.cross_entropy(logits, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"targets of type float64 are read as probabilities and must have the logits' shape \(4, 3\), got \(4,\)"):
        ops.cross_entropy(logits, np.array([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match=r"cross_entropy: logits must have shape \[batch, classes\], got \(3,\)"):
        ops.cross_entropy(Tensor(np.zeros(3)), np.array([1]))


def test_binary_cross_entropy_and_mse_refuse_mismatched_shapes():
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: logits have shape \(4, 1\) but targets \(4,\)"):
        ops.binary_cross_entropy_with_logits(Tensor(np.zeros((4, 1))), np.zeros(4))
    with pytest.raises(ValueError, match=r"mse_loss: predictions have shape \(4, 1\) but targets \(4,\)"):
        ops.mse_loss(Tensor(np.zeros((4, 1))), np.zeros(4))


def test_reshape_to_an_incompatible_size():
    with pytest.raises(ValueError, match=r"reshape: cannot reshape shape \(3, 4\) \(12 entries\) into \(5, 2\)"):
        ops.reshape(Tensor(np.ones((3, 4))), (5, 2))
    with pytest.raises(ValueError, match=r"reshape: cannot reshape shape \(3, 4\) \(12 entries\) into \(5, 2\)"):
        Tensor(np.ones((3, 4))).reshape(5, 2)


def test_concat_mismatch_and_reduction_axis_out_of_range_name_the_op():
    with pytest.raises(ValueError, match=r"concat: .*\(input shapes: \(3, 4\), \(3, 2\)\)"):
        ops.concat(Tensor(np.ones((3, 4))), Tensor(np.ones((3, 2))))
    with pytest.raises(IndexError, match=r"reduce_sum: .*axis 2 is out of bounds.*\(input shapes: \(3, 4\)\)"):
        ops.reduce_sum(Tensor(np.ones((3, 4))), axis=2)


def test_backward_on_more_than_one_element():
    with pytest.raises(ValueError, match=r"backward\(\) needs a tensor with one element, such as a loss; softmax has shape \(2, 3\)"):
        ops.softmax(Tensor(np.ones((2, 3)))).backward()


@pytest.mark.parametrize("bad", [[1, 2], "x", None, object()])
def test_an_op_given_something_that_is_not_a_tensor_number_or_array(bad):
    with pytest.raises(TypeError, match=rf"tanh: input 1 is a {type(bad).__name__}; expected a Tensor, a numpy array or a number"):
        ops.tanh(bad)


def test_power_needs_a_number_exponent():
    with pytest.raises(TypeError, match="power: the exponent must be a number, not a Tensor"):
        Tensor(np.ones(2)) ** Tensor(np.ones(2))


def test_sequence_ops_name_the_op_and_the_shapes():
    batch = Tensor(np.ones((2, 5, 3)))
    with pytest.raises(IndexError, match=r"getitem: index 5 is out of bounds for axis 1 with size 5 \(input shapes: \(2, 5, 3\)\)"):
        batch[:, 5]
    with pytest.raises(ValueError, match=r"stack: all input arrays must have the same shape \(input shapes: \(2, 3\), \(2, 5, 3\)\)"):
        ops.stack(Tensor(np.ones((2, 3))), batch)
    with pytest.raises(IndexError, match=r"unbind: axis 3 is out of range for an array with 3 axes"):
        ops.unbind(batch, 3)
    with pytest.raises(ValueError, match=r"split: lengths \[2, 2\] add up to 4, but axis 1 of shape \(2, 5, 3\) has length 5"):
        ops.split(batch, [2, 2], axis=1)
    with pytest.raises(ValueError, match=r"split: the length of the pieces must be positive, got 0"):
        batch.split(0)
    with pytest.raises(TypeError, match=r"where: the condition must be an array of booleans, got int64"):
        ops.where(np.array([1, 0]), np.ones(2), np.zeros(2))
    with pytest.raises(ValueError, match=r"masked_fill: a mask of shape \(5, 1\) does not broadcast to the input's shape \(2, 5\)"):
        ops.masked_fill(Tensor(np.ones((2, 5))), np.ones((5, 1), dtype=bool), 0.0)
    with pytest.raises(ValueError, match=r"masked_fill: a mask of shape \(2, 1\) does not broadcast to the input's shape \(2,\)"):
        Tensor(np.ones(2)).masked_fill(np.ones((2, 1), dtype=bool), 0.0)
