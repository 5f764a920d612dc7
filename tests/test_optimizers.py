"""Optimizers against torch.optim: identical parameters and gradients, 25 steps, every option."""

import inspect

import numpy as np
import pytest

from edugrad import Tensor, nn, ops, optim

CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
    ("Adagrad", {"lr": 0.1, "weight_decay": 0.05, "initial_accumulator_value": 0.3, "eps": 1e-6}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.003, "alpha": 0.9, "eps": 1e-6}),
    ("RMSprop", {"lr": 0.003, "momentum": 0.8, "weight_decay": 0.02}),
    ("Adam", {}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.05}),
]


def with_exercise_marks(cases):
    """Adam's update is the exercise ex-adam: its cases carry the marker."""
    marked = []
    for case in cases:
        values = case if isinstance(case, tuple) else (case,)
        marked.append(pytest.param(*values, marks=pytest.mark.ex_adam) if values[0] == "Adam" else case)
    return marked


def run_both(torch, name, options, steps=25, missing_gradient_every=None, dtype=np.float64):
    rng = np.random.default_rng(0)
    start = [rng.standard_normal((3, 2)), rng.standard_normal(2)]
    ours = [Tensor(p.astype(dtype)) for p in start]
    theirs = [torch.tensor(p.astype(dtype), requires_grad=True) for p in start]
    optimizer = getattr(optim, name)(ours, **options)
    reference = getattr(torch.optim, name)(theirs, **options)
    for step in range(steps):
        optimizer.zero_grad()
        reference.zero_grad()
        for index, (mine, their) in enumerate(zip(ours, theirs)):
            if missing_gradient_every and index == 1 and step % missing_gradient_every == 0:
                continue  # this parameter gets no gradient at this step
            grad = rng.standard_normal(mine.shape).astype(dtype)
            mine.grad = grad.copy()
            their.grad = torch.tensor(grad.copy())
        optimizer.step()
        reference.step()
    return ours, theirs


@pytest.mark.parametrize("name, options", with_exercise_marks(CASES), ids=lambda x: str(x))
def test_matches_torch_for_25_steps(torch, name, options):
    ours, theirs = run_both(torch, name, options)
    for mine, their in zip(ours, theirs):
        np.testing.assert_allclose(mine.value, their.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name, options", with_exercise_marks([c for c in CASES if c[1]]), ids=lambda x: str(x))
def test_parameters_without_a_gradient_are_skipped_as_in_torch(torch, name, options):
    ours, theirs = run_both(torch, name, options, missing_gradient_every=3)
    for mine, their in zip(ours, theirs):
        np.testing.assert_allclose(mine.value, their.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", with_exercise_marks(["SGD", "Adagrad", "RMSprop", "Adam"]))
def test_float32_matches_torch_loosely_and_stays_float32(torch, name):
    options = {"lr": 0.01} if name == "SGD" else {}
    ours, theirs = run_both(torch, name, options, dtype=np.float32)
    for mine, their in zip(ours, theirs):
        assert mine.value.dtype == np.float32
        np.testing.assert_allclose(mine.value, their.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["Adagrad", "RMSprop", "Adam"])
def test_defaults_are_pytorchs(torch, name):
    ours = inspect.signature(getattr(optim, name)).parameters
    theirs = inspect.signature(getattr(torch.optim, name)).parameters
    for option, parameter in ours.items():
        if option != "params":
            assert parameter.default == theirs[option].default, (name, option)


@pytest.mark.parametrize("name", with_exercise_marks(["SGD", "Adagrad", "RMSprop", "Adam"]))
def test_state_round_trip_is_bit_for_bit(tmp_path, name):
    options = {"lr": 0.05, "momentum": 0.9} if name == "SGD" else {"lr": 0.05}

    def run(resume):
        np.random.seed(0)
        layer = nn.Linear(4, 3)
        optimizer = getattr(optim, name)(layer.parameters(), **options)
        inputs = np.random.default_rng(1).standard_normal((20, 8, 4))
        for step, batch in enumerate(inputs):
            if resume and step == 10:
                nn.save_arrays(tmp_path / "optimizer.npz", optimizer.state_dict())
                layer.save(tmp_path / "layer.npz")
                np.random.seed(99)
                layer = nn.Linear(4, 3)
                layer.load(tmp_path / "layer.npz")
                optimizer = getattr(optim, name)(layer.parameters(), **options)
                optimizer.load_state_dict(nn.load_arrays(tmp_path / "optimizer.npz"))
            optimizer.zero_grad()
            ops.reduce_sum(ops.tanh(layer(batch)) ** 2).backward()
            optimizer.step()
        return layer.weight.value, optimizer._cur_step

    (uninterrupted, steps), (resumed, resumed_steps) = run(False), run(True)
    assert np.array_equal(uninterrupted, resumed) and steps == resumed_steps == 20


def test_loading_a_state_for_other_parameters_is_refused():
    adam = optim.Adam([Tensor(np.zeros((2, 2)))])
    other = optim.Adam([Tensor(np.zeros(3))])
    with pytest.raises(ValueError, match=r"first_moments.0 has shape \(2, 2\) here but \(3,\) in the state"):
        adam.load_state_dict(other.state_dict())
    with pytest.raises(KeyError, match=r"unexpected keys \['momentum_buffers.0'\]"):
        adam.load_state_dict({"step": np.array(1), "momentum_buffers.0": np.zeros((2, 2))})


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: optim.Adagrad(p, lr=-1), "Adagrad: lr must be >= 0, got -1"),
        (lambda p: optim.RMSprop(p, alpha=-0.5), "RMSprop: alpha must be >= 0, got -0.5"),
        (lambda p: optim.Adam(p, betas=(0.9, 1.0)), r"Adam: betas must be in \[0, 1\), got \(0.9, 1.0\)"),
        (lambda p: optim.Adam(p, eps=-1e-8), "Adam: eps must be >= 0"),
    ],
)
def test_invalid_options_are_reported(make, message):
    with pytest.raises(ValueError, match=message):
        make([Tensor(np.zeros(2))])


