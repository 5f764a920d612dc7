"""The course's models: their pieces, on small inputs (chapters DAN, NPLM, SGNS)."""

import math
from collections import Counter

import numpy as np
import pytest

from edugrad import Tensor, gradcheck, ops
from edugrad.data import pad_sequences
from edugrad.models import dan, nplm, sgns


def test_dan_averages_only_real_words_and_nbow_has_no_hidden_layers():
    np.random.seed(0)
    model = dan.DeepAveragingNetwork(10, 3, embedding_dim=4, hidden_size=5, num_layers=2, word_dropout=0.0, dtype=np.float64)
    batch = pad_sequences([[3, 4], [5]])
    scores = model(batch)
    table = model.embedding.weight.value
    expected_first = (table[3] + table[4]) / 2
    hidden = model.hidden(Tensor(expected_first[None])).value
    assert np.allclose(scores.value[0], model.output(Tensor(hidden)).value[0])
    assert scores.shape == (2, 3)
    assert len(dan.DeepAveragingNetwork(10, 3, num_layers=0).hidden) == 0


def test_dan_gradients_check_out():
    np.random.seed(1)
    model = dan.DeepAveragingNetwork(8, 2, embedding_dim=3, hidden_size=4, num_layers=1, word_dropout=0.0, dtype=np.float64)
    batch = pad_sequences([[1, 2, 3], [4, 4]])
    targets = np.array([0, 1])
    assert gradcheck(lambda w1, w2: ops.cross_entropy(model(batch), targets), model.hidden[0].weight, model.output.weight)


def test_dan_starts_every_parameter_uniform_in_its_range_with_a_zero_padding_row():
    np.random.seed(2)
    model = dan.DeepAveragingNetwork(50, 5, embedding_dim=6, hidden_size=7, num_layers=3, init_range=0.08)
    for name, parameter in model.named_parameters():
        assert np.abs(parameter.value).max() <= 0.08, name
        assert np.abs(parameter.value).max() > 0.04, name  # drawn over the whole range, not left at another default
    assert np.all(model.embedding.weight.value[0] == 0)
    assert len(model.hidden) == 6  # three Linear + ReLU pairs


def test_nbow_is_a_linear_classifier_of_the_average_vector():
    np.random.seed(3)
    model = dan.DeepAveragingNetwork(10, 5, embedding_dim=4, num_layers=0, word_dropout=0.0, dtype=np.float64)
    batch = pad_sequences([[1, 2, 3], [4], [5, 5]])
    table, weight, bias = model.embedding.weight.value, model.output.weight.value, model.output.bias.value
    averages = np.stack([table[[1, 2, 3]].mean(axis=0), table[4], table[5]])
    assert np.allclose(model(batch).value, averages @ weight + bias)


def test_dan_word_dropout_averages_the_kept_words_in_training_only():
    np.random.seed(4)
    model = dan.DeepAveragingNetwork(20, 3, embedding_dim=4, hidden_size=5, num_layers=1, word_dropout=0.5,
                                     dtype=np.float64)
    batch = pad_sequences([[3, 4, 5, 6, 7, 8], [9, 10, 11, 12], [13]])
    np.random.seed(5)
    kept = model.word_dropout(batch.indices)
    assert (kept == 0).sum() > (batch.indices == 0).sum()  # this draw drops some words
    np.random.seed(5)
    training_scores = model(batch).value
    model.eval()
    expected = model(pad_sequences([row[row != 0] for row in kept])).value  # the kept words, nothing rescaled
    assert np.allclose(training_scores, expected)
    assert np.allclose(model(batch).value, model(batch).value)  # evaluation mode drops nothing
    model.train()
    np.random.seed(6)
    lonely = pad_sequences([[13]])
    assert all(np.allclose(model(lonely).value, expected[2:3]) for _ in range(20))  # a lone word is never dropped


