"""Vocabularies, bags of words, padded batches (chapter Text as data)."""

from collections import Counter

import numpy as np
import pytest

from edugrad.data import BatchIterator, PaddedBatch, Vocabulary, bag_of_words, pad_sequences


def test_vocabulary_orders_by_count_then_alphabet_with_specials_first():
    counts = Counter({"b": 3, "a": 3, "c": 5, "rare": 1})
    vocabulary = Vocabulary.from_counts(counts)
    assert vocabulary.tokens == ["<pad>", "<unk>", "c", "a", "b", "rare"]
    assert vocabulary.pad_index == 0 and vocabulary.unk_index == 1 and len(vocabulary) == 6


def test_min_freq_and_max_size():
    counts = Counter({"b": 3, "a": 3, "c": 5, "rare": 1})
    assert Vocabulary.from_counts(counts, min_freq=2).tokens[2:] == ["c", "a", "b"]
    assert Vocabulary.from_counts(counts, max_size=2).tokens[2:] == ["c", "a"]


def test_encode_decode_and_unknown_words():
    vocabulary = Vocabulary.from_sentences([["the", "cat"], ["the", "dog"]])
    encoded = vocabulary.encode(["the", "cow", "dog"])
    assert encoded.dtype == np.int64 and encoded[1] == vocabulary.unk_index
    assert vocabulary.decode(encoded) == ["the", "<unk>", "dog"]
    assert "cat" in vocabulary and "cow" not in vocabulary
    assert vocabulary.index("cow") == 1 and vocabulary.token(vocabulary.index("cat")) == "cat"


def test_duplicate_tokens_are_refused():
    with pytest.raises(ValueError, match="duplicates"):
        Vocabulary(["a", "a"])


def test_bag_of_words_counts_every_occurrence():
    bags = bag_of_words([[2, 3, 2], [], [4]], 5)
    assert np.array_equal(bags, [[0, 0, 2, 1, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1]])


def test_pad_sequences_lengths_mask_and_truncation():
    batch = pad_sequences([[5, 6, 7], [8]], padding_index=0)
    assert isinstance(batch, PaddedBatch) and len(batch) == 2
    assert np.array_equal(batch.indices, [[5, 6, 7], [8, 0, 0]])
    assert np.array_equal(batch.lengths, [3, 1])
    assert np.array_equal(batch.mask, [[True, True, True], [True, False, False]])
    cut = pad_sequences([[5, 6, 7], [8]], max_length=2)
    assert np.array_equal(cut.indices, [[5, 6], [8, 0]]) and np.array_equal(cut.lengths, [2, 1])


def test_batch_iterator_collates_ragged_sentences():
    sentences = [[1], [2, 2], [3, 3, 3], [4, 4, 4, 4], [5, 5, 5, 5, 5]]
    labels = np.arange(5)
    seen = []
    for batch in BatchIterator(2, collate=pad_sequences, seed=0)(sentences, labels):
        for row, label in zip(batch.inputs.indices, batch.targets.value):
            assert np.all(row[row != 0] == label + 1) and (row != 0).sum() == label + 1
        assert batch.inputs.indices.shape[1] == batch.inputs.lengths.max()
        seen += list(batch.targets.value)
    assert sorted(seen) == [0, 1, 2, 3, 4]


def test_ragged_inputs_without_collate_get_a_clear_message():
    with pytest.raises(ValueError, match="give collate=pad_sequences"):
        BatchIterator(2)([[1], [2, 2]], [0, 1])


def test_bucketing_by_length_keeps_every_example_and_cuts_padding():
    rng = np.random.default_rng(0)
    sentences = [list(range(1, rng.integers(1, 40) + 1)) for _ in range(2000)]
    labels = np.arange(2000)

    def epoch(iterator):
        return [batch for batch in iterator(sentences, labels)]

    plain = epoch(BatchIterator(32, collate=pad_sequences, seed=1))
    bucketed = epoch(BatchIterator(32, collate=pad_sequences, seed=1, sort_key=len))
    assert sorted(np.concatenate([b.targets.value for b in bucketed])) == list(range(2000))
    for batch in bucketed:
        assert np.all(batch.inputs.lengths == [len(sentences[i]) for i in batch.targets.value])
    padded = lambda batches: sum(b.inputs.indices.size for b in batches)
    assert padded(bucketed) < 0.7 * padded(plain)
    again = epoch(BatchIterator(32, collate=pad_sequences, seed=1, sort_key=len))
    assert [list(b.targets.value) for b in again] == [list(b.targets.value) for b in bucketed]
    first_batches = {tuple(epoch(BatchIterator(32, collate=pad_sequences, seed=s, sort_key=len))[0].targets.value) for s in range(3)}
    assert len(first_batches) == 3  # still shuffled


@pytest.mark.ex_scatter_add
def test_coalesce_sums_repeated_rows():
    from edugrad.ops.indexing import RowSparseGrad

    grad = RowSparseGrad(np.array([3, 1, 3, 3]), np.array([[1.0], [2.0], [3.0], [4.0]]), (5, 1))
    merged = grad.coalesce()
    assert merged.rows.tolist() == [1, 3] and merged.values.ravel().tolist() == [2.0, 8.0]
    assert np.array_equal(np.asarray(merged), np.asarray(grad))
    empty = RowSparseGrad(np.zeros(0, dtype=np.int64), np.zeros((0, 1)), (5, 1))
    assert empty.coalesce().rows.size == 0
