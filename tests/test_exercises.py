"""The exercises whose functions the engine does not call: their answers are
checked against the engine's own versions (chapter Operations and the computation graph)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edugrad import ops
from edugrad.tensor import Tensor, fit_gradient, kahn_order, sum_to_shape

UNARY = [ops.exp, ops.tanh, ops.negative]
BINARY = [ops.add, ops.minus, ops.divide]


def random_graph(seed):
    """A loss computed from a random web of operations, some inputs constant."""
    rng = np.random.default_rng(seed)
    tensors = [Tensor(rng.standard_normal(3) * 0.1, name=f"x{i}", requires_grad=bool(i % 3)) for i in range(4)]
    for _ in range(int(rng.integers(1, 12))):
        if rng.random() < 0.4:
            tensors.append(UNARY[rng.integers(len(UNARY))](tensors[rng.integers(len(tensors))]))
        else:
            first, second = rng.integers(len(tensors), size=2)  # first == second is allowed: a tensor used twice
            tensors.append(BINARY[rng.integers(len(BINARY))](tensors[first], ops.exp(tensors[second])))
    return ops.reduce_sum(ops.add(tensors[-1], tensors[-2]))


def check_parents_first(order, output):
    position = {tensor: index for index, tensor in enumerate(order)}
    assert len(position) == len(order), "a tensor appears twice"
    assert order[-1] is output
    for tensor in order:
        for parent in tensor.parents:
            if parent.requires_grad:
                assert position[parent] < position[tensor], "a tensor comes before one of its parents"


@pytest.mark.ex_topological_order
@pytest.mark.parametrize("seed", range(30))
def test_kahn_order_is_a_topological_order_of_the_engines_tensors(seed):
    loss = random_graph(seed)
    order = kahn_order(loss)
    check_parents_first(order, loss)
    assert set(order) == set(loss._topological_order())


@pytest.mark.ex_topological_order
def test_kahn_order_on_a_deep_chain_and_a_tensor_used_twice():
    x = Tensor(np.ones(2), name="x")
    chain = x
    for _ in range(10_000):
        chain = ops.negative(chain)
    order = kahn_order(chain)
    assert len(order) == 10_001 and order[0] is x and order[-1] is chain
    twice = ops.add(x, x)
    assert kahn_order(twice) == [x, twice]
    constant = Tensor(np.ones(2), requires_grad=False)
    assert kahn_order(ops.add(x, constant))[0] is x and len(kahn_order(ops.add(x, constant))) == 2


@st.composite
def broadcast_pairs(draw):
    """(shape of an input, shape it is broadcast to)."""
    big = draw(hnp.array_shapes(min_dims=0, max_dims=4, max_side=4))
    dims = draw(st.integers(0, len(big)))
    small = tuple(draw(st.sampled_from([1, size])) for size in big[len(big) - dims:])
    return small, big


@pytest.mark.ex_sum_to_shape
@given(broadcast_pairs(), st.integers(0, 2**32 - 1))
def test_sum_to_shape_is_the_adjoint_of_broadcasting_and_agrees_with_fit_gradient(pair, seed):
    small, big = pair
    rng = np.random.default_rng(seed)
    x, grad = rng.standard_normal(small), rng.standard_normal(big)
    summed = sum_to_shape(grad, small)
    assert np.shape(summed) == small
    assert np.isclose(np.sum(np.broadcast_to(x, big) * grad), np.sum(x * summed))
    np.testing.assert_allclose(summed, fit_gradient(grad, Tensor(x), output=None), rtol=1e-12, atol=1e-12)


@pytest.mark.ex_sum_to_shape
def test_sum_to_shape_on_the_exercises_example():
    grad = np.arange(24.0).reshape(4, 2, 3)
    np.testing.assert_array_equal(sum_to_shape(grad, (2, 1)), grad.sum(axis=(0, 2)).reshape(2, 1))
    np.testing.assert_array_equal(sum_to_shape(grad, (4, 2, 3)), grad)
