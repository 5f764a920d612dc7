"""The character language model (chapter "A character language model"): the vocabulary and its unknown
character, the add-one count baselines, sampling (shapes, seeds, temperature) and that a tiny model learns.

Tests that run an LSTM step need sigmoid and multiply, two exercises; those that train also need the
topological order (backward) and Adam: in the student edition they fail until these are solved, so they
carry the markers. The argument checks of sample stop before the model runs and carry none."""

import math

import numpy as np
import pytest

from edugrad.datasets import sst_sentences
from edugrad.experiments import set_seed
from edugrad.models.char_lm import (
    SEPARATOR, UNKNOWN, CharNgram, CharVocabulary, bits_per_character, sample, sst_text, train,
)
from edugrad.models.lstm_lm import LSTMLanguageModel, streams
from test_datasets import data_dir  # noqa: F401  (the fixture: the data, or a skip, or a failure in CI)

TEXT = "the cat sat on the mat.\nthe dog sat on the log.\n"


def runs_the_lstm(test):
    return pytest.mark.ex_lstm_step(pytest.mark.ex_multiply(pytest.mark.ex_sigmoid(test)))


def trains(test):
    return runs_the_lstm(pytest.mark.ex_topological_order(pytest.mark.ex_adam(pytest.mark.ex_clip_grad_norm(test))))


def tiny_model(vocabulary, hidden_size=16, seed=0):
    set_seed(seed)
    return LSTMLanguageModel(len(vocabulary), 8, hidden_size, num_layers=1, init_range=0.1, dtype=np.float64)


# The text and the vocabulary


def test_sst_text_is_the_sentences_each_ended_by_the_separator(data_dir):
    sentences = sst_sentences("dev")
    text = sst_text("dev")
    lines = text.split(SEPARATOR)
    assert text.endswith(SEPARATOR) and lines[-1] == "" and len(lines) - 1 == len(sentences)
    assert lines[:-1] == [" ".join(tokens) for tokens, _ in sentences]
    assert text == text.lower() and sst_text("dev", lowercase=False) != text
    assert sst_text("dev", lowercase=False).lower() == text


def test_vocabulary_round_trip_and_order():
    vocabulary = CharVocabulary(TEXT)
    assert vocabulary.characters[0] == UNKNOWN
    assert vocabulary.characters[1:] == sorted(set(TEXT))
    assert len(vocabulary) == len(set(TEXT)) + 1
    tokens = vocabulary.encode(TEXT)
    assert tokens.dtype == np.int64 and tokens.shape == (len(TEXT),)
    assert vocabulary.decode(tokens) == TEXT
    assert all(vocabulary.characters[index] == character for index, character in zip(tokens, TEXT))


def test_unseen_characters_become_unknown_and_are_listed():
    vocabulary = CharVocabulary(TEXT)
    text = "the zebra sat."
    tokens = vocabulary.encode(text)
    assert vocabulary.unknown(text) == ["z", "b", "r"]  # each once, in order of appearance
    assert [i for i, t in enumerate(tokens) if t == 0] == [i for i, c in enumerate(text) if c in "zbr"]
    assert vocabulary.decode(tokens) == f"the {UNKNOWN}e{UNKNOWN}{UNKNOWN}a sat."
    assert vocabulary.unknown(TEXT) == []


def test_unknown_in_the_training_text_is_not_duplicated():
    vocabulary = CharVocabulary("ab" + UNKNOWN)
    assert vocabulary.characters == [UNKNOWN, "a", "b"]


# The count baselines


def test_add_one_probabilities_match_hand_counts():
    vocabulary = CharVocabulary("ab")  # [UNKNOWN, a, b]: V = 3
    tokens = vocabulary.encode("abab")  # after padding with "a": contexts a,a,b,a,b for a,b,a,b
    model = CharNgram(2, len(vocabulary)).fit(tokens, padding=vocabulary.index["a"])
    # bigrams (a->a) once, (a->b) twice, (b->a) once; n(a) = 3, n(b) = 1
    expected = -np.mean(np.log2([(2 + 1) / (3 + 3), (1 + 1) / (1 + 3), (2 + 1) / (3 + 3), (1 + 1) / (1 + 3)]))
    test = vocabulary.encode("bab")  # contexts a, b, a
    assert model.bits_per_character(test) == pytest.approx(expected)
    unseen = vocabulary.encode("b" + UNKNOWN)  # (b -> UNKNOWN) never seen: 1 / (n(b) + V)
    assert model.bits_per_character(unseen) == pytest.approx(-np.mean(np.log2([3 / 6, 1 / 4])))


def test_add_one_distributions_sum_to_one():
    vocabulary = CharVocabulary(TEXT)
    tokens = vocabulary.encode(TEXT)
    for order in (1, 2, 3):
        model = CharNgram(order, len(vocabulary)).fit(tokens, vocabulary.index[SEPARATOR])
        context = list(tokens[4 : 4 + order - 1])

        def bits_of_last(c):  # the bits of c after the context: the sequence's total minus the context's
            total = order * model.bits_per_character(np.array(context + [c]))
            return total - ((order - 1) * model.bits_per_character(np.array(context)) if context else 0.0)

        assert sum(2.0 ** -bits_of_last(c) for c in range(len(vocabulary))) == pytest.approx(1.0)


def test_the_unigram_model_is_the_add_one_frequencies():
    vocabulary = CharVocabulary(TEXT)
    tokens = vocabulary.encode(TEXT)
    model = CharNgram(1, len(vocabulary)).fit(tokens, 0)
    counts = np.bincount(tokens, minlength=len(vocabulary))
    expected = -np.mean(np.log2((counts[tokens] + 1) / (len(tokens) + len(vocabulary))))
    assert model.bits_per_character(tokens) == pytest.approx(expected)


