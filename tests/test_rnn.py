"""Recurrent networks and gradient clipping against PyTorch: nn.RNNCell, nn.RNN with a state_dict
copied from torch (outputs, final states, every gradient), and nn.utils.clip_grad_norm_."""

import itertools

import numpy as np
import pytest

from edugrad import Tensor, nn, ops
from edugrad.checking import weighted_sum
from edugrad.ops.indexing import RowSparseGrad


def copy_from_torch(ours, theirs, dtype):
    ours.load_state_dict({name: value.detach().numpy().astype(dtype) for name, value in theirs.state_dict().items()})
    for param in ours.parameters():
        param.value = param.value.astype(dtype)


def compare(ours, theirs, rtol, atol):
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)
    assert np.shape(ours) == np.shape(theirs)


RNN_CASES = list(itertools.product([1, 2], [False, True], ["tanh", "relu"], [True, False], [False, True]))


@pytest.mark.parametrize("num_layers, batch_first, nonlinearity, bias, initial_state", RNN_CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rnn_matches_torch_with_a_copied_state_dict(torch, num_layers, batch_first, nonlinearity, bias, initial_state, dtype):
    rng = np.random.default_rng(num_layers * 100 + batch_first * 10 + bias)
    torch.manual_seed(0)
    torch_dtype = torch.float64 if dtype == np.float64 else torch.float32
    theirs = torch.nn.RNN(4, 3, num_layers=num_layers, nonlinearity=nonlinearity, bias=bias, batch_first=batch_first).to(torch_dtype)
    ours = nn.RNN(4, 3, num_layers=num_layers, nonlinearity=nonlinearity, bias=bias, batch_first=batch_first, dtype=dtype)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    copy_from_torch(ours, theirs, dtype)

    time, batch = 6, 2
    x = rng.standard_normal((batch, time, 4) if batch_first else (time, batch, 4)).astype(dtype)
    h0 = rng.standard_normal((num_layers, batch, 3)).astype(dtype)
    out_weights = rng.standard_normal(x.shape[:-1] + (3,)).astype(dtype)
    final_weights = rng.standard_normal((num_layers, batch, 3)).astype(dtype)

    x_ours, h0_ours = Tensor(x), Tensor(h0)
    output, h_n = ours(x_ours, h0_ours if initial_state else None)
    (weighted_sum(output, out_weights) + weighted_sum(h_n, final_weights)).backward()

    x_theirs, h0_theirs = torch.tensor(x, requires_grad=True), torch.tensor(h0, requires_grad=True)
    their_output, their_h_n = theirs(x_theirs, h0_theirs if initial_state else None)
    ((their_output * torch.tensor(out_weights)).sum() + (their_h_n * torch.tensor(final_weights)).sum()).backward()

    rtol, atol = (1e-12, 1e-12) if dtype == np.float64 else (1e-4, 1e-5)
    assert output.value.dtype == dtype
    compare(output.value, their_output.detach().numpy(), rtol, atol)
    compare(h_n.value, their_h_n.detach().numpy(), rtol, atol)
    compare(x_ours.grad, x_theirs.grad.numpy(), rtol, atol)
    if initial_state:
        compare(h0_ours.grad, h0_theirs.grad.numpy(), rtol, atol)
    for (name, param), (_, their_param) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert param.grad.dtype == dtype, name
        compare(param.grad, their_param.grad.numpy(), rtol, atol)


@pytest.mark.parametrize("nonlinearity, bias", [("tanh", True), ("relu", False)])
def test_rnn_cell_matches_torch_batched_unbatched_and_stepped_over_a_sequence(torch, nonlinearity, bias):
    rng = np.random.default_rng(3)
    torch.manual_seed(1)
    theirs = torch.nn.RNNCell(5, 4, bias=bias, nonlinearity=nonlinearity).double()
    ours = nn.RNNCell(5, 4, bias=bias, nonlinearity=nonlinearity)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    copy_from_torch(ours, theirs, np.float64)
    xs, h0 = rng.standard_normal((3, 2, 5)), rng.standard_normal((2, 4))
    h, their_h = Tensor(h0), torch.tensor(h0, requires_grad=True)
    start, their_start = h, their_h
    x_ours, x_theirs = Tensor(xs), torch.tensor(xs, requires_grad=True)
    for t in range(3):
        h, their_h = ours(x_ours[t], h), theirs(x_theirs[t], their_h)
    weights = rng.standard_normal((2, 4))  # (no multiply: it is an exercise of the student edition)
    weighted_sum(h, weights).backward()
    (their_h * torch.tensor(weights)).sum().backward()
    compare(h.value, their_h.detach().numpy(), 1e-12, 1e-12)
    compare(x_ours.grad, x_theirs.grad.numpy(), 1e-12, 1e-12)
    compare(start.grad, their_start.grad.numpy(), 1e-12, 1e-12)
    for (name, param), (_, their_param) in zip(ours.named_parameters(), theirs.named_parameters()):
        compare(param.grad, their_param.grad.numpy(), 1e-12, 1e-12)
    single = ours(Tensor(xs[0, 0]))  # no batch axis, no state
    assert single.shape == (4,)
    compare(single.value, theirs(torch.tensor(xs[0, 0])).detach().numpy(), 1e-12, 1e-12)


def test_rnn_unbatched_input_and_default_state_match_torch(torch):
    torch.manual_seed(2)
    theirs = torch.nn.RNN(3, 2, num_layers=2).double()
    ours = nn.RNN(3, 2, num_layers=2)
    copy_from_torch(ours, theirs, np.float64)
    x = np.random.default_rng(4).standard_normal((5, 3))
    output, h_n = ours(x)
    their_output, their_h_n = theirs(torch.tensor(x))
    assert output.shape == (5, 2) and h_n.shape == (2, 2)
    compare(output.value, their_output.detach().numpy(), 1e-12, 1e-12)
    compare(h_n.value, their_h_n.detach().numpy(), 1e-12, 1e-12)


def test_rnn_dropout_between_layers_only_in_training_mode():
    np.random.seed(0)
    rnn = nn.RNN(3, 4, num_layers=2, dropout=0.5)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    rnn.eval()
    first, _ = rnn(x)
    again, _ = rnn(x)
    assert np.array_equal(first.value, again.value)
    rnn.train()
    dropped, _ = rnn(x)
    assert not np.allclose(dropped.value, first.value)
    single = nn.RNN(3, 4, num_layers=1, dropout=0.5)  # nothing between layers to drop
    single.load_state_dict({k: v for k, v in rnn.state_dict().items() if k.endswith("l0")})
    assert np.array_equal(single(x)[0].value, single.eval()(x)[0].value)


def test_rnn_modules_refuse_wrong_shapes_and_options():
    rnn = nn.RNN(3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"RNN\(3, 4, num_layers=2\): expects inputs with 2 axes or 3 axes, the last of length 3; got shape \(5, 2, 4\)"):
        rnn(np.ones((5, 2, 4)))
    with pytest.raises(ValueError, match=r"expects an initial state of shape \(2, 2, 4\), got \(1, 2, 4\)"):
        rnn(np.ones((5, 2, 3)), Tensor(np.ones((1, 2, 4))))
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"RNNCell\(3, 4\): expects the hidden state with 2 axes, the last of length 4; got shape \(2, 3\)"):
        nn.RNNCell(3, 4)(np.ones((2, 3)), Tensor(np.ones((2, 3))))