@pytest.mark.ex_scatter_add  # Adagrad's row-sparse update of the word vectors
def test_dan_training_decays_the_layers_but_not_the_word_vectors():
    np.random.seed(7)
    model = dan.DeepAveragingNetwork(12, 2, embedding_dim=4, hidden_size=5, num_layers=1, word_dropout=0.0,
                                     dtype=np.float64)
    train = ([np.array([1, 2]), np.array([3]), np.array([2, 3])] * 4, np.array([0, 1, 1] * 4))
    data = {"train": train, "dev": train, "test": train}
    unused_before = model.embedding.weight.value[11].copy()  # word 11 occurs in no training phrase
    layer_before = model.hidden[0].weight.value.copy()
    history = dan.train(model, data, epochs=2, batch_size=4, l2=1.0)
    assert len(history["train_loss"]) == len(history["dev_accuracy"]) == 2 and 0 <= history["test_accuracy"] <= 1
    assert np.array_equal(model.embedding.weight.value[11], unused_before)
    assert not np.allclose(model.hidden[0].weight.value, layer_before)
    norms = {}
    for l2 in (0.0, 40.0):  # the same start and the same batches, with and without the penalty
        np.random.seed(8)
        twin = dan.DeepAveragingNetwork(12, 2, embedding_dim=4, hidden_size=5, num_layers=1, word_dropout=0.0,
                                        dtype=np.float64)
        dan.train(twin, data, epochs=3, batch_size=4, l2=l2)
        norms[l2] = np.abs(twin.hidden[0].weight.value).sum()
    assert norms[40.0] < 0.9 * norms[0.0], norms


def test_kneser_ney_is_a_probability_distribution_over_the_vocabulary():
    words = "the cat sat on the mat . the dog sat on the log . a cat saw the dog .".split()
    for order in (2, 3):
        model = nplm.KneserNey(order).fit(words)
        for context in (["the"], ["on", "the"], ["unseen", "context"], ["sat", "on"]):
            total = sum(model.probability(context, word) for word in set(words))
            assert math.isclose(total, 1.0, rel_tol=1e-9), (order, context, total)
    trigram = nplm.KneserNey(3).fit(words)
    assert trigram.probability(["on", "the"], "mat") > trigram.probability(["on", "the"], "cat")  # "on the mat" was seen


def test_kneser_ney_discounts_and_continuation_counts():
    words = "a b a b a b c".split()
    model = nplm.KneserNey(2).fit(words)
    assert model.counts[1][("b",)] == 1  # "b" follows only "a": one distinct left context
    # bigrams: "a b" three times, "b a" twice, "b c" once: n1 = 1, n2 = 1, D = n1 / (n1 + 2 n2)
    assert model.discounts[2] == pytest.approx(1 / 3)
    perplexity = model.perplexity(words, start=1)
    assert 1 < perplexity < 3


def test_nplm_windows_and_model_shapes():
    contexts, targets = nplm.windows(np.arange(10), 4)
    assert contexts.shape == (6, 4) and np.array_equal(contexts[0], [0, 1, 2, 3]) and targets[0] == 4
    model = nplm.NeuralLanguageModel(12, context_size=4, embedding_dim=3, hidden_size=5, direct=True, dtype=np.float64)
    assert model(contexts % 12).shape == (6, 12)
    assert math.isclose(nplm.perplexity(model, contexts % 12, targets % 12), math.exp(float(ops.cross_entropy(model(contexts % 12), targets % 12).value)))


def test_spearman_and_ranks_with_ties():
    assert sgns.spearman([1, 2, 3, 4], [10, 20, 30, 400]) == pytest.approx(1.0)
    assert sgns.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert np.array_equal(sgns.ranks([5, 1, 5, 3]), [2.5, 0, 2.5, 1])


def corpus(sentences):
    counts = Counter(w for s in sentences for w in s)
    vocabulary_size = max(counts) + 1
    return {"sentences": [np.array(s) for s in sentences],
            "counts": np.bincount([w for s in sentences for w in s], minlength=vocabulary_size).astype(float)}


def test_training_pairs_stay_within_the_window_and_cover_both_directions():
    np.random.seed(0)
    sentence = list(range(2, 30))
    centres, contexts = sgns.training_pairs(corpus([sentence]), window=3, sample=1.0)
    distances = np.abs(centres - contexts)
    assert distances.min() >= 1 and distances.max() <= 3
    assert np.any(centres < contexts) and np.any(centres > contexts)
    pairs = Counter(zip(centres.tolist(), contexts.tolist()))
    assert pairs[(10, 11)] >= 1 and pairs[(11, 10)] >= 1


def sorted_pairs(centres, contexts):
    order = np.lexsort((contexts, centres))
    return np.stack([centres[order], contexts[order]])


