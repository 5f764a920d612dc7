"""The neural language model's training schedule, its direct connections, its data and its results file
(chapter "A neural probabilistic language model")."""

import json
import math
import os

import numpy as np
import pytest
import torch

from conftest import ROOT
from edugrad import ops
from edugrad.experiments import set_seed
from edugrad.models import nplm

RESULTS = ROOT / "examples" / "nplm" / "results.json"


def test_halving_schedule_rates_follow_the_formula():
    schedule = nplm.HalvingSchedule(0.2, min_improvement=0.01, max_halvings=2)
    perplexities = [300.0, 250.0, 249.0, 200.0, 199.5, 210.0, 150.0]
    # An epoch improves when it beats the best so far by more than 1 %: here epochs 1, 2, 4 and 7 do.
    expected_improved = [True, True, False, True, False, False, True]
    halvings = 0
    for perplexity, improved in zip(perplexities, expected_improved):
        assert schedule.lr == pytest.approx(0.2 * 0.5**halvings)  # the rate the epoch was trained with
        assert schedule.step(perplexity) is improved
        halvings += not improved
        assert schedule.halvings == halvings and schedule.finished == (halvings > 2)
    assert schedule.best == 150.0 and schedule.lr == pytest.approx(0.2 / 8)


@pytest.mark.parametrize("arguments", [dict(lr=0), dict(lr=0.1, min_improvement=1), dict(lr=0.1, max_halvings=-1)])
def test_halving_schedule_rejects_bad_settings(arguments):
    with pytest.raises(ValueError, match="HalvingSchedule"):
        nplm.HalvingSchedule(**arguments)


