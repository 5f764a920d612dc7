"""The LSTM language model of the chapter "An LSTM language model": streams and chunks, the model against
PyTorch with copied weights, the loss scale, truncated BPTT, perplexity, and the schedule.

Every test that runs an LSTM step needs the exercises sigmoid, multiply and the LSTM's step; the ones that train need
clip_grad_norm_ too, so they carry those markers."""

import math

import numpy as np
import pytest

from edugrad import Tensor, ops
from edugrad.experiments import set_seed
from edugrad.models.lstm_lm import (
    LSTMLanguageModel, chunks, perplexity, perplexity_without_carried_state, run_epoch, streams, train,
)


def runs_lstm(test):
    return pytest.mark.ex_lstm_step(pytest.mark.ex_multiply(pytest.mark.ex_sigmoid(test)))


def trains(test):
    return runs_lstm(pytest.mark.ex_clip_grad_norm(test))


def test_streams_are_contiguous_columns_and_drop_the_remainder():
    columns = streams(np.arange(20), batch_size=3)
    assert columns.shape == (6, 3)
    for b in range(3):
        np.testing.assert_array_equal(columns[:, b], np.arange(6 * b, 6 * b + 6))
    np.testing.assert_array_equal(streams(list(range(5)), 1)[:, 0], np.arange(5))


@pytest.mark.parametrize("length, steps", [(6, 4), (7, 3), (2, 5), (10, 1)])
def test_chunks_cover_every_target_once_and_targets_are_the_next_tokens(length, steps):
    columns = streams(np.arange(length * 2), batch_size=2)
    pieces = list(chunks(columns, steps))
    assert all(1 <= len(inputs) <= steps and inputs.shape == targets.shape for inputs, targets in pieces)
    np.testing.assert_array_equal(np.concatenate([inputs for inputs, _ in pieces]), columns[:-1])
    np.testing.assert_array_equal(np.concatenate([targets for _, targets in pieces]), columns[1:])


def small_model(vocabulary=11, dtype=np.float64, seed=0):
    set_seed(seed)
    return LSTMLanguageModel(vocabulary, embedding_dim=5, hidden_size=6, num_layers=2, dtype=dtype)


def test_weights_start_uniform_in_the_init_range():
    model = small_model()
    for parameter in model.parameters():
        assert parameter.value.dtype == np.float64
        assert np.all(np.abs(parameter.value) <= 0.1) and np.std(parameter.value) > 0.02


