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


def test_relu_gradient_at_nan_and_of_nan_is_pytorchs():
    values = np.array([np.nan, -1.0, 0.0, 1.0])
    upstream = np.array([2.0, np.nan, 3.0, 4.0])
    x = Tensor(values.copy())
    ops.matmul(ops.relu(x), upstream).backward()  # (not multiply: an exercise)
    t = torch.tensor(values, requires_grad=True)
    (torch.relu(t) * torch.tensor(upstream)).sum().backward()
    np.testing.assert_array_equal(x.grad, t.grad.numpy())