@pytest.mark.ex_scatter_add
def test_adagrad_with_sparse_embedding_gradients_matches_dense_and_torch(torch):
    indices = np.random.default_rng(4).integers(0, 30, (6, 5, 4))
    results = []
    for sparse in (False, True):
        np.random.seed(0)
        table = nn.Embedding(30, 3, sparse=sparse)
        optimizer = optim.Adagrad(table.parameters(), lr=0.1)
        for batch in indices:
            optimizer.zero_grad()
            ops.reduce_sum(ops.power(table(batch), exponent=2)).backward()
            optimizer.step()
        results.append(table.weight.value.copy())
    np.random.seed(0)
    start = nn.Embedding(30, 3).weight.value
    reference = torch.nn.Embedding(30, 3, sparse=True).double()
    with torch.no_grad():
        reference.weight.copy_(torch.tensor(start))
    torch_optimizer = torch.optim.Adagrad(reference.parameters(), lr=0.1)
    for batch in indices:
        torch_optimizer.zero_grad()
        (reference(torch.tensor(batch)) ** 2).sum().backward()
        torch_optimizer.step()
    np.testing.assert_allclose(results[1], results[0], rtol=1e-12)
    np.testing.assert_allclose(results[1], reference.weight.detach().numpy(), rtol=1e-12)


@pytest.mark.ex_adam
def test_reading_an_empty_gradient_does_not_make_a_parameter_move():
    used, unused = Tensor(np.ones(2)), Tensor(np.ones(2))
    optimizer = optim.Adam([used, unused], lr=0.1, weight_decay=0.1)
    for _ in range(3):
        optimizer.zero_grad()
        ops.reduce_sum(ops.power(used, exponent=2)).backward()
        assert np.array_equal(unused.grad, np.zeros(2))  # reads as zeros ...
        optimizer.step()
    assert np.array_equal(unused.value, np.ones(2)) and unused._grad is None  # ... and stays untouched
    assert not np.array_equal(used.value, np.ones(2))


@pytest.mark.parametrize("shape, grad_shape", [((700, 300), (700, 300)), ((3, 5), (3, 5)), ((700, 300), (300,))])
@pytest.mark.parametrize("param_dtype, grad_dtype", [(np.float64, np.float64), (np.float32, np.float32),
                                                      (np.float32, np.float64)])
def test_subtract_scaled_equals_the_plain_update_bit_for_bit(shape, grad_shape, param_dtype, grad_dtype):
    # 700 x 300 is more than one block (with a partial last one); a [300] gradient broadcasts.
    rng = np.random.default_rng(0)
    start = rng.standard_normal(shape).astype(param_dtype)
    grad = rng.standard_normal(grad_shape).astype(grad_dtype)
    value = start.copy()
    optim.subtract_scaled(value, 0.37, grad)
    expected = start.copy()
    expected -= 0.37 * grad
    assert value.dtype == param_dtype
    np.testing.assert_array_equal(value, expected)


def test_subtract_scaled_reads_a_strided_gradient_correctly():
    rng = np.random.default_rng(1)
    start, wide = rng.standard_normal((400, 400)), rng.standard_normal((400, 800))
    value = start.copy()
    optim.subtract_scaled(value, 0.5, wide[:, ::2])  # not contiguous
    np.testing.assert_array_equal(value, start - 0.5 * wide[:, ::2])


def test_sgd_updates_the_parameter_array_in_place():
    # A parameter's array stays the same object across steps (no full-size temporary replaces it).
    param = Tensor(np.ones((600, 300)))
    array = param.value
    optimizer = optim.SGD([param], lr=0.1)
    ops.reduce_sum(param).backward()  # a gradient of ones
    version = param._version[0]
    optimizer.step()
    assert param.value is array
    assert param._version[0] > version  # the graph sees the change
    np.testing.assert_array_equal(array, np.full((600, 300), 0.9))