@runs_lstm
def test_model_matches_pytorch_logits_states_and_gradients(torch):
    model = small_model()
    embedding, lstm = torch.nn.Embedding(11, 5).double(), torch.nn.LSTM(5, 6, 2).double()
    output = torch.nn.Linear(6, 11).double()
    with torch.no_grad():  # the same weights in both; our Linear's weight is [in, out], torch's [out, in]
        embedding.weight.copy_(torch.tensor(model.embedding.weight.value))
        for name, value in lstm.named_parameters():
            value.copy_(torch.tensor(getattr(model.lstm, name).value))
        output.weight.copy_(torch.tensor(model.output.weight.value.T))
        output.bias.copy_(torch.tensor(model.output.bias.value))
    rng = np.random.default_rng(0)
    tokens, targets = rng.integers(0, 11, (7, 3)), rng.integers(0, 11, (7, 3))
    logits, (h, c) = model(tokens)
    loss = ops.cross_entropy(logits, targets.reshape(-1), reduction="sum") / 3
    loss.backward()
    their_outputs, (their_h, their_c) = lstm(embedding(torch.tensor(tokens)))
    their_logits = output(their_outputs.reshape(-1, 6))
    their_loss = torch.nn.functional.cross_entropy(their_logits, torch.tensor(targets.reshape(-1)), reduction="sum") / 3
    their_loss.backward()
    np.testing.assert_allclose(logits.value, their_logits.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h.value, their_h.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c.value, their_c.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(model.embedding.weight.grad, embedding.weight.grad.numpy(), rtol=1e-10, atol=1e-13)
    for name, value in lstm.named_parameters():
        np.testing.assert_allclose(getattr(model.lstm, name).grad, value.grad.numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(model.output.weight.grad, output.weight.grad.numpy().T, rtol=1e-10, atol=1e-13)


@runs_lstm
def test_a_uniform_model_has_the_vocabulary_size_as_perplexity():
    model = small_model()
    for parameter in model.output.parameters():
        parameter.value = np.zeros_like(parameter.value)  # every logit 0: the uniform distribution
    assert perplexity(model, np.arange(40) % 11) == pytest.approx(11, rel=1e-12)
    assert perplexity_without_carried_state(model, np.arange(40) % 11, steps=7) == pytest.approx(11, rel=1e-12)


@runs_lstm
def test_perplexity_is_exp_of_the_mean_loss_of_every_token_but_the_first():
    model = small_model()
    tokens = np.random.default_rng(3).integers(0, 11, 50)
    logits, _ = model(tokens[:-1].reshape(-1, 1))  # the whole text in one graph
    mean_loss = ops.cross_entropy(logits, tokens[1:]).value
    assert perplexity(model, tokens, steps=8) == pytest.approx(math.exp(mean_loss), rel=1e-10)


@runs_lstm
def test_resetting_the_state_per_chunk_equals_scoring_each_chunk_alone():
    model = small_model()
    tokens = np.random.default_rng(4).integers(0, 11, 30)
    losses = []
    for start in range(0, 29, 10):
        piece = tokens[start : start + 11]
        logits, _ = model(piece[:-1].reshape(-1, 1))
        losses.append(ops.cross_entropy(logits, piece[1:], reduction="sum").value)
    expected = math.exp(sum(losses) / 29)
    assert perplexity_without_carried_state(model, tokens, steps=10) == pytest.approx(expected, rel=1e-10)
    assert perplexity(model, tokens, steps=10) != pytest.approx(expected, rel=1e-6)  # carrying the state changes it


class Recorder:
    """An optimizer that records the gradients it is given and changes nothing."""

    def __init__(self, parameters):
        self.parameters, self.steps = list(parameters), []

    def zero_grad(self):
        for parameter in self.parameters:
            parameter.grad = None

    def step(self):
        self.steps.append({id(p): np.array(p.grad) for p in self.parameters})


@trains
def test_a_training_chunk_backpropagates_its_own_steps_only_at_the_sum_over_time_mean_over_streams_scale():
    model = small_model()
    columns = streams(np.random.default_rng(5).integers(0, 11, 24), batch_size=2)  # 12 steps: chunks of 5, 5, 1
    recorder = Recorder(model.parameters())
    run_epoch(model, columns, steps=5, optimizer=recorder, max_norm=1e9)
    assert len(recorder.steps) == 3
    # the second chunk's gradient: its own graph from the first chunk's final state, detached
    model.eval()
    _, states = model(columns[:5])
    states = tuple(Tensor(s.value, requires_grad=False) for s in states)
    model.train()
    for parameter in model.parameters():
        parameter.grad = None
    logits, _ = model(columns[5:10], states)
    (ops.cross_entropy(logits, columns[6:11].reshape(-1), reduction="sum") / 2).backward()
    for parameter in model.parameters():
        np.testing.assert_allclose(recorder.steps[1][id(parameter)], parameter.grad, rtol=1e-10, atol=1e-14)


@trains
def test_training_learns_a_repeating_text_and_follows_the_schedule():
    text = np.tile(np.arange(11), 30)
    corpus = {"train": text, "valid": text[:60], "test": text[:60]}
    set_seed(0)  # wider than small_model, and a wider start: 66 updates suffice
    model = LSTMLanguageModel(11, embedding_dim=8, hidden_size=16, num_layers=2, init_range=1.0, dtype=np.float64)
    before = perplexity(model, corpus["valid"])
    rows = []
    history = train(model, corpus, epochs=6, lr=1.0, decay=0.5, decay_after=2, batch_size=3, steps=10, log=rows.append)
    assert history["lr"] == [1.0, 1.0, 0.5, 0.25, 0.125, 0.0625]
    assert len(rows) == 6 and rows[-1]["valid_perplexity"] == history["valid_perplexity"][-1]
    assert before > 9 and history["test_perplexity"] < 2, (before, history["test_perplexity"])


@trains
def test_seeded_training_is_bit_for_bit_repeatable():
    corpus = {"train": np.random.default_rng(6).integers(0, 11, 120), "valid": np.arange(30) % 11, "test": np.arange(30) % 11}
    results = []
    for _ in range(2):
        model = small_model(dtype=np.float32, seed=7)
        results.append(train(model, corpus, epochs=2, batch_size=2, steps=7)["test_perplexity"])
    assert results[0] == results[1]
