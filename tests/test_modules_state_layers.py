"""Module names, modes and state; layers; dropout (chapters Names/modes/saving, Layers, Regularization)."""

import os
import pickle

import numpy as np
import pytest

from edugrad import Tensor, nn, ops
from edugrad.checking import weighted_sum


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(4, 3)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(ops.tanh(self.hidden(x)))


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.output = nn.Linear(3, 2)
        self.register_buffer("calls", np.zeros(1))

    def forward(self, x):
        return self.output(self.encoder(x))


def test_named_parameters_are_dotted_and_unique():
    model = Classifier()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["encoder.hidden.weight", "encoder.hidden.bias", "output.weight", "output.bias"]
    model.tied = model.output.weight  # as in PyTorch: listed once, under its first name
    assert [name for name, _ in model.named_parameters()] == ["tied", "encoder.hidden.weight", "encoder.hidden.bias", "output.bias"]
    assert [p for _, p in model.named_parameters()] == model.parameters()


def test_children_and_modules():
    model = Classifier()
    assert list(model.children()) == [model.encoder, model.output]
    assert list(model.modules()) == [model, model.encoder, model.encoder.hidden, model.encoder.drop, model.output]
    assert [name for name, _ in model.named_modules()] == ["", "encoder", "encoder.hidden", "encoder.drop", "output"]


def test_train_and_eval_propagate_and_return_the_module():
    model = Classifier()
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    assert model.train() is model and all(m.training for m in model.modules())
    x = Tensor(np.ones((2, 4)))
    model.eval()
    assert np.array_equal(model(x).value, model(x).value)  # no dropout in eval


def test_state_dict_holds_copies_of_parameters_and_buffers():
    model = Classifier()
    state = model.state_dict()
    assert list(state) == ["encoder.hidden.weight", "encoder.hidden.bias", "output.weight", "output.bias", "calls"]
    state["output.weight"][...] = 99
    assert not np.any(model.output.weight.value == 99)


def test_load_state_dict_round_trip_in_place_and_buffers():
    np.random.seed(0)
    source, target = Classifier(), Classifier()
    source.calls = np.array([7.0])
    weight_array = target.output.weight.value
    target.load_state_dict(source.state_dict())
    for (_, a), (_, b) in zip(source.named_parameters(), target.named_parameters()):
        assert np.array_equal(a.value, b.value)
    assert target.output.weight.value is weight_array  # loaded in place: optimizers keep working
    assert target.calls[0] == 7.0


def test_load_state_dict_reports_missing_unexpected_and_shape_mismatch_before_changing_anything():
    model = Classifier()
    before = model.state_dict()
    state = model.state_dict()
    del state["output.bias"]
    state["extra"] = np.zeros(2)
    with pytest.raises(KeyError, match=r"missing keys \['output.bias'\], unexpected keys \['extra'\]"):
        model.load_state_dict(state)
    state = {name: np.zeros_like(value) for name, value in before.items()}
    state["output.weight"] = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"output.weight has shape \(3, 2\) here but \(2, 3\) in the state"):
        model.load_state_dict(state)
    assert all(np.array_equal(a, b) for a, b in zip(before.values(), model.state_dict().values()))


def test_save_and_load_npz(tmp_path):
    np.random.seed(1)
    model, restored = Classifier(), Classifier()
    model.save(tmp_path / "model.npz")
    restored.load(tmp_path / "model.npz")
    assert all(np.array_equal(a, b) for a, b in zip(model.state_dict().values(), restored.state_dict().values()))


def test_loading_a_file_that_needs_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    malicious = tmp_path / "malicious.npz"
    np.savez(malicious, **{"output.weight": np.array([Payload()], dtype=object)})
    with pytest.raises(ValueError, match="malicious.npz: contains Python objects, not plain arrays; refusing"):
        Classifier().load(malicious)
    raw_pickle = tmp_path / "raw.npz"
    raw_pickle.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ValueError, match="raw.npz: contains Python objects"):
        Classifier().load(raw_pickle)
    assert not marker.exists()


