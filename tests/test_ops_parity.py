"""Every operation agrees with PyTorch, forward and backward: float64 to 1e-12
(relative), float32 loosely, including broadcasting."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from edugrad import Tensor
from edugrad.checking import weighted_sum
from opspecs import SPEC_PARAMS


def run_both(torch, spec, arrays, options, dtype):
    float_inputs = [i for i, a in enumerate(arrays) if np.issubdtype(np.asarray(a).dtype, np.floating)]
    ours = [Tensor(np.asarray(a).astype(dtype) if i in float_inputs else np.asarray(a)) for i, a in enumerate(arrays)]
    output = spec.ours(*ours, **options)
    weights = np.random.default_rng(0).standard_normal(output.shape).astype(dtype)
    weighted_sum(output, weights).backward()

    theirs = [
        torch.tensor(np.asarray(a).astype(dtype), requires_grad=True) if i in float_inputs else torch.tensor(np.asarray(a))
        for i, a in enumerate(arrays)
    ]
    their_output = spec.theirs(torch, *theirs, **options)
    (their_output * torch.tensor(weights)).sum().backward()
    their_grads = [theirs[i].grad for i in float_inputs]
    their_grads = [np.zeros(arrays[i].shape) if g is None else g.numpy() for i, g in zip(float_inputs, their_grads)]
    return output, their_output.detach().numpy(), [ours[i].grad for i in float_inputs], their_grads


@pytest.mark.parametrize("spec", SPEC_PARAMS)
@given(data=st.data())
@settings(max_examples=25)
def test_float64_matches_pytorch(torch, spec, data):
    arrays, options = spec.draw(data)
    output, expected, grads, expected_grads = run_both(torch, spec, arrays, options, np.float64)
    assert output.value.dtype == np.float64
    np.testing.assert_allclose(output.value, expected, rtol=1e-12, atol=1e-12)
    for grad, expected_grad in zip(grads, expected_grads):
        assert grad.shape == expected_grad.shape
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("spec", SPEC_PARAMS)
@given(data=st.data())
@settings(max_examples=10)
def test_float32_matches_pytorch_and_stays_float32(torch, spec, data):
    arrays, options = spec.draw(data)
    output, expected, grads, expected_grads = run_both(torch, spec, arrays, options, np.float32)
    assert output.value.dtype == np.float32
    np.testing.assert_allclose(output.value, expected, rtol=spec.float32_tolerance, atol=spec.float32_tolerance)
    for grad, expected_grad in zip(grads, expected_grads):
        assert grad.dtype == np.float32
        np.testing.assert_allclose(grad, expected_grad, rtol=spec.float32_tolerance, atol=spec.float32_tolerance)