def test_ngram_order_must_be_positive():
    with pytest.raises(ValueError, match="CharNgram: order must be at least 1, got 0"):
        CharNgram(0, 10)


# Sampling


@runs_the_lstm
def test_sample_length_vocabulary_and_shapes():
    vocabulary = CharVocabulary(TEXT)
    model = tiny_model(vocabulary)
    text = sample(model, vocabulary, "the ", 40, generator=np.random.default_rng(0))
    assert isinstance(text, str) and len(text) == 40 and set(text) <= set(vocabulary.characters)
    assert sample(model, vocabulary, "t", 0) == ""
    logits, (h, c) = model(vocabulary.encode("the ")[:, None])
    assert logits.shape == (4, len(vocabulary)) and h.shape == c.shape == (1, 1, 16)


def test_streams_shape():
    tokens = np.arange(103)
    columns = streams(tokens, 4)
    assert columns.shape == (25, 4) and list(columns[:, 1]) == list(range(25, 50))


@runs_the_lstm
def test_seeded_sampling_repeats_and_different_seeds_differ():
    vocabulary = CharVocabulary(TEXT)
    model = tiny_model(vocabulary)
    draws = [sample(model, vocabulary, "the ", 60, 1.0, generator=np.random.default_rng(seed)) for seed in (5, 5, 6)]
    assert draws[0] == draws[1] and draws[0] != draws[2]
    set_seed(7)
    first = sample(model, vocabulary, "the ", 60)  # from numpy's global generator
    set_seed(7)
    assert sample(model, vocabulary, "the ", 60) == first


@runs_the_lstm
def test_temperature_towards_zero_is_the_argmax_path():
    vocabulary = CharVocabulary(TEXT)
    model = tiny_model(vocabulary, seed=3)
    from edugrad import no_grad

    with no_grad():
        logits, states = model(vocabulary.encode("the ")[:, None])
        greedy = []
        for _ in range(30):
            greedy.append(int(np.argmax(logits.value[-1])))
            logits, states = model(np.array([[greedy[-1]]]), states)
    for seed in range(3):  # whatever the uniform numbers
        assert sample(model, vocabulary, "the ", 30, 1e-8, generator=np.random.default_rng(seed)) == vocabulary.decode(greedy)


@runs_the_lstm
def test_a_draw_inverts_the_cumulative_scaled_softmax():
    """With the generator's next uniform number u, the character drawn is the first whose cumulative p exceeds u."""
    vocabulary = CharVocabulary(TEXT)
    model = tiny_model(vocabulary, seed=1)
    logits, _ = model(vocabulary.encode("the ")[:, None])
    z = logits.value[-1].astype(np.float64)
    for temperature in (0.5, 1.0, 2.0):
        p = np.exp(z / temperature) / np.exp(z / temperature).sum()  # eq-temperature
        for seed in range(40):
            u = np.random.default_rng(seed).random()
            expected = vocabulary.characters[int(np.argmax(np.cumsum(p) > u))]
            assert sample(model, vocabulary, "the ", 1, temperature, generator=np.random.default_rng(seed)) == expected


@pytest.mark.parametrize("temperature", [0, -1.0, float("nan")])
def test_sample_refuses_a_temperature_that_is_not_positive(temperature):
    vocabulary = CharVocabulary(TEXT)
    with pytest.raises(ValueError, match=r"sample: temperature must be positive, got"):
        sample(None, vocabulary, "the ", 5, temperature)


def test_sample_refuses_unknown_characters_and_an_empty_prompt():
    vocabulary = CharVocabulary(TEXT)
    with pytest.raises(ValueError, match=r"sample: the prompt has characters the vocabulary lacks: \['z', 'q', 'u', 'i'\]"):
        sample(None, vocabulary, "zoo quiz", 5)
    with pytest.raises(ValueError, match="sample: the prompt must have at least one character"):
        sample(None, vocabulary, "", 5)


# Learning


@trains
def test_a_tiny_model_learns_a_tiny_text():
    """It must beat the unigram entropy, which no model without context can: a bound reached only by learning."""
    text = TEXT * 8
    vocabulary = CharVocabulary(text)
    tokens = vocabulary.encode(text)
    counts = np.bincount(tokens, minlength=len(vocabulary))
    frequencies = counts[counts > 0] / counts.sum()
    unigram_entropy = -np.sum(frequencies * np.log2(frequencies))
    model = tiny_model(vocabulary, hidden_size=32)
    before = bits_per_character(model, tokens, batch_size=2, steps=20)
    history = train(model, tokens, tokens, epochs=30, lr=1e-2, batch_size=2, steps=20, pieces=1)
    assert before > math.log2(len(vocabulary)) - 0.2  # it started out knowing nothing
    assert history["dev_bits"][-1] < 0.5 * unigram_entropy
    assert history["dev_bits"][-1] == pytest.approx(bits_per_character(model, tokens))  # the defaults train uses
    assert len(history["train_bits"]) == 30 and history["characters"][-1] == 30 * (len(tokens) // 2 - 1) * 2


@runs_the_lstm
def test_bits_per_character_is_log2_of_the_perplexity():
    from edugrad.models.lstm_lm import perplexity

    vocabulary = CharVocabulary(TEXT)
    tokens = vocabulary.encode(TEXT)
    model = tiny_model(vocabulary)
    assert bits_per_character(model, tokens, batch_size=1, steps=35) == pytest.approx(math.log2(perplexity(model, tokens)))
