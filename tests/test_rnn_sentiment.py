"""Padding and masking for recurrent sentence classifiers (chapter "Recurrent networks for sentiment").

The last real state and the masked mean of a padded batch against each sentence run alone, their
gradients, the classifier's logits, the errors, and PyTorch's packed sequences (float64, 1e-10)."""

import itertools

import numpy as np
import pytest

from edugrad import Tensor, nn, ops
from edugrad.checking import gradcheck, weighted_sum
from edugrad.data import pad_sequences
from edugrad.experiments import set_seed
from edugrad.models.rnn_sentiment import RecurrentClassifier, accuracy, last_real_state, masked_mean

LENGTHS = np.array([5, 2, 3, 1])
CASES = list(itertools.product(["RNN", "LSTM"], [False, True]))


def needs_the_exercises(kind):
    """An LSTM step uses sigmoid and multiply, two exercises of the elementwise chapter."""
    return [pytest.mark.ex_multiply, pytest.mark.ex_sigmoid, pytest.mark.ex_lstm_step] if kind == "LSTM" else []


def cases(extra=()):
    return [pytest.param(kind, batch_first, *more, marks=needs_the_exercises(kind))
            for (kind, batch_first), more in itertools.product(CASES, extra or [()])]


def padded_inputs(rng, batch_first, input_size=3):
    """Random inputs for sentences of LENGTHS, and non-zero garbage at the pad steps: [batch, time, input]."""
    x = rng.standard_normal((len(LENGTHS), LENGTHS.max(), input_size))
    return x if batch_first else x.transpose(1, 0, 2).copy()  # [time, batch, input]


def sentence(x, b, batch_first):
    """Sentence b's real steps, [length, input], without padding."""
    return x[b, : LENGTHS[b]] if batch_first else x[: LENGTHS[b], b]


def module(kind, batch_first):
    set_seed(0)
    return getattr(nn, kind)(3, 4, batch_first=batch_first)


def final_hidden(final):
    return final[0] if isinstance(final, tuple) else final  # LSTM: (h_n, c_n)


@pytest.mark.parametrize("kind, batch_first", cases())
def test_last_real_state_equals_each_sentence_run_alone(rng, kind, batch_first):
    recurrent, x = module(kind, batch_first), padded_inputs(rng, batch_first)
    states, final = recurrent(Tensor(x, requires_grad=False))
    last = last_real_state(states, LENGTHS, batch_first=batch_first).value  # [batch, hidden]
    alone = np.stack([final_hidden(recurrent(sentence(x, b, batch_first))[1]).value[-1] for b in range(len(LENGTHS))])
    np.testing.assert_allclose(last, alone, rtol=0, atol=1e-12)
    # The module's own final state is the one after the padding, and differs for every shorter sentence.
    after_padding = final_hidden(final).value[-1]
    assert np.allclose(after_padding[0], alone[0]) and not np.allclose(after_padding[1:], alone[1:], atol=1e-3)


@pytest.mark.parametrize("kind, batch_first", cases())
def test_the_gradient_of_the_last_real_states_reaches_only_real_steps(rng, kind, batch_first):
    recurrent, x_values = module(kind, batch_first), padded_inputs(rng, batch_first)
    weights = rng.standard_normal((len(LENGTHS), 4))
    x = Tensor(x_values, name="x")
    states, _ = recurrent(x)
    weighted_sum(last_real_state(states, LENGTHS, batch_first=batch_first), weights).backward()
    grad = x.grad if batch_first else x.grad.transpose(1, 0, 2)  # [batch, time, input]
    real = np.arange(LENGTHS.max()) < LENGTHS[:, None]
    assert (grad[~real] == 0).all() and (np.abs(grad[real]).sum(axis=-1) > 0).all()
    for b in range(len(LENGTHS)):  # the same gradient as each sentence alone
        alone = Tensor(sentence(x_values, b, batch_first), name="alone")
        weighted_sum(final_hidden(recurrent(alone)[1])[-1], weights[b]).backward()
        np.testing.assert_allclose(grad[b, : LENGTHS[b]], alone.grad, rtol=0, atol=1e-12)


