"""Inputs at the edges of the engine: each gives PyTorch's result or a clear error, never a silent wrong value."""

import numpy as np
import pytest
import torch

from edugrad import ops
from edugrad.tensor import Tensor


# -- A number to a tensor power, dropout on integers, complex values, relu at NaN ---------------


@pytest.mark.parametrize("base", [-2.0, 0.0, 2.0, -0.5, 1.0, 3])
def test_number_to_a_tensor_power_matches_pytorch_values_and_gradients(base):
    exponents = np.array([0.0, 1.0, 2.0, 0.5, -1.0, 3.0])
    x = Tensor(exponents.copy(), name="x")
    y = base**x
    ops.reduce_sum(y).backward()
    t = torch.tensor(exponents, requires_grad=True)
    expected = base**t
    expected.sum().backward()
    np.testing.assert_array_equal(y.value, expected.detach().numpy())  # nan where PyTorch has nan
    np.testing.assert_array_equal(x.grad, t.grad.numpy())


def test_number_to_a_tensor_power_keeps_float32_and_refuses_a_complex_base():
    x = Tensor(np.array([1.0, 2.0], dtype=np.float32))
    assert (2.0**x).value.dtype == np.float32
    with pytest.raises(TypeError, match="rpower: the base must be a real number"):
        ops.rpower(x, base=1j)


def test_dropout_refuses_an_integer_tensor():
    with pytest.raises(TypeError, match="dropout: needs a floating-point input, got int64"):
        ops.dropout(Tensor(np.array([1, 2, 3])), p=0.5)
    with pytest.raises(RuntimeError):  # PyTorch refuses too
        torch.nn.functional.dropout(torch.tensor([1, 2, 3]), 0.5, training=True)


@pytest.mark.parametrize("make", [lambda v: Tensor(v), lambda v: ops.add(Tensor(np.ones(2)), v)])
def test_complex_values_are_refused(make):
    with pytest.raises(TypeError, match="complex"):
        make(np.array([1 + 2j, 3.0]))
    t = Tensor(np.ones(2))
    with pytest.raises(TypeError, match="complex"):
        t.value = np.array([1j, 2.0])


def test_relu_gradient_at_nan_is_pytorchs():
    values = np.array([np.nan, -1.0, 0.0, 1.0, -0.0])
    upstream = np.array([2.0, 5.0, 3.0, 4.0, 6.0])
    x = Tensor(values.copy())
    ops.matmul(ops.relu(x), upstream).backward()  # (not multiply: an exercise)
    t = torch.tensor(values, requires_grad=True)
    (torch.relu(t) * torch.tensor(upstream)).sum().backward()
    np.testing.assert_array_equal(x.grad, t.grad.numpy())


# -- All-or-nothing loading ------------------------------------------------------------------

from edugrad import nn, optim  # noqa: E402


def two_layers():
    np.random.seed(0)
    return nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))


@pytest.mark.parametrize("bad, error, message", [
    (np.array([["a", "b", "c"]] * 2), TypeError, "0.weight holds <U1 values in the state, not real numbers"),
    (np.ones((2, 3), dtype=complex), TypeError, "0.weight holds complex128 values in the state, not real numbers"),
    (np.ones((3, 2)), ValueError, "0.weight has shape"),
])
def test_module_load_state_dict_checks_everything_before_writing_and_names_the_key(bad, error, message):
    model = two_layers()
    before = {name: np.array(value) for name, value in model.state_dict().items()}
    state = {name: value + 1 for name, value in before.items()}
    state["0.weight"] = bad  # the first key is wrong; ...
    keys = list(state)
    state = {key: state[key] for key in keys[1:] + keys[:1]}  # ... and comes last
    with pytest.raises(error, match=message):
        model.load_state_dict(state)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])  # nothing was written


def test_module_load_state_dict_accepts_integers_for_floats():
    model = two_layers()
    state = {name: np.zeros(value.shape, dtype=np.int64) for name, value in model.state_dict().items()}
    model.load_state_dict(state)
    assert all(not value.any() and value.dtype == np.float64 for value in model.state_dict().values())


