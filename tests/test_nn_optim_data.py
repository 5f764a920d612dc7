"""Modules, optimizers and batches (chapters Modules, Optimizers, Batches)."""

import numpy as np
import pytest

import edugrad
from edugrad import Tensor, nn, ops, optim
from edugrad.data import Batch, BatchIterator


class TwoLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(3, 4)
        self.output = nn.Linear(4, 2)

    def forward(self, inputs):
        return self.output(ops.relu(self.hidden(inputs)))


# -- Module and Linear ------------------------------------------------------------------


def test_assignment_registers_parameters_and_submodules_and_reassignment_replaces():
    model = TwoLayers()
    assert [p.shape for p in model.parameters()] == [(3, 4), (4,), (4, 2), (2,)]
    model.output = nn.Linear(4, 5, bias=False)
    assert [p.shape for p in model.parameters()] == [(3, 4), (4,), (4, 5)]
    model.extra = Tensor(np.zeros(2))
    model.extra = None
    assert len(model.parameters()) == 3


def test_shared_parameters_are_listed_once():
    model = TwoLayers()
    model.tied = model.hidden.weight
    assert sum(p is model.hidden.weight for p in model.parameters()) == 1


def test_forgetting_super_init_gives_a_clear_error():
    class Forgetful(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"Forgetful: call super\(\).__init__\(\)"):
        Forgetful()


def test_calling_a_module_calls_forward_with_any_arguments():
    class Scaled(nn.Module):
        def forward(self, x, factor=1.0, *, offset=0.0):
            return x + factor + offset

    module = Scaled()
    assert module(Tensor(1.0), 2.0, offset=3.0).value == 6.0


def test_linear_computes_xw_plus_b_with_w_input_by_output():
    np.random.seed(0)
    layer = nn.Linear(3, 2)
    assert layer.weight.shape == (3, 2) and layer.bias.shape == (2,)
    bound = 1 / np.sqrt(3)
    assert np.all(np.abs(layer.weight.value) <= bound) and np.all(np.abs(layer.bias.value) <= bound)
    x = np.random.standard_normal((5, 3))
    assert np.allclose(layer(Tensor(x)).value, x @ layer.weight.value + layer.bias.value)
    assert nn.Linear(3, 2, bias=False).bias is None


def test_linear_initialisation_is_seeded_by_numpy():
    np.random.seed(7)
    first = nn.Linear(4, 3).weight.value.copy()
    np.random.seed(7)
    assert np.array_equal(first, nn.Linear(4, 3).weight.value)


def test_linear_float32():
    layer = nn.Linear(3, 2, dtype=np.float32)
    out = layer(Tensor(np.ones((2, 3), dtype=np.float32)))
    ops.reduce_sum(out).backward()
    assert out.value.dtype == layer.weight.grad.dtype == layer.bias.grad.dtype == np.float32


def test_linear_refuses_inputs_of_the_wrong_width():
    with pytest.raises(ValueError, match=r"Linear\(input_size=3, output_size=2, bias=True\): expects inputs whose last axis has 3 features, got shape \(5, 4\)"):
        nn.Linear(3, 2)(Tensor(np.ones((5, 4))))


def test_linear_matches_torch(torch):
    np.random.seed(1)
    layer = nn.Linear(3, 2)
    x = np.random.standard_normal((4, 3))
    out = layer(Tensor(x, requires_grad=False))
    ops.reduce_sum(ops.power(out, exponent=2)).backward()

    reference = torch.nn.Linear(3, 2).double()
    with torch.no_grad():
        reference.weight.copy_(torch.tensor(layer.weight.value.T))  # torch stores [out, in]
        reference.bias.copy_(torch.tensor(layer.bias.value))
    expected = reference(torch.tensor(x))
    (expected**2).sum().backward()
    np.testing.assert_allclose(out.value, expected.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, reference.weight.grad.numpy().T, rtol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, reference.bias.grad.numpy(), rtol=1e-12)


def test_zero_grad_clears_every_parameter():
    model = TwoLayers()
    ops.reduce_sum(model(Tensor(np.ones((2, 3))))).backward()
    assert any(np.any(p.grad != 0) for p in model.parameters())
    model.zero_grad()
    assert all(np.all(p.grad == 0) for p in model.parameters())