@pytest.mark.parametrize("batch_first", [False, True])
def test_last_real_state_and_masked_mean_gradients_check_out(rng, batch_first):
    states = Tensor(padded_inputs(rng, batch_first, input_size=2), name="states")
    mask = np.arange(LENGTHS.max()) < LENGTHS[:, None]
    assert gradcheck(lambda h: last_real_state(h, LENGTHS, batch_first=batch_first), states)
    assert gradcheck(lambda h: masked_mean(h, mask, batch_first=batch_first), states)


@pytest.mark.parametrize("kind, batch_first", cases())
def test_masked_mean_equals_each_sentence_mean_and_ignores_the_pads(rng, kind, batch_first):
    recurrent, x_values = module(kind, batch_first), padded_inputs(rng, batch_first)
    mask = np.arange(LENGTHS.max()) < LENGTHS[:, None]  # [batch, time] in both layouts
    x = Tensor(x_values, name="x")
    states, _ = recurrent(x)
    mean = masked_mean(states, mask, batch_first=batch_first)
    alone = np.stack([recurrent(sentence(x_values, b, batch_first))[0].value.mean(axis=0) for b in range(len(LENGTHS))])
    np.testing.assert_allclose(mean.value, alone, rtol=0, atol=1e-12)
    ops.reduce_sum(mean).backward()
    grad = x.grad if batch_first else x.grad.transpose(1, 0, 2)
    assert (grad[~mask] == 0).all() and (grad[mask] != 0).any()


@pytest.mark.parametrize("kind, batch_first, pooling", cases([("last",), ("mean",)]))
def test_the_classifier_scores_a_padded_batch_as_each_sentence_alone(kind, batch_first, pooling):
    set_seed(1)
    classifier = RecurrentClassifier(12, 5, cell=kind.lower(), embedding_dim=3, hidden_size=4, pooling=pooling,
                                     batch_first=batch_first, dtype=np.float64).eval()
    sentences = [[3, 1, 4, 1, 5], [9, 2], [6, 5, 3], [5]]
    padded = classifier(pad_sequences(sentences)).value  # [4, 5]
    alone = np.concatenate([classifier(pad_sequences([s])).value for s in sentences])
    np.testing.assert_allclose(padded, alone, rtol=0, atol=1e-12)
    loss = ops.cross_entropy(classifier.train()(pad_sequences(sentences)), np.array([0, 1, 2, 3]))
    loss.backward()
    assert classifier.embedding.weight.grad is not None and np.isfinite(float(loss.value))


def test_accuracy_puts_the_predictions_back_in_the_sentences_order():
    set_seed(2)
    classifier = RecurrentClassifier(12, 3, cell="rnn", embedding_dim=3, hidden_size=4, dtype=np.float64)
    sentences = [[3, 1, 4, 1, 5], [9], [2, 6, 5], [3, 5], [8, 9, 7, 9]]
    predictions = np.array([classifier.eval()(pad_sequences([s])).value.argmax() for s in sentences])
    assert accuracy(classifier, (sentences, predictions), batch_size=2) == 1.0
    wrong = (predictions + 1) % 3
    assert accuracy(classifier, (sentences, np.where(np.arange(5) < 2, predictions, wrong)), batch_size=2) == 0.4
    assert classifier.training  # accuracy restores training mode