@pytest.mark.parametrize("make", [pytest.param(optim.Adam, marks=pytest.mark.ex_adam), optim.Adagrad, optim.RMSprop])
def test_an_optimizer_state_missing_its_statistics_is_refused_at_load(make):
    model = two_layers()
    optimizer = make(model.parameters())
    ops.mse_loss(model(np.ones((4, 2))), np.zeros((4, 1))).backward()
    optimizer.step()
    state = optimizer.state_dict()
    dropped = sorted(key for key in state if key != "step")[0]
    del state[dropped]
    fresh = make(model.parameters())
    before = fresh.state_dict()
    with pytest.raises(KeyError, match=f"missing keys \\['{dropped}'\\]"):
        fresh.load_state_dict(state)
    after = fresh.state_dict()
    assert after.keys() == before.keys() and all(np.array_equal(after[k], before[k]) for k in before)


def test_an_optimizer_state_is_checked_whole_before_it_is_restored():
    model = two_layers()
    optimizer = optim.Adam(model.parameters())
    state = optimizer.state_dict()
    state["step"] = np.array(7)
    state["second_moments.3"] = np.array(["x"])
    with pytest.raises(TypeError, match="Adam.load_state_dict: second_moments.3 holds"):
        optimizer.load_state_dict(state)
    assert optimizer._cur_step == 0
    state = optimizer.state_dict()
    state["step"] = np.array(2.5)
    with pytest.raises(TypeError, match="step is int64 here but float64"):
        optimizer.load_state_dict(state)


def test_sgd_state_saved_before_its_first_step_has_no_momentum_and_loads():
    model = two_layers()
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    optim.SGD(model.parameters(), lr=0.1, momentum=0.9).load_state_dict(optimizer.state_dict())