# -- Optimizers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"lr": 0.1},
        {"lr": 0.05, "momentum": 0.9},
        {"lr": 0.05, "momentum": 0.9, "nesterov": True},
        {"lr": 0.05, "weight_decay": 0.01},
        {"lr": 0.02, "momentum": 0.5, "weight_decay": 0.1},
        {"lr": 0.02, "momentum": 0.5, "weight_decay": 0.1, "nesterov": True},
    ],
    ids=str,
)
def test_sgd_matches_torch_for_25_steps(torch, options):
    rng = np.random.default_rng(0)
    start = [rng.standard_normal((3, 2)), rng.standard_normal(2)]
    gradients = [[rng.standard_normal(p.shape) for p in start] for _ in range(25)]

    ours = [Tensor(p.copy()) for p in start]
    optimizer = optim.SGD(ours, **options)
    theirs = [torch.tensor(p.copy(), requires_grad=True) for p in start]
    reference = torch.optim.SGD(theirs, **options)
    for step_gradients in gradients:
        optimizer.zero_grad()
        reference.zero_grad()
        for mine, their, grad in zip(ours, theirs, step_gradients):
            mine.grad = grad.copy()
            their.grad = torch.tensor(grad.copy())
        optimizer.step()
        reference.step()
        for mine, their in zip(ours, theirs):
            np.testing.assert_allclose(mine.value, their.detach().numpy(), rtol=1e-12, atol=1e-14)
    assert optimizer._cur_step == 25


def test_sgd_defaults_to_the_original_learning_rate_and_validates_options():
    p = Tensor(np.ones(2))
    assert optim.SGD([p]).lr == 1e-4
    p.grad = np.ones(2)
    optim.SGD([p]).step()
    assert np.allclose(p.value, 1 - 1e-4)
    with pytest.raises(ValueError, match="Nesterov momentum needs momentum > 0"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="must be >= 0"):
        optim.SGD([p], lr=-1)


def test_a_course_style_optimizer_subclass_works():
    class SignSGD(optim.Optimizer):
        def __init__(self, params, lr=0.1):
            super().__init__(params)
            self.lr = lr

        def step(self):
            for param in self.params:
                param.value -= self.lr * np.sign(param.grad)
            self._cur_step += 1

    p = Tensor(np.array([1.0, -1.0]))
    optimizer = SignSGD(iter([p]))  # params may be any iterable, even a generator
    ops.reduce_sum(ops.power(p, exponent=2)).backward()
    optimizer.step()
    optimizer.zero_grad()
    assert np.allclose(p.value, [0.9, -0.9]) and optimizer._cur_step == 1 and np.all(p.grad == 0)


# -- Batches -------------------------------------------------------------------------------


