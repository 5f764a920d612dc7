"""Specifications of every operation for the property and parity tests.

Each ``OpSpec`` says how to draw inputs for an operation (with Hypothesis),
how to call it in edugrad, and how to compute the same thing in PyTorch.
Inputs are drawn away from the points where an operation is not
differentiable (the kink of relu, zero for a negative power), because finite
differences straddling such a point disagree with any one-sided derivative.
"""

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest
from hypothesis import assume, strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

from edugrad import ops


# -- Values -------------------------------------------------------------------------


def normal(rng, shape):
    return rng.standard_normal(shape)


def positive(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def away_from_zero(rng, shape):
    x = rng.standard_normal(shape)
    return np.sign(x) * (0.1 + np.abs(x)) + (x == 0) * 0.1


def far_from_zero(rng, shape):
    x = rng.standard_normal(shape)
    return np.where(x < 0, -1, 1) * (0.5 + np.abs(x))


def wide(rng, shape):
    return 3 * rng.standard_normal(shape)


def rng_from(data):
    return np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))


# -- Shapes and options ------------------------------------------------------------------


def shape(data, min_dims=0, max_dims=3, max_side=4, min_side=1):
    return data.draw(array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side), label="shape")


def broadcastable_shapes(data, count=2):
    shapes = data.draw(mutually_broadcastable_shapes(num_shapes=count, min_dims=0, max_dims=3, max_side=4), label="shapes")
    return shapes.input_shapes


def axis_options(data, ndim):
    """axis (None, an int, negative too, or a non-empty tuple) and keepdims."""
    choices = [st.none()]
    if ndim:
        choices += [
            st.integers(-ndim, ndim - 1),
            st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple),
        ]
    axis = data.draw(st.one_of(*choices), label="axis")
    keepdims = data.draw(st.booleans(), label="keepdims")
    return {"axis": axis, "keepdims": keepdims}


def torch_dim(axis):
    return None if axis is None else axis


# -- Specifications ---------------------------------------------------------------------


@dataclass
class OpSpec:
    name: str
    draw: Callable  # data -> (list of arrays, dict of options)
    ours: Callable  # (*tensors, **options) -> Tensor
    theirs: Callable  # (torch, *torch tensors, **options) -> torch tensor
    differentiable: list = field(default_factory=lambda: None)  # input positions to check (default: all float)
    float32_tolerance: float = 1e-4
    exercise: str = ""  # the exercise that writes this op (its tests fail in the student edition)

    def param(self):
        """This spec as a pytest parameter, marked with its exercise if it has one."""
        marks = [getattr(pytest.mark, self.exercise)] if self.exercise else []
        return pytest.param(self, marks=marks, id=self.name)


def unary(domain=normal):
    def draw(data):
        return [domain(rng_from(data), shape(data))], {}

    return draw


def binary_broadcast(domain_a=normal, domain_b=normal):
    def draw(data):
        rng = rng_from(data)
        shape_a, shape_b = broadcastable_shapes(data)
        return [domain_a(rng, shape_a), domain_b(rng, shape_b)], {}

    return draw


def reduction(data):
    rng = rng_from(data)
    x = normal(rng, shape(data))
    return [x], axis_options(data, x.ndim)


def power_inputs(data):
    rng = rng_from(data)
    exponent = data.draw(st.sampled_from([0, 1, 2, 3, 0.5, -1, -2.5]), label="exponent")
    domain = positive if exponent in (0.5, -2.5) else away_from_zero
    return [domain(rng, shape(data))], {"exponent": exponent}


def rpower_inputs(data):
    rng = rng_from(data)
    base = data.draw(st.sampled_from([2.0, 0.5, 3.0, 1.0, 10.0]), label="base")
    return [normal(rng, shape(data))], {"base": base}


def matmul_inputs(data):
    """Vectors, matrices and stacks of matrices whose batch axes broadcast (numpy's matmul)."""
    rng = rng_from(data)
    n, k, m = (data.draw(st.integers(1, 4), label=name) for name in "nkm")
    batch_a, batch_b = data.draw(
        mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3), label="batch axes"
    ).input_shapes
    left = data.draw(st.sampled_from([batch_a + (n, k), (k,)]), label="left shape")
    right = data.draw(st.sampled_from([batch_b + (k, m), (k,)]), label="right shape")
    return [normal(rng, left), normal(rng, right)], {}