@pytest.mark.parametrize("name", ["model.ckpt", "model", "model.npz"])
def test_save_and_load_with_the_same_path_round_trip(tmp_path, name):
    model = two_layers()
    model.save(tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    restored = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    restored.load(tmp_path / name)
    for (_, a), (_, b) in zip(model.state_dict().items(), restored.state_dict().items()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("content", [b"", b"hello, not a checkpoint", "half"])
def test_empty_and_corrupt_checkpoints_name_the_file(tmp_path, content):
    model = two_layers()
    if content == "half":
        model.save(tmp_path / "good.npz")
        content = (tmp_path / "good.npz").read_bytes()[:200]
    path = tmp_path / "broken.ckpt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="broken.ckpt: not a readable .npz file"):
        model.load(path)


# -- The engine's corners ---------------------------------------------------------------------

import threading  # noqa: E402

import edugrad  # noqa: E402


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mse_loss_of_an_empty_batch_is_nan_with_empty_zero_gradients(dtype):
    predicted = Tensor(np.zeros((0, 1), dtype=dtype))
    loss = ops.mse_loss(predicted, np.zeros((0, 1), dtype=dtype))
    loss.backward()
    t = torch.zeros((0, 1), dtype=getattr(torch, np.dtype(dtype).name), requires_grad=True)
    expected = torch.nn.functional.mse_loss(t, torch.zeros((0, 1), dtype=t.dtype))
    expected.backward()
    assert np.isnan(loss.value) and torch.isnan(expected)
    assert loss.value.dtype == dtype
    assert predicted.grad.shape == tuple(t.grad.shape) and predicted.grad.dtype == dtype


@pytest.mark.parametrize("make", [  # (not multiply: an exercise, unsolved in the student edition)
    lambda x: ops.power(x, exponent=3), lambda x: ops.exp(x), lambda x: ops.reduce_sum(ops.power(x, exponent=2))])
def test_the_gradient_of_a_0d_tensor_is_a_0d_array(make):
    x = Tensor(2.0)
    make(x).backward()
    assert type(x.grad) is np.ndarray and x.grad.shape == ()


@pytest.mark.parametrize("reduce, torch_reduce", [
    (ops.reduce_sum, torch.sum), (ops.reduce_mean, torch.mean), (ops.reduce_max, torch.amax)])
@pytest.mark.parametrize("axis, keepdims", [(0, False), (-1, False), (0, True), ((0,), False)])
def test_reducing_a_0d_tensor_over_axis_0_is_pytorchs(reduce, torch_reduce, axis, keepdims):
    x = Tensor(2.0)
    y = reduce(x, axis=axis, keepdims=keepdims)
    y.backward()
    t = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    expected = torch_reduce(t, axis, keepdim=keepdims)
    expected.backward()
    assert y.value.shape == tuple(expected.shape) and y.value == expected.item()
    assert x.grad.shape == () and x.grad == t.grad.item()


def test_no_grad_is_per_thread():
    a = Tensor(np.ones(2))
    seen = {}

    def other_thread():
        seen["enabled"] = edugrad.is_grad_enabled()
        seen["recorded"] = ops.reduce_sum(a).requires_grad

    with edugrad.no_grad():
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
        assert not ops.reduce_sum(a).requires_grad
    assert seen == {"enabled": True, "recorded": True}
    started, release = threading.Event(), threading.Event()

    def holds_no_grad():
        with edugrad.no_grad():
            started.set()
            release.wait(5)

    worker = threading.Thread(target=holds_no_grad)
    worker.start()
    started.wait(5)
    try:
        assert edugrad.is_grad_enabled() and ops.reduce_sum(a).requires_grad  # the other thread's no_grad is its own
    finally:
        release.set()
        worker.join()


# -- Construction checks -----------------------------------------------------------------------

OPTIMIZERS = [optim.SGD, optim.Adagrad, optim.RMSprop, optim.Adam]


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_optimizers_refuse_what_pytorchs_refuse(make):
    layer = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        make([])
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors, but parameter 1 is a ndarray"):
        make([layer.weight, np.zeros(2)])
    with pytest.raises(TypeError, match="did you mean model.parameters\\(\\)"):
        make(layer.parameters)
    with pytest.raises(TypeError, match="wrap a single tensor in a list"):
        make(layer.weight)
    with pytest.raises(ValueError, match="appears more than once"):
        make([layer.weight, layer.weight])
    for bad in (float("nan"), -0.1, "0.1"):
        with pytest.raises(ValueError, match="lr must be >= 0"):
            make(layer.parameters(), lr=bad)
    with pytest.raises(ValueError, match="eps must be >= 0") if make is not optim.SGD else pytest.raises(ValueError):
        make(layer.parameters(), eps=float("nan")) if make is not optim.SGD else make(layer.parameters(), momentum=float("nan"))
    make(layer.parameters())  # the generator itself is fine
    with pytest.raises(ValueError):
        torch_make = getattr(torch.optim, make.__name__)
        torch_make([], lr=0.1)


def test_adam_refuses_nan_betas():
    with pytest.raises(ValueError, match="betas must be in"):
        optim.Adam(nn.Linear(2, 2).parameters(), betas=(float("nan"), 0.999))


def test_a_wrongly_shaped_grad_cannot_be_assigned():
    w = Tensor(np.zeros((2, 3)), name="w")
    with pytest.raises(ValueError, match=r"assigned grad has shape \(3, 2\), but w has shape \(2, 3\)"):
        w.grad = np.ones((3, 2))
    with pytest.raises(ValueError, match="assigned grad has shape"):
        w.grad = np.ones(3)  # would broadcast in an optimizer's step
    w.grad = np.ones((2, 3))
    w.grad = None
    assert not w.grad.any()


@pytest.mark.parametrize("padding_idx", [5, 7, -6, 2.0, True])
def test_embedding_padding_idx_out_of_range_is_refused_at_construction(padding_idx):
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(5, 3, padding_idx=padding_idx)


def test_a_negative_padding_idx_counts_from_the_end_as_in_pytorch(torch):
    ours = nn.Embedding(5, 3, padding_idx=-1)
    theirs = torch.nn.Embedding(5, 3, padding_idx=-1)
    assert ours.padding_idx == theirs.padding_idx == 4
    assert not ours.weight.value[4].any()