def test_batches_cover_every_example_once_per_epoch():
    inputs, targets = np.arange(20).reshape(10, 2), np.arange(10)
    iterator = BatchIterator(batch_size=4)
    batches = list(iterator(inputs, targets))
    assert iterator.num_batches == 3 == len(batches)
    assert sorted(len(b.targets.value) for b in batches) == [2, 4, 4]
    seen = np.concatenate([b.targets.value for b in batches])
    assert sorted(seen) == list(range(10))
    for batch in batches:
        assert isinstance(batch, Batch) and isinstance(batch.inputs, Tensor)
        assert np.array_equal(batch.inputs.value[:, 0] // 2, batch.targets.value)  # rows stay paired
        assert not batch.inputs.requires_grad and batch.inputs.name == "x" and batch.targets.name == "y"


def test_num_batches_is_known_before_the_first_batch_and_drop_last():
    iterator = BatchIterator(batch_size=4, drop_last=True)
    batches = iterator(np.zeros((10, 1)), np.zeros(10))
    assert iterator.num_batches == 2
    assert [len(b.targets.value) for b in batches] == [4, 4]


def test_without_shuffle_the_order_is_kept():
    iterator = BatchIterator(batch_size=3, shuffle=False)
    assert [b.targets.value.tolist() for b in iterator(np.zeros((5, 1)), np.arange(5))] == [[0, 1, 2], [3, 4]]


def test_shuffling_is_reproducible_from_a_seed_or_numpys_global_seed():
    data = np.arange(50), np.arange(50)

    def epoch_orders(iterator, epochs=3):
        return [np.concatenate([b.targets.value for b in iterator(*data)]).tolist() for _ in range(epochs)]

    assert epoch_orders(BatchIterator(8, seed=3)) == epoch_orders(BatchIterator(8, seed=3))
    orders = epoch_orders(BatchIterator(8, seed=3))
    assert orders[0] != orders[1]  # a fresh order every epoch
    np.random.seed(5)
    first = epoch_orders(BatchIterator(8))
    np.random.seed(5)
    assert epoch_orders(BatchIterator(8)) == first


def original_edugrad_batches(inputs, targets, batch_size, shuffle=True):
    """The original edugrad's rule, copied here as the reference: contiguous batches, their order shuffled."""
    starts = np.arange(0, len(inputs), batch_size)
    if shuffle:
        np.random.shuffle(starts)
    for start in starts:
        end = start + batch_size
        yield inputs[start:end], targets[start:end]


@pytest.mark.parametrize("count, batch_size", [(10, 4), (64, 8), (1, 32), (100, 7), (0, 3)])
def test_default_batches_and_random_draws_are_the_original_edugrads(count, batch_size):
    inputs, targets = np.arange(2 * count).reshape(count, 2), np.arange(count)
    np.random.seed(42)
    expected = [[t.tolist() for _, t in original_edugrad_batches(inputs, targets, batch_size)] for _ in range(3)]
    expected_inputs = [i.tolist() for i, _ in original_edugrad_batches(inputs, targets, batch_size)]
    state_after = np.random.get_state()
    np.random.seed(42)
    iterator = BatchIterator(batch_size)
    ours = [[b.targets.value.tolist() for b in iterator(inputs, targets)] for _ in range(3)]
    ours_inputs = [b.inputs.value.tolist() for b in iterator(inputs, targets)]
    assert ours == expected and ours_inputs == expected_inputs
    after = np.random.get_state()
    assert after[2] == state_after[2] and np.array_equal(after[1], state_after[1])  # the same draws, no more


def test_shuffle_examples_draws_a_permutation_of_the_examples_each_epoch():
    inputs, targets = np.arange(100).reshape(50, 2), np.arange(50)
    iterator = BatchIterator(8, seed=0, shuffle_examples=True)
    first, second = ([b.targets.value.tolist() for b in iterator(inputs, targets)] for _ in range(2))
    assert sorted(sum(first, [])) == list(range(50))
    contiguous = {tuple(range(s, min(s + 8, 50))) for s in range(0, 50, 8)}
    assert not {tuple(b) for b in first} <= contiguous  # not merely the contiguous batches reordered
    assert first != second
    default = [b.targets.value.tolist() for b in BatchIterator(8, seed=0)(inputs, targets)]
    assert {tuple(b) for b in default} == contiguous


def test_mismatched_lengths_and_bad_batch_sizes_are_refused():
    with pytest.raises(ValueError, match="10 inputs but 9 targets"):
        BatchIterator()(np.zeros((10, 2)), np.zeros(9))
    with pytest.raises(ValueError, match="batch_size must be an integer of at least 1"):
        BatchIterator(batch_size=0)
    for wrong in (2.5, "32", True, None):
        with pytest.raises(ValueError, match="batch_size must be an integer"):
            BatchIterator(batch_size=wrong)


# -- A whole training run ------------------------------------------------------------------


def test_training_the_toy_mlp_reduces_the_loss_and_is_bit_for_bit_repeatable():
    def train(seed):
        np.random.seed(seed)
        inputs = np.random.randint(0, 2, (256, 10)).astype(float)
        targets = inputs.sum(axis=1, keepdims=True) / 2
        model = TwoLayersWide()
        optimizer = optim.SGD(model.parameters(), lr=0.01)
        losses = []
        for _ in range(5):
            for batch in BatchIterator(32)(inputs, targets):
                optimizer.zero_grad()
                loss = ops.mse_loss(model(batch.inputs), batch.targets)
                loss.backward()
                optimizer.step()
                losses.append(float(loss.value))
        return losses

    class TwoLayersWide(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = nn.Linear(10, 32)
            self.output = nn.Linear(32, 1)

        def forward(self, inputs):
            return self.output(ops.relu(self.hidden(inputs)))

    first, second = train(0), train(0)
    assert first == second
    assert np.mean(first[-8:]) < 0.1 * np.mean(first[:8])