def test_pytorch_initialisation_range():
    np.random.seed(0)
    rnn = nn.RNN(10, 25, num_layers=2)
    values = np.concatenate([p.value.ravel() for p in rnn.parameters()])
    assert np.abs(values).max() <= 1 / 5 and np.abs(values).max() > 0.19


# -- clip_grad_norm_ ---------------------------------------------------------------------


def gradients_pair(torch, rng, shapes, scale):
    ours, theirs = [], []
    for shape in shapes:
        grad = scale * rng.standard_normal(shape)
        param = Tensor(np.zeros(shape))
        param.grad = grad.copy()
        their_param = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
        their_param.grad = torch.tensor(grad.copy())
        ours.append(param)
        theirs.append(their_param)
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3, float("inf")])
@pytest.mark.parametrize("scale", [0.01, 10.0])
@pytest.mark.ex_clip_grad_norm
def test_clip_grad_norm_matches_torch(torch, norm_type, scale):
    rng = np.random.default_rng(int(scale * 100) + int(min(norm_type, 9)))
    ours, theirs = gradients_pair(torch, rng, [(3, 4), (4,), ()], scale)
    total = nn.utils.clip_grad_norm_(ours, max_norm=1.5, norm_type=norm_type)
    their_total = torch.nn.utils.clip_grad_norm_(theirs, max_norm=1.5, norm_type=norm_type)
    assert isinstance(total, Tensor) and total.shape == () and not total.requires_grad
    np.testing.assert_allclose(total.value, their_total.item(), rtol=1e-12)
    for param, their_param in zip(ours, theirs):
        np.testing.assert_allclose(param.grad, their_param.grad.numpy(), rtol=1e-12, atol=1e-15)
    clipped = nn.utils.clip_grad_norm_(ours, max_norm=1.5, norm_type=norm_type)
    assert clipped.value <= 1.5 + 1e-5
    if scale == 0.01:  # small gradients are left exactly as they were
        np.testing.assert_allclose(clipped.value, total.value, rtol=1e-12)


