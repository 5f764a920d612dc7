"""Every operation's backward agrees with central finite differences (float64),
on random shapes, broadcastable pairs and every kind of axis."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from edugrad import Tensor, gradcheck
from opspecs import SPEC_PARAMS


@pytest.mark.parametrize("spec", SPEC_PARAMS)
@given(data=st.data())
def test_backward_matches_finite_differences(spec, data):
    arrays, options = spec.draw(data)
    tensors = [Tensor(np.asarray(a), name=f"input{i}") for i, a in enumerate(arrays)]
    result = gradcheck(lambda *ts: spec.ours(*ts, **options), *tensors, raise_exception=False)
    assert result, result


def test_gradcheck_catches_a_wrong_backward_and_names_the_entry():
    from edugrad import Operation, tensor_op
    from edugrad.checking import GradcheckError

    @tensor_op
    class off_by_one_row(Operation):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, grad_output):
            grad = grad_output * 2
            grad[1] = 0  # wrong in row 1 only
            return (grad,)

    x = Tensor(np.ones((3, 2)), name="x")
    result = gradcheck(off_by_one_row, x, raise_exception=False)
    assert not result and result.where.startswith("x[1, ")
    with pytest.raises(GradcheckError, match=r"FAILED .* x\[1, "):
        gradcheck(off_by_one_row, x)


def test_gradcheck_refuses_float32_and_leaves_inputs_as_it_found_them():
    from edugrad import ops

    with pytest.raises(TypeError, match="float32; finite differences need float64"):
        gradcheck(ops.relu, Tensor(np.ones(3, dtype=np.float32)))
    x = Tensor(np.array([1.0, -2.0, 3.0]))
    x.grad = np.full(3, 7.0)
    before = x.value
    assert gradcheck(lambda t: ops.power(t, exponent=3), x)
    assert x.value is before and np.array_equal(x.value, [1.0, -2.0, 3.0])
    assert np.array_equal(x.grad, np.full(3, 7.0))
