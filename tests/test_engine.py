"""The engine: tensors, tensor_op, backward, broadcasting, no_grad (chapters Tensors and Graph)."""

import numpy as np
import pytest

import edugrad
from edugrad import Operation, Tensor, ops, tensor_op


@tensor_op
class scale(Operation):
    """y = a * factor for a constant factor (an option, not an input)."""

    @staticmethod
    def forward(ctx, a, factor=2.0):
        ctx.append(factor)
        return a * factor

    @staticmethod
    def backward(ctx, grad_output):
        return (grad_output * ctx[0],)


@tensor_op
class too_few_gradients(Operation):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad_output):
        return (grad_output,)


@tensor_op
class wrong_shape_gradient(Operation):
    @staticmethod
    def forward(ctx, a):
        return a * 1.0

    @staticmethod
    def backward(ctx, grad_output):
        return (np.ones(7),)


# -- Tensor -------------------------------------------------------------------------


def test_tensor_holds_value_name_and_zero_grad():
    t = Tensor([[1.0, 2.0], [3.0, 4.0]], name="t")
    assert isinstance(t.value, np.ndarray) and t.shape == (2, 2) and t.name == "t"
    assert t.parents == () and t.requires_grad
    assert np.array_equal(t.grad, np.zeros((2, 2)))
    t.grad = np.ones((2, 2))
    assert np.array_equal(t.grad, np.ones((2, 2)))
    t.grad = None
    assert np.array_equal(t.grad, np.zeros((2, 2)))


def test_value_is_the_array_given_and_can_change_in_place_or_be_replaced():
    array = np.zeros(3)
    t = Tensor(array)
    t.value += 1
    assert array[0] == 1
    t.value = np.full(3, 5.0)
    assert (ops.reduce_sum(t)).value == 15


def test_integer_tensors_have_float_gradients_and_float32_stays_float32():
    assert Tensor(np.arange(3)).grad.dtype == np.float64
    assert Tensor(np.ones(3, dtype=np.float32)).grad.dtype == np.float32


def test_arbitrary_attributes_can_be_set():
    t = Tensor(1.0)
    t.word = "cat"
    assert t.word == "cat"


def test_top_level_names():
    for name in ["Tensor", "Operation", "tensor_op", "no_grad", "gradcheck", "ops", "nn", "optim", "data"]:
        assert hasattr(edugrad, name), name
    assert edugrad.ops.Operation is edugrad.tensor.Operation
    assert edugrad.ops.tensor_op is edugrad.tensor.tensor_op


# -- backward ---------------------------------------------------------------------------


def test_chain_rule_with_fan_out_matches_hand_derivation():
    a, b = Tensor(0.5), Tensor(3.0)
    loss = ops.add(ops.add(ops.power(a, exponent=2), ops.power(b, exponent=3)), a)  # a is used twice
    loss.backward()
    assert a.grad == pytest.approx(2 * 0.5 + 1)
    assert b.grad == pytest.approx(3 * 3.0**2)


def test_leaf_gradients_accumulate_intermediate_ones_are_recomputed():
    x = Tensor(np.array([1.0, 2.0]), name="x")
    squared = ops.power(x, exponent=2)
    loss = ops.reduce_sum(squared)
    loss.backward()
    loss.backward()
    assert np.allclose(x.grad, 2 * 2 * x.value)  # accumulated twice
    assert np.allclose(squared.grad, 1.0)  # recomputed, readable
    assert isinstance(x.grad, np.ndarray)


def test_scalar_leaf_gradients_stay_arrays():
    a = Tensor(2.0)
    loss = ops.add(a, a)
    loss.backward()
    loss.backward()
    assert isinstance(a.grad, np.ndarray) and a.grad == 4.0


def test_backward_on_one_element_non_scalar_is_allowed():
    x = Tensor(np.ones((1, 1)))
    ops.power(x, exponent=3).backward()
    assert x.grad.shape == (1, 1) and x.grad[0, 0] == 3


def test_backward_on_many_elements_is_refused_clearly():
    x = Tensor(np.ones((3, 4)), name="x")
    with pytest.raises(ValueError, match=r"backward\(\) needs a tensor with one element.*shape \(3, 4\)"):
        ops.power(x, exponent=2).backward()


def test_a_20000_op_chain_does_not_hit_the_recursion_limit():
    x = Tensor(1.0)
    y = x
    for _ in range(20_000):
        y = y + 1.0
    y.backward()
    assert y.value == 20_001 and x.grad == 1.0
    assert len(y.get_graph_above()) == 2 * 20_000