def linear_inputs(data):
    """Inputs with any leading axes (none: a single example), a weight, and a bias or none."""
    rng = rng_from(data)
    leading = data.draw(array_shapes(min_dims=0, max_dims=2, max_side=4), label="leading axes")
    k, m = (data.draw(st.integers(1, 4), label=name) for name in "km")
    arrays = [normal(rng, leading + (k,)), normal(rng, (k, m))]
    if data.draw(st.booleans(), label="bias"):
        arrays.append(normal(rng, (m,)))
    return arrays, {}


def copy_rows_inputs(data):
    rng = rng_from(data)
    return [normal(rng, (data.draw(st.integers(1, 4)),))], {"num": data.draw(st.integers(1, 4), label="num")}


def same_shape_pair(data):
    rng = rng_from(data)
    s = shape(data)
    return [normal(rng, s), normal(rng, s)], {}


def transpose_inputs(data):
    rng = rng_from(data)
    x = normal(rng, shape(data))
    axes = data.draw(st.one_of(st.none(), st.permutations(range(x.ndim)).map(tuple)), label="axes")
    return [x], {"axes": axes}


def reshape_inputs(data):
    rng = rng_from(data)
    x = normal(rng, shape(data))
    target = data.draw(st.sampled_from([(-1,), tuple(reversed(x.shape)), (1, x.size), (x.size, -1)]), label="new shape")
    return [x], {"shape": target}


def concat_inputs(data):
    rng = rng_from(data)
    base = list(shape(data, min_dims=1))
    axis = data.draw(st.integers(-len(base), len(base) - 1), label="axis")
    count = data.draw(st.integers(1, 3), label="count")
    arrays = []
    for _ in range(count):
        this = list(base)
        this[axis] = data.draw(st.integers(1, 3), label="length along axis")
        arrays.append(normal(rng, tuple(this)))
    return arrays, {"axis": axis}


def vecdot_inputs(data):
    rng = rng_from(data)
    batch_a, batch_b = broadcastable_shapes(data)
    length = data.draw(st.integers(1, 4), label="vector length")
    return [normal(rng, batch_a + (length,)), normal(rng, batch_b + (length,))], {}


def lookup_inputs(data):
    rng = rng_from(data)
    rows, width = data.draw(st.integers(1, 6), label="rows"), data.draw(st.integers(1, 4), label="width")
    index_shape = shape(data, min_dims=0, max_dims=2, max_side=5)
    indices = rng.integers(0, rows, index_shape)  # repeats are likely: that is the point
    return [normal(rng, (rows, width)), indices], {}


def bag_inputs(data):
    """A table and [bags, length] indices, with a padding index (often) and a mode."""
    rng = rng_from(data)
    rows, width = data.draw(st.integers(1, 6), label="rows"), data.draw(st.integers(1, 4), label="width")
    bags, length = data.draw(st.integers(1, 4), label="bags"), data.draw(st.integers(1, 5), label="length")
    options = {"mode": data.draw(st.sampled_from(["sum", "mean"]), label="mode"),
               "padding_idx": data.draw(st.sampled_from([None, 0]), label="padding_idx")}
    return [normal(rng, (rows, width)), rng.integers(0, rows, (bags, length))], options