def test_loading_garbage_or_a_wrong_file_is_a_clear_error(tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(ValueError, match="garbage.npz: not a readable .npz file"):
        Classifier().load(garbage)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(ValueError, match="expected an .npz archive of named arrays"):
        Classifier().load(single)
    other = tmp_path / "other.npz"
    nn.Linear(3, 3).save(other)
    with pytest.raises(KeyError, match="missing keys"):
        Classifier().load(other)


# -- Layers ----------------------------------------------------------------------------


def test_sequential_chains_names_and_indexes():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert [name for name, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(model) == 3 and isinstance(model[1], nn.ReLU) and list(model)[2] is model[-1]
    x = np.random.standard_normal((4, 2))
    expected = model[2](ops.relu(model[0](Tensor(x)))).value
    assert np.array_equal(model(Tensor(x)).value, expected)
    with pytest.raises(TypeError, match="Sequential: element 1 is a function, not a Module"):
        nn.Sequential(nn.Linear(2, 2), ops.relu)


@pytest.mark.parametrize(
    "module, op",
    [(nn.ReLU(), ops.relu), (nn.Tanh(), ops.tanh), pytest.param(nn.Sigmoid(), ops.sigmoid, marks=pytest.mark.ex_sigmoid)],
    ids=["ReLU", "Tanh", "Sigmoid"],
)
def test_activation_modules_match_their_ops(module, op):
    x = Tensor(np.linspace(-3, 3, 7))
    assert np.array_equal(module(x).value, op(x).value)
    assert module.parameters() == []


@pytest.mark.ex_scatter_add
def test_embedding_matches_torch_including_the_padding_row(torch):
    np.random.seed(0)
    embedding = nn.Embedding(6, 3, padding_idx=0)
    assert np.all(embedding.weight.value[0] == 0)
    indices = np.array([[1, 0, 4, 4], [5, 5, 0, 0]])
    out = embedding(indices)
    weights = np.random.standard_normal(out.shape)
    weighted_sum(out, weights).backward()

    reference = torch.nn.Embedding(6, 3, padding_idx=0).double()
    with torch.no_grad():
        reference.weight.copy_(torch.tensor(embedding.weight.value))
    expected = reference(torch.tensor(indices))
    (expected * torch.tensor(weights)).sum().backward()
    np.testing.assert_array_equal(out.value, expected.detach().numpy())
    np.testing.assert_allclose(embedding.weight.grad, reference.weight.grad.numpy(), rtol=1e-12)
    assert np.all(embedding.weight.grad[0] == 0)


def test_embedding_rejects_a_padding_index_outside_the_table():
    with pytest.raises(ValueError, match="Embedding: padding_idx 6 is not a row of 6"):
        nn.Embedding(6, 3, padding_idx=6)


# -- Dropout ------------------------------------------------------------------------------


def test_dropout_keeps_the_mean_and_drops_the_right_fraction():
    np.random.seed(0)
    out = ops.dropout(Tensor(np.ones(200_000)), p=0.3).value
    assert abs((out == 0).mean() - 0.3) < 0.005
    assert np.allclose(out[out != 0], 1 / 0.7)
    assert abs(out.mean() - 1) < 0.01


def test_dropout_backward_uses_the_forward_mask_and_eval_is_the_identity():
    np.random.seed(1)
    x = Tensor(np.random.standard_normal((5, 6)))
    y = ops.dropout(x, p=0.5)
    ops.reduce_sum(y).backward()
    assert np.array_equal(x.grad != 0, y.value != 0)
    assert np.allclose(x.grad[x.grad != 0], 2.0)
    assert ops.dropout(x, p=0.5, training=False).value is x.value
    assert np.all(ops.dropout(x, p=1.0).value == 0)


def test_dropout_is_reproducible_under_numpys_seed_and_float32_stays_float32():
    np.random.seed(5)
    first = ops.dropout(Tensor(np.ones(50, dtype=np.float32)), p=0.4).value
    np.random.seed(5)
    second = ops.dropout(Tensor(np.ones(50, dtype=np.float32)), p=0.4).value
    assert np.array_equal(first, second) and first.dtype == np.float32


def test_dropout_module_follows_train_and_eval_and_matches_torch_statistics(torch):
    layer = nn.Dropout(0.25)
    x = Tensor(np.ones((400, 500)))
    assert layer.eval()(x).value is x.value
    layer.train()
    ours = layer(x).value
    theirs = torch.nn.functional.dropout(torch.ones(400, 500, dtype=torch.float64), p=0.25, training=True).numpy()
    for sample in (ours, theirs):
        assert abs((sample == 0).mean() - 0.25) < 0.01
        assert np.allclose(sample[sample != 0], 1 / 0.75)


def test_dropout_refuses_probabilities_outside_0_1():
    with pytest.raises(ValueError, match=r"dropout: p is a probability, in \[0, 1\], got 1.5"):
        ops.dropout(Tensor(np.ones(2)), p=1.5)
    with pytest.raises(ValueError, match=r"Dropout: p is a probability"):
        nn.Dropout(-0.1)


def test_word_dropout_on_index_batches():
    np.random.seed(0)
    batch = np.arange(1, 20_001).reshape(200, 100)
    batch[:, 80:] = 0  # padding
    dropped = nn.WordDropout(0.3)(batch)
    real = batch != 0
    assert abs((dropped[real] == 0).mean() - 0.3) < 0.01
    assert np.all(dropped[~real] == 0)
    assert np.all((dropped == batch) | (dropped == 0))
    one_word = np.array([[5, 0, 0]] * 500)
    assert np.all(nn.WordDropout(0.9)(one_word)[:, 0] == 5)  # a sentence never loses all its words
    tensor = Tensor(batch, requires_grad=False)
    assert isinstance(nn.WordDropout(0.3)(tensor), Tensor)


def test_word_dropout_on_count_matrices_and_in_eval():
    np.random.seed(0)
    counts = np.random.randint(0, 4, (300, 50))
    dropped = nn.WordDropout(0.3, input="counts")(counts)
    assert np.all(dropped <= counts) and np.all(dropped >= 0)
    assert abs(dropped.sum() / counts.sum() - 0.7) < 0.01
    assert np.all(dropped.sum(axis=1)[counts.sum(axis=1) > 0] > 0)
    layer = nn.WordDropout(0.3, input="counts").eval()
    assert layer(counts) is counts
    with pytest.raises(ValueError, match="input must be 'indices' or 'counts'"):
        nn.WordDropout(0.3, input="bags")
