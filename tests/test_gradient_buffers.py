"""Gradient arrays kept from step to step (chapter "The computation graph", graph-accumulating).

A leaf adds into its gradient in place only when the array is its own; zero_grad(set_to_none=False)
zeroes the arrays where they are, as in PyTorch; a dense lookup's rows are added into the kept table.
"""

import numpy as np
import pytest

from conftest import require_torch
from edugrad import Tensor, nn, ops, optim
from edugrad.tensor import clear_grad


def square_sum(t):
    return ops.reduce_sum(ops.power(t, exponent=2))


def test_leaves_given_one_array_by_an_addition_never_share_a_sum():
    a, b = Tensor(np.ones(3)), Tensor(np.ones(3))
    ops.reduce_sum(a + b).backward()
    shared = a._grad
    assert b._grad is shared and not a._owns_grad  # the same array, owned by nobody
    ops.reduce_sum(a + b).backward()
    np.testing.assert_array_equal(shared, np.ones(3))  # not written into
    np.testing.assert_array_equal(a.grad, np.full(3, 2.0))
    np.testing.assert_array_equal(b.grad, np.full(3, 2.0))
    assert a._grad is not b._grad and a._owns_grad and b._owns_grad
    ops.reduce_sum(a + b).backward()  # now in place, each into its own
    np.testing.assert_array_equal(a.grad, np.full(3, 3.0))
    np.testing.assert_array_equal(b.grad, np.full(3, 3.0))


def test_an_assigned_gradient_is_never_written_into():
    a = Tensor(np.ones(2))
    mine = np.array([5.0, 6.0])
    a.grad = mine
    square_sum(a).backward()
    square_sum(a).backward()
    np.testing.assert_array_equal(mine, [5.0, 6.0])
    np.testing.assert_array_equal(a.grad, [9.0, 10.0])


@pytest.mark.parametrize("clear", ["optimizer", "module", "function"])
def test_zero_grad_keeping_the_arrays_gives_the_gradients_of_dropping_them(clear):
    rng = np.random.default_rng(0)
    kept_model, fresh_model = nn.Linear(4, 3), nn.Linear(4, 3)
    for kept, fresh in zip(kept_model.parameters(), fresh_model.parameters()):
        fresh.value = kept.value.copy()
    kept_optimizer, fresh_optimizer = optim.SGD(kept_model.parameters(), lr=0.1), optim.SGD(fresh_model.parameters(), lr=0.1)
    arrays = None
    for step in range(4):
        x = rng.standard_normal((5, 4))
        if clear == "optimizer":
            kept_optimizer.zero_grad(set_to_none=False)
        elif clear == "module":
            kept_model.zero_grad(set_to_none=False)
        else:
            for param in kept_model.parameters():
                clear_grad(param, set_to_none=False)
        fresh_optimizer.zero_grad()
        square_sum(kept_model(x)).backward()
        square_sum(fresh_model(x)).backward()
        for kept, fresh in zip(kept_model.parameters(), fresh_model.parameters()):
            np.testing.assert_array_equal(kept.grad, fresh.grad)
        if step == 1:  # from the second zero_grad on, the arrays are the leaves' own
            arrays = [param._grad for param in kept_model.parameters()]
        if step > 1:
            assert all(param._grad is array for param, array in zip(kept_model.parameters(), arrays))
        kept_optimizer.step()
        fresh_optimizer.step()
    for kept, fresh in zip(kept_model.parameters(), fresh_model.parameters()):
        np.testing.assert_array_equal(kept.value, fresh.value)


def test_zero_grad_keeping_the_arrays_reads_zeros_and_drops_row_sparse_gradients():
    dense, sparse = Tensor(np.ones((4, 2))), Tensor(np.ones((4, 2)))
    square_sum(dense).backward()
    ops.reduce_sum(ops.lookup_rows(sparse, np.array([1, 3]), sparse=True)).backward()
    optimizer = optim.SGD([dense, sparse], lr=0.1)
    optimizer.zero_grad(set_to_none=False)
    assert isinstance(dense._grad, np.ndarray) and not dense._grad.any()
    assert sparse._grad is None and not sparse.grad.any()


@pytest.mark.ex_scatter_add
@pytest.mark.parametrize("padding_idx", [None, 0])
def test_a_dense_lookup_adds_its_rows_into_the_kept_table(padding_idx):
    rng = np.random.default_rng(1)
    values = rng.standard_normal((6, 3))
    table = Tensor(values.copy())
    table_array = None
    for step in range(3):
        indices = rng.integers(0, 6, (4, 5))
        clear_grad(table, set_to_none=False)
        ops.reduce_sum(ops.power(ops.lookup_rows(table, indices, padding_idx=padding_idx), exponent=2)).backward()
        expected = np.zeros((6, 3))
        np.add.at(expected, indices.ravel(), 2 * values[indices.ravel()])
        if padding_idx is not None:
            expected[padding_idx] = 0
        assert isinstance(table._grad, np.ndarray)
        np.testing.assert_allclose(table.grad, expected, rtol=1e-14)
        if step == 0:
            table_array = table._grad
        assert table._grad is table_array  # made once, by the first lookup's rows
        assert table._owns_grad


