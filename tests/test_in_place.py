"""A value changed in place after an operation saved it must not give a silently wrong gradient
(book/graph.md, graph-in-place)."""

import numpy as np
import pytest

from edugrad import nn, ops, optim
from edugrad.tensor import Tensor, increment_version

IN_PLACE = "modified by an inplace operation"


def test_in_place_multiply_before_backward_is_refused_naming_tensor_and_operation():
    x = Tensor(np.array([1.0, 2.0, 3.0]), name="x")
    loss = ops.reduce_sum(ops.matmul(x, x))
    x.value *= 10
    with pytest.raises(RuntimeError, match=IN_PLACE) as error:
        loss.backward()
    assert "matmul" in str(error.value) and "'x'" in str(error.value)
    assert "changed after matmul used it" in str(error.value)


@pytest.mark.parametrize("change", ["imul", "isub", "assign", "increment"])
def test_every_counted_change_is_refused(change):
    w = Tensor(np.ones((2, 2)), name="w")
    loss = ops.reduce_sum(ops.matmul(w, w))
    if change == "imul":
        w.value *= 2
    elif change == "isub":
        w.value -= 1
    elif change == "assign":
        w.value = np.zeros((2, 2))
    else:
        w.value[0, 0] = 5
        increment_version(w)
    with pytest.raises(RuntimeError, match=IN_PLACE):
        loss.backward()


def test_change_to_a_constant_input_is_refused():
    x = Tensor(np.array([1.0, 2.0]), name="x")
    c = Tensor(np.array([3.0, 4.0]), name="c", requires_grad=False)
    loss = ops.matmul(x, c)
    c.value *= 2  # x's gradient is c: it would silently double
    with pytest.raises(RuntimeError, match="input 2 of matmul"):
        loss.backward()


def test_change_to_a_computed_output_is_refused():
    x = Tensor(np.array(0.5), name="x")
    y = ops.exp(x)  # exp's backward reads its output
    y.value *= 3
    with pytest.raises(RuntimeError, match="output of exp"):
        y.backward()
    loss = ops.reduce_sum(ops.exp(x))
    loss.parents[0].value *= 3
    with pytest.raises(RuntimeError, match="input 1 of reduce_sum"):
        loss.backward()


def test_change_through_detach_is_seen():
    x = Tensor(np.array([1.0, 2.0]), name="x")
    loss = ops.reduce_sum(ops.matmul(x, x))
    d = x.detach()
    d.value *= 2
    with pytest.raises(RuntimeError, match=IN_PLACE):
        loss.backward()


def test_unchanged_graph_gives_right_gradient_and_can_be_differentiated_twice():
    x = Tensor(np.array([1.0, 2.0]), name="x")
    loss = ops.reduce_sum(ops.matmul(x, x))
    loss.backward()
    loss.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])


@pytest.mark.parametrize("make", [
    lambda p: optim.SGD(p, lr=0.1), lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
    lambda p: optim.Adagrad(p), lambda p: optim.RMSprop(p),
    pytest.param(lambda p: optim.Adam(p), marks=pytest.mark.ex_adam)])
def test_optimizers_step_after_backward_and_second_backward_is_refused(make):
    np.random.seed(0)
    layer = nn.Linear(3, 2)
    optimizer = make(layer.parameters())
    x = np.random.standard_normal((4, 3))
    for _ in range(3):  # the normal loop keeps working
        optimizer.zero_grad()
        loss = ops.mse_loss(layer(x), np.zeros((4, 2)))
        loss.backward()
        optimizer.step()
    with pytest.raises(RuntimeError, match=IN_PLACE):
        loss.backward()  # this graph was computed before the last step


@pytest.mark.ex_scatter_add  # the sparse rows are added with scatter_add
@pytest.mark.parametrize("make", [lambda p: optim.SGD(p, lr=0.1), lambda p: optim.Adagrad(p)])
def test_sparse_row_updates_count_a_new_version(make):
    embedding = nn.Embedding(5, 3, sparse=True)
    optimizer = make(embedding.parameters())
    loss = ops.reduce_sum(embedding(np.array([[1, 2]])))
    loss.backward()
    before = embedding.weight._version[0]
    optimizer.step()
    assert embedding.weight._version[0] > before
    with pytest.raises(RuntimeError, match=IN_PLACE):
        loss.backward()


def test_load_state_dict_counts_a_new_version():
    layer = nn.Linear(2, 2)
    state = layer.state_dict()
    loss = ops.reduce_sum(layer(np.ones((1, 2))))
    layer.load_state_dict(state)
    with pytest.raises(RuntimeError, match=IN_PLACE):
        loss.backward()


def test_gradcheck_leaves_versions_and_earlier_graphs_alone():
    from edugrad.checking import gradcheck
    x = Tensor(np.array([0.3, 0.7]), name="x")
    loss = ops.reduce_sum(ops.matmul(x, x))
    version = x._version[0]
    assert gradcheck(lambda t: ops.matmul(t, t), x).passed
    assert x._version[0] == version
    loss.backward()
    np.testing.assert_allclose(x.grad, [0.6, 1.4])