def test_window_pairs_are_exactly_the_pairs_of_the_loop_over_positions():
    rng = np.random.default_rng(4)
    sentences = [rng.integers(0, 50, length) for length in [1, 2, 7, 0, 12, 3, 30]]
    window = 4
    reaches = [rng.integers(1, window + 1, len(sentence)) for sentence in sentences]
    tokens = np.concatenate(sentences)
    sentence_ids = np.repeat(np.arange(len(sentences)), [len(s) for s in sentences])
    fast = sgns.window_pairs(tokens, sentence_ids, np.concatenate(reaches), window)
    slow = sgns.window_pairs_by_position(sentences, reaches)
    assert len(fast[0]) == len(slow[0]) > 0
    assert np.array_equal(sorted_pairs(*fast), sorted_pairs(*slow))
    # An independent count: sentence positions i, j pair iff 0 < |i - j| <= reach[i], never across sentences.
    expected = Counter()
    for sentence, reach in zip(sentences, reaches):
        for i in range(len(sentence)):
            for j in range(len(sentence)):
                if 0 < abs(i - j) <= reach[i]:
                    expected[(int(sentence[i]), int(sentence[j]))] += 1
    assert Counter(zip(fast[0].tolist(), fast[1].tolist())) == expected


def test_window_pairs_do_not_cross_sentences():
    tokens, sentence_ids = np.array([1, 2, 3, 4]), np.array([0, 0, 1, 1])
    centres, contexts = sgns.window_pairs(tokens, sentence_ids, np.full(4, 3), 3)
    assert sorted(zip(centres.tolist(), contexts.tolist())) == [(1, 2), (2, 1), (3, 4), (4, 3)]


@pytest.mark.parametrize("shape", [(7,), (512, 6), (3000, 15)])
def test_draw_negatives_gives_np_random_choice_draws_for_the_same_seed(shape):
    noise = sgns.noise_distribution(np.random.default_rng(1).integers(1, 1000, 300).astype(float))
    np.random.seed(11)
    expected = np.random.choice(len(noise), shape, p=noise)
    after_choice = np.random.random()
    np.random.seed(11)
    drawn = sgns.draw_negatives(sgns.cumulative_table(noise), shape)
    assert np.array_equal(drawn, expected) and drawn.shape == shape
    assert np.random.random() == after_choice  # the same random numbers were used up


def test_subsampling_keeps_rare_words_and_drops_frequent_ones():
    counts = np.array([0.0, 1_000_000, 10])
    keep = sgns.keep_probabilities(counts, sample=1e-3)
    assert keep[2] == 1.0 and keep[1] < 0.1 and keep[0] == 1.0
    noise = sgns.noise_distribution(np.array([1.0, 16.0]))
    assert noise[1] / noise[0] == pytest.approx(16**0.75)


@pytest.mark.ex_multiply
@pytest.mark.ex_sigmoid
@pytest.mark.ex_log
@pytest.mark.ex_vecdot
def test_skip_gram_loss_matches_its_formula_and_gradients():
    np.random.seed(2)
    model = sgns.SkipGram(6, dimension=3, dtype=np.float64)
    model.contexts.weight.value[...] = np.random.standard_normal((6, 3))
    centres, candidates = np.array([1, 2]), np.array([[3, 4, 5], [1, 0, 0]])
    u, v = model.words.weight.value, model.contexts.weight.value
    sigmoid = lambda x: 1 / (1 + np.exp(-x))
    expected = 0.0
    for c, row in zip(centres, candidates):
        expected -= np.log(sigmoid(u[c] @ v[row[0]])) + sum(np.log(sigmoid(-u[c] @ v[n])) for n in row[1:])
    assert float(model(centres, candidates).value) == pytest.approx(expected)
    assert gradcheck(lambda w, c: model(centres, candidates), model.words.weight, model.contexts.weight)


def test_the_sgns_results_file_times_both_implementations_and_the_homework_epoch():
    import json

    from conftest import ROOT

    results = json.loads((ROOT / "examples" / "sgns" / "results.json").read_text())
    rows = {row["implementation"]: row for row in results["rows"]}
    assert set(rows) == {"edugrad", "gensim"}
    for row in rows.values():
        assert row["seconds"] > 0 and row["cpu_seconds"] > 0
        assert all(-1 <= row[name] <= 1 for name in ("wordsim353", "simlex999", "men"))
    assert len(rows["edugrad"]["losses"]) == results["settings"]["epochs"]
    homework = results["homework"]
    assert {key: homework["settings"][key] for key in ("vector_size", "window", "negative", "epochs")} == \
        {"vector_size": 15, "window": 2, "negative": 15, "epochs": 1}
    assert {row["implementation"] for row in homework["rows"]} == {"edugrad", "gensim"}
    assert all(row["seconds_per_epoch"] > 0 and row["cpu_seconds_per_epoch"] > 0 for row in homework["rows"])
