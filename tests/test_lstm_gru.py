"""nn.LSTM, nn.GRU and their cells against PyTorch, with state_dicts copied from torch: outputs, final
states and every gradient, float64 to 1e-12 and float32 loosely, 1 and 2 layers, batch_first both ways.

The cells use sigmoid and multiply, two exercises: in the student edition these tests fail until both
are solved, so they carry both markers (the shape checks, which stop before a step, do not)."""

import itertools

import numpy as np
import pytest

from edugrad import Tensor, nn
from edugrad.checking import weighted_sum



def needs_the_exercises(test):
    """Runs an LSTM or GRU step, so it needs sigmoid and multiply, and (for the LSTM cases) the LSTM's step."""
    return pytest.mark.ex_lstm_step(pytest.mark.ex_multiply(pytest.mark.ex_sigmoid(test)))


def copy_from_torch(ours, theirs, dtype):
    ours.load_state_dict({name: value.detach().numpy().astype(dtype) for name, value in theirs.state_dict().items()})
    for param in ours.parameters():
        param.value = param.value.astype(dtype)


def compare(ours, theirs, rtol, atol):
    assert np.shape(ours) == np.shape(theirs)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)


CASES = list(itertools.product(["LSTM", "GRU"], [1, 2], [False, True], [True, False], [False, True]))


