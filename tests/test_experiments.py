"""Seeds, splits, early stopping, search and seed summaries (chapter Running experiments)."""

import math
import random

import numpy as np
import pytest

import edugrad
from edugrad import nn, ops, optim
from edugrad.data import BatchIterator
from edugrad.experiments import (
    EarlyStopping, IntUniform, LogUniform, Uniform, grid_search, random_search, results_table, run_seeds,
    train_dev_test_split,
)


def training_losses(seed):
    edugrad.set_seed(seed)
    inputs = np.random.standard_normal((128, 6))
    targets = (inputs[:, 0] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    losses = [random.random()]  # Python's generator is seeded too
    for _ in range(3):
        for batch in BatchIterator(16)(inputs, targets):
            optimizer.zero_grad()
            loss = ops.cross_entropy(model(batch.inputs), batch.targets)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.value))
    return losses


@pytest.mark.ex_adam  # trains with Adam
def test_the_same_seed_gives_bit_for_bit_identical_losses():
    first, second, other = training_losses(7), training_losses(7), training_losses(8)
    assert first == second
    assert first != other


def test_split_partitions_the_indices():
    train, dev, test = train_dev_test_split(100, dev=0.1, test=0.2, seed=3)
    assert (len(train), len(dev), len(test)) == (70, 10, 20)
    assert sorted(np.concatenate([train, dev, test])) == list(range(100))
    again = train_dev_test_split(100, dev=0.1, test=0.2, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((train, dev, test), again))
    with pytest.raises(ValueError, match="fractions summing to less than 1"):
        train_dev_test_split(10, dev=0.6, test=0.5)


class Recorder(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = edugrad.Tensor(np.zeros(1))


@pytest.mark.ex_early_stopping
def test_early_stopping_stops_after_patience_and_restores_the_best_parameters():
    model, stopper = Recorder(), EarlyStopping(patience=3, mode="max")
    scores = [0.5, 0.7, 0.6, 0.69, 0.8, 0.79, 0.78, 0.77, 0.9]
    stopped_at = None
    for epoch, score in enumerate(scores):
        model.weight.value[:] = epoch  # parameters that differ every epoch
        if stopper.step(score, model):
            stopped_at = epoch
            break
    assert stopped_at == 7 and stopper.best_epoch == 4 and stopper.best_metric == 0.8
    stopper.restore(model)
    assert model.weight.value[0] == 4
    assert stopper.history == scores[:8]


@pytest.mark.ex_early_stopping
def test_early_stopping_min_mode_and_min_delta():
    stopper = EarlyStopping(patience=1, mode="min", min_delta=0.1)
    model = Recorder()
    assert not stopper.step(1.0, model)
    assert stopper.step(0.95, model)  # not better by more than 0.1
    assert stopper.best_epoch == 0


@pytest.mark.parametrize("options, message", [({"patience": 0}, "patience must be at least 1"), ({"mode": "up"}, "mode must be 'max' or 'min'")])
def test_early_stopping_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        EarlyStopping(**options)


def test_grid_search_tries_every_combination_once_with_the_same_seed():
    seen = []

    def run(config):
        seen.append((config["a"], config["b"], np.random.random()))
        return config["a"] * 10 + config["b"]

    results = grid_search({"a": [1, 2, 3], "b": [0, 1]}, run, progress=False)
    assert sorted((a, b) for a, b, _ in seen) == [(a, b) for a in [1, 2, 3] for b in [0, 1]]
    assert len({draw for _, _, draw in seen}) == 1  # every trial starts from the same seed
    assert max(results, key=lambda r: r["score"]) == {"a": 3, "b": 1, "score": 31}


def test_random_search_is_reproducible_and_samples_within_bounds():
    space = {"lr": LogUniform(1e-4, 1e-1), "p": Uniform(0.1, 0.5), "size": IntUniform(2, 4), "act": ["relu", "tanh"]}
    first = random_search(space, lambda c: c["p"], trials=200, seed=5, progress=False)
    assert first == random_search(space, lambda c: c["p"], trials=200, seed=5, progress=False)
    assert all(1e-4 <= r["lr"] <= 1e-1 and 0.1 <= r["p"] <= 0.5 and r["size"] in (2, 3, 4) for r in first)
    assert {r["act"] for r in first} == {"relu", "tanh"} and {r["size"] for r in first} == {2, 3, 4}
    logs = np.log10([r["lr"] for r in first])
    assert abs(np.mean(logs < -2.5) - 0.5) < 0.12  # log-uniform: half the draws below the log-midpoint


def test_search_bad_inputs():
    with pytest.raises(ValueError, match="non-empty list"):
        grid_search({}, lambda c: 0, progress=False)
    with pytest.raises(ValueError, match="non-empty list"):
        grid_search({"a": []}, lambda c: 0, progress=False)
    with pytest.raises(ValueError, match="at least one trial"):
        random_search({"a": [1]}, lambda c: 0, trials=0, progress=False)


def test_results_table_is_sorted_markdown():
    table = results_table([{"lr": 0.1, "score": 0.5}, {"lr": 0.01, "score": 0.75}])
    assert table.splitlines() == ["| lr | score |", "|---|---|", "| 0.01 | 0.75 |", "| 0.1 | 0.5 |"]


def test_run_seeds_mean_and_sample_std():
    summary = run_seeds(lambda seed: seed * 2.0, seeds=[1, 2, 3, 4], progress=False)
    assert summary.mean == 5.0 and math.isclose(summary.std, np.std([2, 4, 6, 8], ddof=1))
    assert str(summary) == f"5 ± {np.std([2, 4, 6, 8], ddof=1):.2g} (4 seeds)"
    assert run_seeds(lambda seed: np.random.random(), [3, 3], progress=False).std == 0.0  # seeded per run
    with pytest.raises(ValueError, match="at least one seed"):
        run_seeds(lambda seed: 0, [], progress=False)


def test_progress_can_be_silenced_and_shows_otherwise(capsys):
    run_seeds(lambda seed: 0.0, range(3), progress=False)
    grid_search({"a": [1, 2]}, lambda c: 0.0, progress=False)
    assert capsys.readouterr().err == ""
    run_seeds(lambda seed: 0.0, range(3), progress=True)
    assert "seeds" in capsys.readouterr().err