@pytest.mark.ex_clip_grad_norm
def test_clip_grad_norm_skips_parameters_without_gradients_and_takes_one_tensor(torch):
    with_grad, without = Tensor(np.zeros(3)), Tensor(np.zeros(2))
    with_grad.grad = np.array([3.0, 4.0, 0.0])
    total = nn.clip_grad_norm_([with_grad, without], max_norm=1.0)
    assert total.value == pytest.approx(5.0) and without._grad is None
    np.testing.assert_allclose(with_grad.grad, np.array([3.0, 4.0, 0.0]) / (5.0 + 1e-6))
    alone = Tensor(np.zeros(2))
    alone.grad = np.array([0.0, 2.0])
    assert nn.utils.clip_grad_norm_(alone, 1.0).value == pytest.approx(2.0)
    assert nn.utils.clip_grad_norm_([Tensor(np.zeros(2))], 1.0).value == 0.0
    assert torch.nn.utils.clip_grad_norm_([torch.zeros(2, requires_grad=True)], 1.0).item() == 0.0


@pytest.mark.ex_clip_grad_norm
def test_clip_grad_norm_non_finite(torch):
    param, their_param = Tensor(np.zeros(2)), torch.zeros(2, dtype=torch.float64, requires_grad=True)
    param.grad, their_param.grad = np.array([np.nan, 1.0]), torch.tensor([np.nan, 1.0], dtype=torch.float64)
    # first without the check (a NotImplementedError, a RuntimeError, must not reach pytest.raises below)
    total = nn.utils.clip_grad_norm_([param], 1.0)  # without the check, nan spreads as in torch
    their_total = torch.nn.utils.clip_grad_norm_([their_param], 1.0)
    assert np.isnan(total.value) and np.isnan(their_total.item())
    assert np.array_equal(np.isnan(param.grad), np.isnan(their_param.grad.numpy()))
    with pytest.raises(RuntimeError, match="clip_grad_norm_: the total norm of order 2.0 of the gradients is nan"):
        nn.utils.clip_grad_norm_([param], 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError, match="non-finite"):
        torch.nn.utils.clip_grad_norm_([their_param], 1.0, error_if_nonfinite=True)


@pytest.mark.ex_scatter_add  # the row-sparse gradient comes from lookup_rows
@pytest.mark.ex_clip_grad_norm
def test_clip_grad_norm_scales_a_row_sparse_gradient_without_making_it_dense():
    table = Tensor(np.zeros((5, 2)))
    table.grad = RowSparseGrad(np.array([1, 1, 3]), np.array([[3.0, 0.0], [0.0, 0.0], [0.0, 4.0]]), (5, 2))
    dense = np.asarray(table.grad)
    total = nn.utils.clip_grad_norm_([table], max_norm=1.0)
    assert isinstance(table.grad, RowSparseGrad)
    assert total.value == pytest.approx(5.0)
    np.testing.assert_allclose(np.asarray(table.grad), dense / (5.0 + 1e-6))


@pytest.mark.ex_clip_grad_norm
def test_clip_grad_norm_keeps_float32(torch):
    param = Tensor(np.zeros(3, dtype=np.float32))
    param.grad = np.array([30.0, 40.0, 0.0], dtype=np.float32)
    total = nn.utils.clip_grad_norm_([param], max_norm=1.0)
    assert total.value.dtype == np.float32 and param.grad.dtype == np.float32