@needs_the_exercises
@pytest.mark.parametrize("kind, num_layers, batch_first, bias, initial_state", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sequence_modules_match_torch_with_a_copied_state_dict(torch, kind, num_layers, batch_first, bias, initial_state, dtype):
    rng = np.random.default_rng(num_layers * 100 + batch_first * 10 + bias)
    torch.manual_seed(0)
    torch_dtype = torch.float64 if dtype == np.float64 else torch.float32
    theirs = getattr(torch.nn, kind)(4, 3, num_layers=num_layers, bias=bias, batch_first=batch_first).to(torch_dtype)
    ours = getattr(nn, kind)(4, 3, num_layers=num_layers, bias=bias, batch_first=batch_first, dtype=dtype)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    copy_from_torch(ours, theirs, dtype)

    time, batch = 5, 2
    x = rng.standard_normal((batch, time, 4) if batch_first else (time, batch, 4)).astype(dtype)
    states = [rng.standard_normal((num_layers, batch, 3)).astype(dtype) for _ in range(2 if kind == "LSTM" else 1)]
    out_weights = rng.standard_normal(x.shape[:-1] + (3,)).astype(dtype)
    final_weights = [rng.standard_normal((num_layers, batch, 3)).astype(dtype) for _ in states]

    x_ours, states_ours = Tensor(x), [Tensor(s) for s in states]
    x_theirs, states_theirs = torch.tensor(x, requires_grad=True), [torch.tensor(s, requires_grad=True) for s in states]
    pack = (lambda s: tuple(s)) if kind == "LSTM" else (lambda s: s[0])
    output, final = ours(x_ours, pack(states_ours) if initial_state else None)
    their_output, their_final = theirs(x_theirs, pack(states_theirs) if initial_state else None)
    final = list(final) if kind == "LSTM" else [final]
    their_final = list(their_final) if kind == "LSTM" else [their_final]

    loss = weighted_sum(output, out_weights)
    their_loss = (their_output * torch.tensor(out_weights)).sum()
    for state, their_state, weights in zip(final, their_final, final_weights):
        loss = loss + weighted_sum(state, weights)
        their_loss = their_loss + (their_state * torch.tensor(weights)).sum()
    loss.backward()
    their_loss.backward()

    rtol, atol = (1e-12, 1e-12) if dtype == np.float64 else (1e-4, 1e-5)
    assert output.value.dtype == dtype
    compare(output.value, their_output.detach().numpy(), rtol, atol)
    for state, their_state in zip(final, their_final):
        compare(state.value, their_state.detach().numpy(), rtol, atol)
    compare(x_ours.grad, x_theirs.grad.numpy(), rtol, atol)
    if initial_state:
        for state, their_state in zip(states_ours, states_theirs):
            compare(state.grad, their_state.grad.numpy(), rtol, atol)
    for (name, param), (_, their_param) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert param.grad.dtype == dtype, name
        compare(param.grad, their_param.grad.numpy(), rtol, atol)


@needs_the_exercises
@pytest.mark.parametrize("kind, bias", [("LSTMCell", True), ("LSTMCell", False), ("GRUCell", True), ("GRUCell", False)])
def test_cells_match_torch_batched_and_unbatched(torch, kind, bias):
    rng = np.random.default_rng(5)
    torch.manual_seed(3)
    theirs = getattr(torch.nn, kind)(5, 4, bias=bias).double()
    ours = getattr(nn, kind)(5, 4, bias=bias)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    copy_from_torch(ours, theirs, np.float64)
    count = 2 if kind == "LSTMCell" else 1
    x = rng.standard_normal((3, 5))
    states = [rng.standard_normal((3, 4)) for _ in range(count)]
    x_ours, states_ours = Tensor(x), [Tensor(s) for s in states]
    x_theirs, states_theirs = torch.tensor(x, requires_grad=True), [torch.tensor(s, requires_grad=True) for s in states]
    new = ours(x_ours, tuple(states_ours) if count == 2 else states_ours[0])
    their_new = theirs(x_theirs, tuple(states_theirs) if count == 2 else states_theirs[0])
    new, their_new = (list(new), list(their_new)) if count == 2 else ([new], [their_new])
    weights = [rng.standard_normal((3, 4)) for _ in new]
    loss = weighted_sum(new[0], weights[0])
    their_loss = (their_new[0] * torch.tensor(weights[0])).sum()
    if count == 2:
        loss = loss + weighted_sum(new[1], weights[1])
        their_loss = their_loss + (their_new[1] * torch.tensor(weights[1])).sum()
    loss.backward()
    their_loss.backward()
    for mine, their in zip(new, their_new):
        compare(mine.value, their.detach().numpy(), 1e-12, 1e-12)
    compare(x_ours.grad, x_theirs.grad.numpy(), 1e-12, 1e-12)
    for state, their_state in zip(states_ours, states_theirs):
        compare(state.grad, their_state.grad.numpy(), 1e-12, 1e-12)
    for (name, param), (_, their_param) in zip(ours.named_parameters(), theirs.named_parameters()):
        compare(param.grad, their_param.grad.numpy(), 1e-12, 1e-12)
    single, their_single = ours(x[0]), theirs(torch.tensor(x[0]))  # no batch axis, no state
    single, their_single = (single, their_single) if count == 2 else ((single,), (their_single,))
    for mine, their in zip(single, their_single):
        assert mine.shape == (4,)
        compare(mine.value, their.detach().numpy(), 1e-12, 1e-12)


@needs_the_exercises
def test_unbatched_sequences_match_torch(torch):
    torch.manual_seed(4)
    x = np.random.default_rng(6).standard_normal((6, 3))
    for kind in ("LSTM", "GRU"):
        theirs, ours = getattr(torch.nn, kind)(3, 2, num_layers=2).double(), getattr(nn, kind)(3, 2, num_layers=2)
        copy_from_torch(ours, theirs, np.float64)
        output, final = ours(x)
        their_output, their_final = theirs(torch.tensor(x))
        compare(output.value, their_output.detach().numpy(), 1e-12, 1e-12)
        final, their_final = (final, their_final) if kind == "LSTM" else ((final,), (their_final,))
        for state, their_state in zip(final, their_final):
            assert state.shape == (2, 2)
            compare(state.value, their_state.detach().numpy(), 1e-12, 1e-12)


def test_gated_modules_refuse_wrong_states():
    lstm = nn.LSTM(3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"LSTM\(3, 4, num_layers=2\): expects initial states of shape \(2, 5, 4\), got \(1, 5, 4\)"):
        lstm(np.ones((7, 5, 3)), (Tensor(np.zeros((1, 5, 4))), Tensor(np.zeros((1, 5, 4)))))
    with pytest.raises(ValueError, match=r"LSTM\(3, 4, num_layers=2\): expects 2 initial states, got 1"):
        lstm(np.ones((7, 5, 3)), [Tensor(np.zeros((2, 5, 4)))])
    with pytest.raises(ValueError, match=r"GRUCell\(3, 4\): expects inputs with 1 axes or 2 axes, the last of length 3; got shape \(5, 2\)"):
        nn.GRUCell(3, 4)(np.ones((5, 2)))


@needs_the_exercises
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_dropout_between_layers_only_in_training_mode(kind):
    np.random.seed(0)
    module = getattr(nn, kind)(3, 4, num_layers=2, dropout=0.5)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    evaluated = module.eval()(x)[0].value
    assert np.array_equal(evaluated, module(x)[0].value)
    assert not np.allclose(module.train()(x)[0].value, evaluated)