def test_bad_lengths_are_refused_with_the_op_and_shapes():
    states = Tensor(np.zeros((4, 5, 3)), requires_grad=False)  # batch_first: [batch 4, time 5, hidden 3]
    with pytest.raises(ValueError, match=r"last_real_state: lengths must lie in \[1, 5\].*from 0 to 5"):
        last_real_state(states, np.array([5, 0, 3, 1]), batch_first=True)
    with pytest.raises(ValueError, match=r"last_real_state: lengths must lie in \[1, 5\].*from 1 to 6"):
        last_real_state(states, np.array([6, 2, 3, 1]), batch_first=True)
    with pytest.raises(ValueError, match=r"last_real_state: expects one integer length per sentence, shape \(4,\); got int64 of shape \(3,\)"):
        last_real_state(states, np.array([5, 2, 3]), batch_first=True)
    with pytest.raises(ValueError, match=r"shape \(5,\); got float64 of shape \(5,\)"):
        last_real_state(states, np.array([4.0, 2, 3, 1, 1]))  # time-major: batch 5
    with pytest.raises(ValueError, match=r"last_real_state: expects states with 3 axes, got shape \(4, 5\)"):
        last_real_state(Tensor(np.zeros((4, 5)), requires_grad=False), LENGTHS)


def test_bad_masks_are_refused_with_the_op_and_shapes():
    states = Tensor(np.zeros((4, 5, 3)), requires_grad=False)  # batch_first: [batch 4, time 5, hidden 3]
    mask = np.arange(5) < LENGTHS[:, None]  # [4, 5]
    with pytest.raises(ValueError, match=r"masked_mean: expects a boolean mask \[batch, time\] of shape \(4, 5\) "
                                         r"for states of shape \(4, 5, 3\) \(batch_first=True\); got bool of shape \(5, 4\)"):
        masked_mean(states, mask.T, batch_first=True)
    with pytest.raises(ValueError, match=r"got bool of shape \(4, 5, 1\)"):
        masked_mean(states, mask[..., None], batch_first=True)
    with pytest.raises(ValueError, match=r"got int64 of shape \(4, 5\)"):
        masked_mean(states, mask.astype(np.int64), batch_first=True)
    with pytest.raises(ValueError, match=r"masked_mean: sentences \[1\] have no real token"):
        masked_mean(states, mask & (np.arange(4) != 1)[:, None], batch_first=True)


def test_the_classifier_refuses_unknown_options():
    with pytest.raises(ValueError, match="cell must be 'rnn' or 'lstm', got 'gru'"):
        RecurrentClassifier(10, 2, cell="gru")
    with pytest.raises(ValueError, match="pooling must be 'last' or 'mean', got 'max'"):
        RecurrentClassifier(10, 2, pooling="max")


@pytest.mark.parametrize("kind, batch_first", cases())
def test_last_real_state_matches_torch_packed_sequences(torch, rng, kind, batch_first):
    """pack_padded_sequence runs each sentence for its length: its h_n is our last real state, and so are the gradients."""
    torch.manual_seed(0)
    theirs = getattr(torch.nn, kind)(3, 4, batch_first=batch_first).double()
    ours = getattr(nn, kind)(3, 4, batch_first=batch_first)
    ours.load_state_dict({name: value.detach().numpy().astype(np.float64) for name, value in theirs.state_dict().items()})
    x_values, weights = padded_inputs(rng, batch_first), rng.standard_normal((len(LENGTHS), 4))

    x_theirs = torch.tensor(x_values, requires_grad=True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x_theirs, torch.tensor(LENGTHS), batch_first=batch_first,
                                                     enforce_sorted=False)
    h_n = final_hidden(theirs(packed)[1])[-1]  # [batch, hidden], in the batch's own order
    (h_n * torch.tensor(weights)).sum().backward()

    x_ours = Tensor(x_values, name="x")
    last = last_real_state(ours(x_ours)[0], LENGTHS, batch_first=batch_first)
    weighted_sum(last, weights).backward()
    np.testing.assert_allclose(last.value, h_n.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(x_ours.grad, x_theirs.grad.numpy(), rtol=0, atol=1e-10)
    for name, parameter in theirs.named_parameters():
        np.testing.assert_allclose(getattr(ours, name).grad, parameter.grad.numpy(), rtol=0, atol=1e-10)