def class_axis(data):
    rng = rng_from(data)
    x = wide(rng, shape(data, min_dims=1))
    return [x], {"axis": data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis")}


def class_targets(data):
    rng = rng_from(data)
    batch, classes = data.draw(st.integers(1, 5), label="batch"), data.draw(st.integers(1, 5), label="classes")
    return [wide(rng, (batch, classes)), rng.integers(0, classes, batch)], {}


def padded_class_targets(data):
    """Class targets some of which are ignore_index (padding), with each reduction; the first row always counts
    (a batch with every row ignored has a NaN mean, tested on its own in test_ops_errors)."""
    rng = rng_from(data)
    batch, classes = data.draw(st.integers(1, 5), label="batch"), data.draw(st.integers(2, 5), label="classes")
    ignore_index = data.draw(st.sampled_from([-100, 0]), label="ignore_index")
    targets = rng.integers(0, classes, batch)
    targets[rng.uniform(size=batch) < 0.4] = ignore_index
    targets[0] = rng.integers(1, classes)
    reduction = data.draw(st.sampled_from(["mean", "sum", "none"]), label="reduction")
    return [wide(rng, (batch, classes)), targets], {"ignore_index": ignore_index, "reduction": reduction}


def distribution_targets_reduced(data):
    arrays, _ = distribution_targets(data)
    return arrays, {"reduction": data.draw(st.sampled_from(["mean", "sum", "none"]), label="reduction")}


def distribution_targets(data):
    rng = rng_from(data)
    batch, classes = data.draw(st.integers(1, 5), label="batch"), data.draw(st.integers(1, 5), label="classes")
    return [wide(rng, (batch, classes)), rng.dirichlet(np.ones(classes), size=batch)], {}


def binary_targets(data):
    rng = rng_from(data)
    s = shape(data)
    return [wide(rng, s), rng.uniform(0, 1, s)], {}


def standardize_inputs(data):
    rng = rng_from(data)
    x = wide(rng, shape(data, min_dims=1, min_side=2))
    axes = data.draw(st.one_of(st.integers(-x.ndim, x.ndim - 1), st.just(tuple(range(x.ndim)))), label="axis")
    # A group of nearly equal values is ill-conditioned: its gradient grows like 1/std and
    # float32 rounding with it (std 0.014 gave a relative error of 1.7e-4). Keep groups spread out.
    assume(np.all(np.std(x, axis=axes) > 0.1))
    return [x], {"axis": axes}


def torch_standardize(torch, x, axis):
    mean = x.mean(dim=axis, keepdim=True)
    variance = ((x - mean) ** 2).mean(dim=axis, keepdim=True)
    return (x - mean) / torch.sqrt(variance + 1e-5)


def index_key(data, shape):
    """A numpy index for an array of this shape: per axis an integer, a slice (any step) or all of it;
    perhaps one array of integer indices (with repeats), a new axis (None), or ... in front."""
    use_array = data.draw(st.booleans(), label="an index array")
    array_axis = data.draw(st.integers(0, len(shape) - 1), label="its axis") if use_array else None
    parts = []
    for axis, side in enumerate(shape):
        if axis == array_axis:
            parts.append(np.array(data.draw(st.lists(st.integers(-side, side - 1), min_size=1, max_size=4), label="indices")))
            continue
        # With an index array, integers elsewhere would move the indexed axes (numpy's rule for mixed
        # advanced indices); slices only keep the case both libraries define the same way.
        kinds = ["slice", "all"] if use_array else ["int", "slice", "all"]
        kind = data.draw(st.sampled_from(kinds), label=f"axis {axis}")
        if kind == "int":
            parts.append(data.draw(st.integers(-side, side - 1), label="index"))
        elif kind == "slice":
            start = data.draw(st.one_of(st.none(), st.integers(-side, side)), label="start")
            stop = data.draw(st.one_of(st.none(), st.integers(-side, side)), label="stop")
            parts.append(slice(start, stop, data.draw(st.sampled_from([None, 1, 2, 3]), label="step")))
        else:
            parts.append(slice(None))
    if data.draw(st.booleans(), label="new axis"):
        parts.insert(data.draw(st.integers(0, len(parts)), label="where"), None)
    if data.draw(st.booleans(), label="ellipsis"):
        parts = [Ellipsis] + parts[data.draw(st.integers(0, len(parts)), label="axes left to ...") :]
    return tuple(parts)


def getitem_inputs(data):
    rng = rng_from(data)
    x = normal(rng, shape(data, min_dims=1))
    return [x], {"key": index_key(data, x.shape)}


def torch_key(torch, key):
    return tuple(torch.tensor(part) if isinstance(part, np.ndarray) else part for part in key)


def stack_inputs(data):
    rng = rng_from(data)
    s = shape(data)
    count = data.draw(st.integers(1, 3), label="count")
    axis = data.draw(st.integers(-len(s) - 1, len(s)), label="axis")
    return [normal(rng, s) for _ in range(count)], {"axis": axis}


def axis_of_one(data):
    rng = rng_from(data)
    x = normal(rng, shape(data, min_dims=1))
    return [x], {"axis": data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis")}


def split_inputs(data):
    rng = rng_from(data)
    x = normal(rng, shape(data, min_dims=1, max_side=5))
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis")
    length = x.shape[axis]
    sizes = data.draw(
        st.one_of(
            st.integers(1, length + 1),
            st.lists(st.integers(0, length), min_size=1, max_size=4).filter(lambda sizes: sum(sizes) <= length)
            .map(lambda sizes: sizes + [length - sum(sizes)]),
        ),
        label="split_size_or_sections",
    )
    return [x], {"split_size_or_sections": sizes, "axis": axis}


def reordered(pieces):
    """The pieces in reverse order: a gradient sent back to the wrong piece changes the result.
    (Reordering, not scaling: multiply is an exercise, and these tests must pass without it.)"""
    return list(reversed(pieces))


def where_inputs(data):
    rng = rng_from(data)
    shape_c, shape_a, shape_b = broadcastable_shapes(data, count=3)
    return [rng.random(shape_c) < 0.5, normal(rng, shape_a), normal(rng, shape_b)], {}


def masked_fill_inputs(data):
    rng = rng_from(data)
    s = shape(data)
    trailing = s[len(s) - data.draw(st.integers(0, len(s)), label="mask axes") :]
    mask_shape = tuple(side if data.draw(st.booleans(), label="keep side") else 1 for side in trailing)
    value = data.draw(st.sampled_from([0.0, -1.5, 1e4]), label="value")  # -inf would make the weighted sum nan
    return [normal(rng, s), rng.random(mask_shape) < 0.5], {"value": value}


SPECS = [
    OpSpec("add", binary_broadcast(), ops.add, lambda torch, a, b: a + b),
    OpSpec("minus", binary_broadcast(), ops.minus, lambda torch, a, b: a - b),
    OpSpec("power", power_inputs, ops.power, lambda torch, a, exponent: a**exponent),
    OpSpec("relu", unary(away_from_zero), ops.relu, lambda torch, a: torch.relu(a)),
    OpSpec("matmul", matmul_inputs, ops.matmul, lambda torch, a, b: a @ b),
    OpSpec("linear", linear_inputs, ops.linear, lambda torch, x, w, *b: torch.nn.functional.linear(x, w.T, *b)),
    OpSpec(
        "reduce_sum", reduction, ops.reduce_sum,
        lambda torch, a, axis, keepdims: torch.sum(a, dim=torch_dim(axis), keepdim=keepdims),
    ),
    OpSpec(
        "reduce_mean", reduction, ops.reduce_mean,
        lambda torch, a, axis, keepdims: torch.mean(a, dim=torch_dim(axis), keepdim=keepdims),
    ),
    OpSpec("copy_rows", copy_rows_inputs, ops.copy_rows, lambda torch, a, num: a.expand(num, -1)),
    OpSpec("mse_loss", same_shape_pair, ops.mse_loss, lambda torch, a, b: torch.nn.functional.mse_loss(a, b)),
    OpSpec("multiply", binary_broadcast(), ops.multiply, lambda torch, a, b: a * b, exercise="ex_multiply"),
    OpSpec("divide", binary_broadcast(normal, far_from_zero), ops.divide, lambda torch, a, b: a / b),
    OpSpec("negative", unary(), ops.negative, lambda torch, a: -a),
    OpSpec("exp", unary(), ops.exp, lambda torch, a: torch.exp(a)),
    OpSpec("rpower", rpower_inputs, ops.rpower, lambda torch, a, base: base**a),
    OpSpec("log", unary(positive), ops.log, lambda torch, a: torch.log(a), exercise="ex_log"),
    OpSpec("sigmoid", unary(wide), ops.sigmoid, lambda torch, a: torch.sigmoid(a), exercise="ex_sigmoid"),
    OpSpec("tanh", unary(wide), ops.tanh, lambda torch, a: torch.tanh(a)),
    OpSpec("softplus", unary(wide), ops.softplus, lambda torch, a: torch.nn.functional.softplus(a), exercise="ex_planted_bug"),
    OpSpec(
        "reduce_max", reduction, ops.reduce_max,
        lambda torch, a, axis, keepdims: torch.amax(a, dim=() if axis is None else axis, keepdim=keepdims),
    ),
    OpSpec(
        "transpose", transpose_inputs, ops.transpose,
        lambda torch, a, axes: a.permute(tuple(reversed(range(a.ndim))) if axes is None else axes),
    ),
    OpSpec("reshape", reshape_inputs, ops.reshape, lambda torch, a, shape: a.reshape(shape)),
    OpSpec("concat", concat_inputs, ops.concat, lambda torch, *arrays, axis: torch.cat(arrays, dim=axis)),
    OpSpec("vecdot", vecdot_inputs, ops.vecdot, lambda torch, a, b: torch.linalg.vecdot(a, b), exercise="ex_vecdot"),
    OpSpec("lookup_rows", lookup_inputs, ops.lookup_rows, lambda torch, matrix, indices: matrix[indices], exercise="ex_scatter_add"),
    OpSpec("embedding_bag", bag_inputs, ops.embedding_bag,
           lambda torch, matrix, indices, mode, padding_idx: torch.nn.functional.embedding_bag(
               indices, matrix, mode=mode, padding_idx=padding_idx), exercise="ex_scatter_add"),
    OpSpec("softmax", class_axis, ops.softmax, lambda torch, a, axis: torch.softmax(a, dim=axis), exercise="ex_softmax_backward"),
    OpSpec("log_softmax", class_axis, ops.log_softmax, lambda torch, a, axis: torch.log_softmax(a, dim=axis)),
    OpSpec(
        "cross_entropy", class_targets, ops.cross_entropy,
        lambda torch, logits, targets: torch.nn.functional.cross_entropy(logits, targets),
    ),
    OpSpec(
        "cross_entropy_soft_targets", distribution_targets, ops.cross_entropy,
        lambda torch, logits, targets: torch.nn.functional.cross_entropy(logits, targets),
    ),
    OpSpec(
        "cross_entropy_padded", padded_class_targets, ops.cross_entropy,
        lambda torch, logits, targets, **options: torch.nn.functional.cross_entropy(logits, targets, **options),
    ),
    OpSpec(
        "cross_entropy_soft_targets_reduced", distribution_targets_reduced, ops.cross_entropy,
        lambda torch, logits, targets, **options: torch.nn.functional.cross_entropy(logits, targets, **options),
    ),
    OpSpec("standardize", standardize_inputs, ops.standardize, torch_standardize, exercise="ex_standardize_backward"),
    OpSpec(
        "binary_cross_entropy_with_logits", binary_targets, ops.binary_cross_entropy_with_logits,
        lambda torch, logits, targets: torch.nn.functional.binary_cross_entropy_with_logits(logits, targets),
    ),
]

SPECS += [
    OpSpec("getitem", getitem_inputs, ops.getitem, lambda torch, a, key: a[torch_key(torch, key)]),
    OpSpec("stack", stack_inputs, ops.stack, lambda torch, *arrays, axis: torch.stack(arrays, dim=axis)),
    OpSpec(
        "unbind", axis_of_one, lambda a, axis: ops.stack(*reordered(ops.unbind(a, axis)), axis=axis),
        lambda torch, a, axis: torch.stack(reordered(torch.unbind(a, dim=axis)), dim=axis),
    ),
    OpSpec(
        "split", split_inputs,
        lambda a, split_size_or_sections, axis: ops.concat(*reordered(ops.split(a, split_size_or_sections, axis)), axis=axis),
        lambda torch, a, split_size_or_sections, axis: torch.cat(reordered(torch.split(a, split_size_or_sections, dim=axis)), dim=axis),
    ),
    OpSpec("where", where_inputs, ops.where, lambda torch, condition, a, b: torch.where(condition, a, b)),
    OpSpec("masked_fill", masked_fill_inputs, ops.masked_fill, lambda torch, a, mask, value: a.masked_fill(mask, value)),
]

SPECS_BY_NAME = {spec.name: spec for spec in SPECS}
SPEC_PARAMS = [spec.param() for spec in SPECS]
