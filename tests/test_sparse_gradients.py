"""Row-sparse embedding gradients give exactly what dense ones give (chapter Indexing and embeddings)."""

import numpy as np
import pytest

from edugrad import Tensor, gradcheck, nn, ops, optim
from edugrad.checking import weighted_sum
from edugrad.ops.indexing import RowSparseGrad

# Every test here scatters rows into a table: they need the exercise ex-scatter-add.
pytestmark = pytest.mark.ex_scatter_add


def two_lookups_loss(table, sparse):
    first = ops.lookup_rows(table, np.array([[1, 4, 1], [0, 2, 4]]), padding_idx=0, sparse=sparse)
    second = ops.lookup_rows(table, np.array([3, 4]), sparse=sparse)
    weights = np.arange(1.0, 13.0).reshape(2, 3, 2)
    return weighted_sum(first, weights) + ops.reduce_sum(ops.power(second, exponent=2))


def test_sparse_and_dense_gradients_agree_including_accumulation_and_padding():
    values = np.random.default_rng(0).standard_normal((5, 2))
    dense_table, sparse_table = Tensor(values.copy()), Tensor(values.copy())
    two_lookups_loss(dense_table, sparse=False).backward()
    two_lookups_loss(sparse_table, sparse=True).backward()
    assert isinstance(sparse_table.grad, RowSparseGrad)
    assert np.allclose(np.asarray(sparse_table.grad), dense_table.grad)
    assert np.all(np.asarray(sparse_table.grad)[0] == 0)  # the padding row
    two_lookups_loss(sparse_table, sparse=True).backward()  # accumulates across backward calls
    assert np.allclose(np.asarray(sparse_table.grad), 2 * dense_table.grad)


def test_sparse_plus_dense_is_dense_and_right():
    sparse = RowSparseGrad(np.array([0, 2, 0]), np.ones((3, 2)), (3, 2))
    dense = np.full((3, 2), 10.0)
    for total in (sparse + dense, dense + sparse):
        assert isinstance(total, np.ndarray) and np.array_equal(total, [[12, 12], [10, 10], [11, 11]])
    assert np.array_equal(dense, np.full((3, 2), 10.0))  # the operands are not modified


def test_gradcheck_accepts_sparse_gradients():
    table = Tensor(np.random.default_rng(1).standard_normal((6, 3)), name="table")
    assert gradcheck(lambda t: ops.lookup_rows(t, np.array([[1, 1, 5], [2, 0, 1]]), sparse=True), table)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", [{}, {"momentum": 0.9}, {"weight_decay": 0.01}])
def test_sgd_with_sparse_embedding_gradients_matches_dense(dtype, options):
    results = []
    for sparse in (False, True):
        np.random.seed(0)
        embedding = nn.Embedding(50, 4, padding_idx=0, sparse=sparse, dtype=dtype)
        layer = nn.Linear(4, 3, dtype=dtype)
        optimizer = optim.SGD(embedding.parameters() + layer.parameters(), lr=0.1, **options)
        batches = np.random.default_rng(2).integers(0, 50, (5, 8, 6))
        for batch in batches:
            optimizer.zero_grad()
            logits = layer(ops.reduce_mean(embedding(batch), axis=1))
            ops.cross_entropy(logits, np.arange(8) % 3).backward()
            optimizer.step()
        results.append(embedding.weight.value.copy())
        assert embedding.weight.value.dtype == dtype
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(results[1], results[0], rtol=tolerance, atol=tolerance)


def test_sparse_gradient_matches_torch_sparse_embedding(torch):
    weights = np.random.default_rng(3).standard_normal((7, 2))
    indices = np.array([[1, 6, 1], [3, 3, 0]])
    ours = Tensor(weights.copy())
    ops.reduce_sum(ops.power(ops.lookup_rows(ours, indices, sparse=True), exponent=2)).backward()
    theirs = torch.nn.Embedding(7, 2, sparse=True).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(weights))
    (theirs(torch.tensor(indices)) ** 2).sum().backward()
    np.testing.assert_allclose(np.asarray(ours.grad), theirs.weight.grad.to_dense().numpy(), rtol=1e-12)