def test_tensors_that_do_not_require_grad_get_no_gradient_and_are_not_visited():
    data = Tensor(np.ones((2, 3)), requires_grad=False)
    weight = Tensor(np.ones((3, 1)))
    loss = ops.reduce_sum(ops.matmul(data, weight))
    assert weight in loss._topological_order() and data not in loss._topological_order()
    loss.backward()
    assert data._grad is None
    assert np.allclose(weight.grad, 2.0)


def test_no_graph_is_recorded_from_constants_or_under_no_grad():
    constant = ops.add(np.ones(2), 1.0)
    assert not constant.requires_grad and constant.parents == ()
    x = Tensor(np.ones(2))
    with edugrad.no_grad():
        y = ops.power(x, exponent=2)
        assert not edugrad.is_grad_enabled()
    assert edugrad.is_grad_enabled()
    assert y.parents == () and not y.requires_grad
    with pytest.raises(ValueError, match="does not require a gradient"):
        ops.reduce_sum(y).backward()


def test_no_grad_as_a_decorator_and_nested():
    @edugrad.no_grad()
    def evaluate(x):
        return ops.power(x, exponent=2)

    assert evaluate(Tensor(1.0)).parents == ()
    with edugrad.no_grad():
        with edugrad.no_grad():
            pass
        assert not edugrad.is_grad_enabled()
    assert edugrad.is_grad_enabled()


def test_no_grad_restores_state_after_an_exception():
    with pytest.raises(RuntimeError):
        with edugrad.no_grad():
            raise RuntimeError
    assert edugrad.is_grad_enabled()


def test_detach_shares_the_value_and_stops_gradients():
    x = Tensor(np.array([1.0, 2.0]))
    y = ops.power(x, exponent=2)
    fixed = y.detach()
    assert fixed.value is y.value and not fixed.requires_grad and fixed.parents == ()
    loss = ops.reduce_sum(ops.add(y, fixed))
    loss.backward()
    assert np.allclose(x.grad, 2 * x.value)


def test_get_graph_above_lists_parent_child_edges():
    a, b = Tensor(1.0, name="a"), Tensor(2.0, name="b")
    c = ops.add(a, b)
    d = ops.power(c, exponent=2)
    edges = d.get_graph_above()
    assert {(p.name, ch.name) for p, ch in edges} == {("add", "power"), ("a", "add"), ("b", "add")}
    assert all(isinstance(p, Tensor) and isinstance(ch, Tensor) for p, ch in edges)


# -- Broadcasting, options, dtypes --------------------------------------------------


def test_broadcast_gradients_are_summed_back_to_each_input_shape():
    matrix = Tensor(np.zeros((4, 3)))
    row = Tensor(np.zeros(3))
    column = Tensor(np.zeros((4, 1)))
    scalar = Tensor(0.0)
    ops.reduce_sum(ops.add(ops.add(ops.add(matrix, row), column), scalar)).backward()
    assert np.array_equal(row.grad, np.full(3, 4.0))
    assert np.array_equal(column.grad, np.full((4, 1), 3.0))
    assert scalar.grad == 12.0 and scalar.grad.shape == ()
    assert np.array_equal(matrix.grad, np.ones((4, 3)))


def test_options_may_be_given_by_position_or_keyword():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    assert np.array_equal(ops.reduce_sum(x, 1).value, np.sum(x.value, 1))
    assert np.array_equal(ops.reduce_sum(x, axis=1).value, np.sum(x.value, 1))
    assert np.array_equal(ops.power(x, 2).value, x.value**2)
    assert scale(x, 3.0).parents == (x,)


def test_python_numbers_take_the_tensors_float_type():
    x = Tensor(np.ones(3, dtype=np.float32))
    for result in [x + 1, 1 + x, x - 2.5, 2.5 - x, x**2]:
        assert result.value.dtype == np.float32
    loss = ops.reduce_sum(x + 1.0)
    loss.backward()
    assert x.grad.dtype == np.float32


def test_gradients_take_the_inputs_float_type_even_from_float64_data():
    weight = Tensor(np.ones((3, 2), dtype=np.float32))
    data = np.ones((4, 3))  # float64
    ops.reduce_sum(ops.matmul(data, weight)).backward()
    assert weight.grad.dtype == np.float32


def test_numpy_arrays_on_the_left_use_the_reflected_operators():
    x = Tensor(np.ones(3))
    result = np.full(3, 2.0) - x
    assert isinstance(result, Tensor) and np.array_equal(result.value, np.ones(3))
    assert isinstance(np.ones(3) + x, Tensor)