@pytest.mark.ex_scatter_add
def test_a_dense_lookups_gradient_reaching_an_operation_is_made_an_array():
    # The table is computed (exp of a leaf): the lookup's rows meet exp's backward, which needs an array.
    rng = np.random.default_rng(2)
    logs = Tensor(rng.standard_normal((5, 2)))
    indices = np.array([[0, 3, 3], [4, 0, 1]])
    ops.reduce_sum(ops.lookup_rows(ops.exp(logs), indices)).backward()
    counts = np.bincount(indices.ravel(), minlength=5)[:, None]
    np.testing.assert_allclose(logs.grad, counts * np.exp(logs.value), rtol=1e-14)


def test_zero_grad_keeping_the_arrays_matches_torch():
    torch = require_torch()
    rng = np.random.default_rng(3)
    weight = rng.standard_normal((3, 2))
    ours = Tensor(weight.copy())
    theirs = torch.tensor(weight.copy(), requires_grad=True)
    ours_optimizer, their_optimizer = optim.SGD([ours], lr=0.1), torch.optim.SGD([theirs], lr=0.1)
    for _ in range(3):
        x = rng.standard_normal((4, 3))
        ours_optimizer.zero_grad(set_to_none=False)
        their_optimizer.zero_grad(set_to_none=False)
        square_sum(ops.matmul(Tensor(x, requires_grad=False), ours)).backward()
        ((torch.tensor(x) @ theirs) ** 2).sum().backward()
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12)
        ours_optimizer.step()
        their_optimizer.step()
    ours_optimizer.zero_grad(set_to_none=False)
    their_optimizer.zero_grad(set_to_none=False)
    assert theirs.grad is not None and ours._grad is not None  # zeros, not None, in both
    assert not ours._grad.any() and not theirs.grad.numpy().any()


def test_slices_gradients_add_up_to_the_dense_gradient():
    # Overlapping slices, an integer index, a new axis and an index array, used together.
    from edugrad.ops.sequences import SliceGrad

    rng = np.random.default_rng(4)
    a = Tensor(rng.standard_normal((5, 3)))
    parts = [ops.getitem(a, slice(0, 3)), ops.getitem(a, slice(2, 5)), ops.getitem(a, 1),
             ops.getitem(a, (None, slice(None), 2)), ops.getitem(a, np.array([0, 0, 4]))]
    weights = [rng.standard_normal(part.shape) for part in parts]
    loss = ops.reduce_sum(ops.power(parts[0], exponent=2))
    for part, weight in zip(parts[1:], weights[1:]):
        loss = loss + ops.reduce_sum(ops.power(part + Tensor(weight, requires_grad=False), exponent=2))
    loss.backward()
    expected = np.zeros((5, 3))
    expected[0:3] += 2 * a.value[0:3]
    expected[2:5] += 2 * (a.value[2:5] + weights[1])
    expected[1] += 2 * (a.value[1] + weights[2])
    expected[:, 2] += 2 * (a.value[:, 2] + weights[3][0])
    np.add.at(expected, [0, 0, 4], 2 * (a.value[[0, 0, 4]] + weights[4]))
    assert isinstance(a._grad, np.ndarray)
    np.testing.assert_allclose(a.grad, expected, rtol=1e-13)
    assert isinstance(ops.getitem.operation.backward([(5, 3), slice(1, 2)], np.ones((1, 3)))[0], SliceGrad)


def test_a_computed_tensor_sliced_many_times_gets_one_array_summed_in_place():
    # The pattern of a recurrent layer: one projection, a slice per time step.
    rng = np.random.default_rng(5)
    x, w = Tensor(rng.standard_normal((6, 2, 3))), Tensor(rng.standard_normal((3, 4)))
    projection = ops.matmul(x, w)  # [time, batch, 4]
    steps = ops.unbind(projection, axis=0)
    loss = ops.reduce_sum(ops.power(steps[0], exponent=2))
    for step in steps[1:]:
        loss = loss + ops.reduce_sum(ops.power(step, exponent=2))
    loss.backward()
    np.testing.assert_allclose(projection.grad, 2 * projection.value, rtol=1e-14)
    np.testing.assert_allclose(w.grad, np.einsum("tbi,tbo->io", x.value, 2 * projection.value), rtol=1e-12)


@pytest.mark.ex_clip_grad_norm
def test_clipping_scales_a_kept_gradient_where_it_is_and_leaves_shared_ones_alone():
    kept, shared_a, shared_b = Tensor(np.ones(4)), Tensor(np.ones(2)), Tensor(np.ones(2))
    for _ in range(2):  # the second clear makes the array the leaf's own
        clear_grad(kept, set_to_none=False)
        square_sum(kept).backward()  # gradient 2, norm 4
    array = kept._grad
    ops.reduce_sum(shared_a + shared_b).backward()  # one array for both
    shared = shared_a._grad
    nn.utils.clip_grad_norm_([kept, shared_a, shared_b], max_norm=1.0)
    norm = np.sqrt(4 * 2.0**2 + 4 * 1.0)
    assert kept._grad is array
    np.testing.assert_allclose(kept.grad, np.full(4, 2.0 / (norm + 1e-6)), rtol=1e-12)
    np.testing.assert_array_equal(shared, np.ones(2))  # the shared array was not scaled in place
    np.testing.assert_allclose(shared_a.grad, np.full(2, 1.0 / (norm + 1e-6)), rtol=1e-12)