@pytest.mark.ex_scatter_add  # the embedding's gradient
def test_direct_connections_gradients_match_pytorch_in_float64():
    set_seed(0)
    vocabulary, context, m, h = 13, 3, 4, 5
    model = nplm.NeuralLanguageModel(vocabulary, context, m, h, direct=True, dtype=np.float64)
    rng = np.random.default_rng(1)
    contexts, targets = rng.integers(0, vocabulary, (7, context)), rng.integers(0, vocabulary, 7)
    loss = ops.cross_entropy(model(contexts), targets)
    loss.backward()

    C = torch.tensor(model.embedding.weight.value, requires_grad=True)
    H, d = (torch.tensor(model.hidden.weight.value, requires_grad=True), torch.tensor(model.hidden.bias.value, requires_grad=True))
    U, b = (torch.tensor(model.output.weight.value, requires_grad=True), torch.tensor(model.output.bias.value, requires_grad=True))
    W = torch.tensor(model.direct.weight.value, requires_grad=True)
    x = C[torch.tensor(contexts)].reshape(7, context * m)
    y = b + x @ W + torch.tanh(d + x @ H) @ U  # y = b + W x + U tanh(d + H x), row-vector layout
    expected = torch.nn.functional.cross_entropy(y, torch.tensor(targets))
    expected.backward()
    assert float(loss.value) == pytest.approx(expected.item(), rel=1e-12)
    grads = {"embedding": C, "hidden.weight": H, "hidden.bias": d, "output.weight": U, "output.bias": b, "direct": W}
    ours = {"embedding": model.embedding.weight.grad, "hidden.weight": model.hidden.weight.grad,
            "hidden.bias": model.hidden.bias.grad, "output.weight": model.output.weight.grad,
            "output.bias": model.output.bias.grad, "direct": model.direct.weight.grad}
    for name, tensor in grads.items():
        grad = ours[name].to_dense() if hasattr(ours[name], "to_dense") else np.asarray(ours[name])
        np.testing.assert_allclose(grad, tensor.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
    assert np.abs(W.grad.numpy()).max() > 0  # the direct connections do get a gradient


def small_corpus(seed=0):
    ids = np.random.default_rng(seed).integers(0, 30, 3000)
    return {"train": ids[:2000], "valid": ids[2000:2500], "test": ids[2500:]}


@pytest.mark.ex_scatter_add  # the embedding's gradient
def test_train_records_rates_from_the_schedule_and_keeps_the_best_epoch():
    set_seed(0)
    model = nplm.NeuralLanguageModel(30, 4, 6, 5, direct=True)
    history = nplm.train(model, small_corpus(), epochs=12, lr=0.2, batch_size=64, max_halvings=2)
    schedule = nplm.HalvingSchedule(0.2, max_halvings=2)
    for perplexity, rate in zip(history["valid_perplexity"], history["lr"]):
        assert rate == pytest.approx(schedule.lr)
        schedule.step(perplexity)
    assert history["stopped"] == ("halvings" if schedule.finished else "epochs")
    best = int(np.argmin(history["valid_perplexity"]))
    assert history["best_epoch"] == best + 1
    # the parameters restored are the best epoch's: the validation perplexity recomputed is that epoch's
    corpus = small_corpus()
    assert nplm.perplexity(model, *nplm.windows(corpus["valid"], 4)) == pytest.approx(history["valid_perplexity"][best], rel=1e-5)
    assert len(history["lr"]) == len(history["valid_perplexity"]) == len(history["train_loss"]) == len(history["epoch_minutes"])


@pytest.mark.ex_scatter_add  # the embedding's gradient
def test_train_stops_on_the_budget_and_says_so():
    set_seed(0)
    model = nplm.NeuralLanguageModel(30, 4, 6, 5)
    history = nplm.train(model, small_corpus(), epochs=5, batch_size=64, max_minutes=0)
    assert history["stopped"] == "budget" and len(history["valid_perplexity"]) == 1 and history["best_epoch"] == 1
    assert math.isfinite(history["test_perplexity"])


def test_train_rejects_an_unknown_optimizer():
    with pytest.raises(ValueError, match="optimizer"):
        nplm.train(nplm.NeuralLanguageModel(30, 4, 6, 5), small_corpus(), optimizer="adam")


def test_results_file_has_what_the_chapter_reads():
    results = json.loads(RESULTS.read_text())
    made = set()
    for run in results["runs"]:
        assert {"command", "date", "wall_time_minutes", "machine", "corpora", "rows_made", "settings"} <= set(run)
        assert run["wall_time_minutes"] > 0 and run["command"].startswith("python examples/nplm/run.py")
        made |= {tuple(key) for key in run["rows_made"]}
    keys = [(row["corpus"], row["variant"], row["model"]) for row in results["rows"]]
    assert len(keys) == len(set(keys))
    for row in results["rows"]:
        assert (row["corpus"], row["variant"]) in made  # every row comes from a recorded run
        assert row["valid_perplexity"] > 1 and row["test_perplexity"] > 1
        if row["model"].startswith("neural"):
            by_epoch, rates = row["valid_by_epoch"], row["lr_by_epoch"]
            assert len(by_epoch) == len(rates) == len(row["minutes_by_epoch"]) and row["stopped"] in ("budget", "halvings", "epochs")
            assert row["valid_perplexity"] == min(by_epoch) == by_epoch[row["best_epoch"] - 1]
            assert all(later <= earlier for earlier, later in zip(rates, rates[1:]))
    for corpus in {row["corpus"] for row in results["rows"]}:
        models = [row["model"] for row in results["rows"] if row["corpus"] == corpus]
        assert {f"Kneser-Ney, order {order}" for order in (3, 4, 5)} <= set(models)
        assert any(model == "neural, m=60 h=50" for model in models)


def have_brown():
    directory = os.environ.get("EDUGRAD_DATA") or str(ROOT.parent / "shared" / "data")
    return os.path.exists(os.path.join(directory, "brown", "brown.zip"))


@pytest.mark.skipif(not have_brown() and os.environ.get("EDUGRAD_REQUIRE_DATA") != "1", reason="no Brown corpus")
def test_brown_with_the_papers_marks():
    from edugrad import datasets

    plain, marked = datasets.brown_words(), datasets.brown_words(marks=True)
    assert len(plain) == 1_161_192 and marked.count("<p>") == 15_667 and marked.count("<text>") == 500
    assert [word for word in marked if word not in ("<p>", "<text>")] == plain
    train, valid, test = datasets.brown_splits(marks=True)
    assert (len(train), len(valid), len(test)) == (800_000, 200_000, 177_359)
    corpus = nplm.load_corpus("brown")
    assert corpus["words"]["test"] == test and len(corpus["vocabulary"]) == 17_907 + 1  # and <pad>


def test_halving_schedule_halves_where_pytorchs_reduce_on_plateau_does():
    # ReduceLROnPlateau(factor=0.5, patience=0, threshold=delta, threshold_mode="rel") uses the same test
    # (an improvement beats best * (1 - delta)); it neither restores parameters nor stops training.
    perplexities = [400.0, 350.0, 349.5, 330.0, 331.0, 329.5, 300.0, 299.8, 299.9]
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=0.08)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=0, threshold=0.003)
    schedule = nplm.HalvingSchedule(0.08, min_improvement=0.003, max_halvings=10)
    for perplexity in perplexities:
        assert schedule.lr == pytest.approx(optimizer.param_groups[0]["lr"])
        schedule.step(perplexity)
        plateau.step(perplexity)
    assert schedule.lr == pytest.approx(optimizer.param_groups[0]["lr"]) and schedule.halvings == 5