# -- Mistakes -------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [[1.0, 2.0], "3", None, {"a": 1}])
def test_inputs_that_are_not_tensors_arrays_or_numbers_are_refused(bad):
    with pytest.raises(TypeError, match=rf"add: input 2 is a {type(bad).__name__}; expected a Tensor, a numpy array or a number"):
        ops.add(Tensor(1.0), bad)


def test_shapes_that_do_not_broadcast_name_the_op_and_shapes():
    with pytest.raises(ValueError, match=r"add: .*\(input shapes: \(3, 4\), \(5,\)\)"):
        ops.add(Tensor(np.ones((3, 4))), Tensor(np.ones(5)))
    with pytest.raises(ValueError, match=r"add: .*\(input shapes: \(3, 4\), \(5,\)\)"):
        Tensor(np.ones((3, 4))) + np.ones(5)


def test_a_backward_returning_too_few_gradients_is_reported():
    loss = ops.reduce_sum(too_few_gradients(Tensor(np.ones(2)), Tensor(np.ones(2))))
    with pytest.raises(ValueError, match=r"too_few_gradients.backward returned 1 gradient\(s\) for 2 input\(s\)"):
        loss.backward()


def test_a_backward_returning_a_gradient_of_the_wrong_shape_is_reported():
    loss = ops.reduce_sum(wrong_shape_gradient(Tensor(np.ones((2, 3)))))
    with pytest.raises(ValueError, match=r"wrong_shape_gradient.backward returned a gradient of shape \(7,\) for an input of shape \(2, 3\)"):
        loss.backward()


def test_a_single_input_op_may_return_its_gradient_bare():
    @tensor_op
    class double(Operation):
        @staticmethod
        def forward(ctx, a):
            return 2 * a

        @staticmethod
        def backward(ctx, grad_output):
            return 2 * grad_output

    x = Tensor(np.ones((2, 2)))
    ops.reduce_sum(double(x)).backward()
    assert np.array_equal(x.grad, np.full((2, 2), 2.0))


def test_decorated_operations_keep_name_docstring_and_class():
    assert ops.relu.__name__ == "relu"
    assert "max(0, a)" in ops.relu.__doc__
    assert issubclass(ops.relu.operation, Operation)


# -- ctx.needs_input_grad -------------------------------------------------------------------


def test_ctx_says_which_inputs_need_a_gradient():
    seen = []

    @tensor_op
    class record(Operation):
        @staticmethod
        def forward(ctx, a, b, c):
            seen.append(ctx.needs_input_grad)
            ctx.append(a.shape)
            return a + b + c

        @staticmethod
        def backward(ctx, grad_output):
            (shape,) = ctx  # still a list of what forward saved
            return tuple(grad_output if need else None for need in ctx.needs_input_grad)

    a, b = Tensor(np.ones(2)), Tensor(np.ones(2), requires_grad=False)
    ops.reduce_sum(record(a, b, np.ones(2))).backward()
    with edugrad.no_grad():
        record(a, b, np.ones(2))
    assert seen == [(True, False, False), (False, False, False)]
    assert np.array_equal(a.grad, np.ones(2)) and b._grad is None


@pytest.mark.parametrize("op, shapes", [
    (ops.linear, [(4, 3), (3, 2), (2,)]), (ops.linear, [(2, 5, 3), (3, 2)]),
    (ops.matmul, [(4, 3), (3, 2)]), (ops.matmul, [(2, 4, 3), (3, 5)]), (ops.matmul, [(3,), (2, 3, 4)]),
    (ops.divide, [(4, 3), (4, 1)]),
])
def test_an_input_that_needs_no_gradient_gets_none_and_the_others_are_unchanged(op, shapes):
    rng = np.random.default_rng(0)
    for constant in range(len(shapes)):
        values = [rng.standard_normal(shape) + (3.0 if op is ops.divide else 0.0) for shape in shapes]
        grads = {}
        for skip in (constant, None):
            tensors = [Tensor(v.copy(), requires_grad=(i != skip)) for i, v in enumerate(values)]
            output = op(*tensors)
            ops.reduce_sum(output).backward()
            grads[skip] = [t._grad for t in tensors]
            backward_grads = op.operation.backward(output._ctx, np.ones_like(output.value))
            assert (backward_grads[constant] is None) == (skip == constant), (op.__name__, constant, skip)
        assert grads[constant][constant] is None
        for i in range(len(shapes)):
            if i != constant:
                np.testing.assert_allclose(grads[constant][i], grads[None][i], rtol=1e-12)
