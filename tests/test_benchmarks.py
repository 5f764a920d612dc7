"""The benchmark compares like with like: its three implementations compute the same gradients.

Its timings are not tested here (a shared machine is too noisy for that): the
tests check that the implementations agree, that the agreement check can
fail, that the script runs end to end, and that the results file the book
reads is complete.
"""

import json
import subprocess
import sys
from contextlib import nullcontext

import numpy as np
import pytest

from conftest import ROOT, require_torch

sys.path.insert(0, str(ROOT / "benchmarks"))
import suite  # noqa: E402
import workloads  # noqa: E402
from numpy_floor import Floor  # noqa: E402

# The skip-gram model is built from the operations of the exercises.
SKIP_GRAM_MARKS = [pytest.mark.ex_multiply, pytest.mark.ex_log, pytest.mark.ex_sigmoid, pytest.mark.ex_vecdot]
# Embeddings' gradients go through scatter_add, the exercise ex-scatter-add.
EMBEDDING_MARKS = [pytest.mark.ex_scatter_add]
# An LSTM step uses sigmoid and multiply, and edugrad's LSTM step clips with clip_grad_norm_.
LSTM_MARKS = [pytest.mark.ex_sigmoid, pytest.mark.ex_multiply, pytest.mark.ex_lstm_step, pytest.mark.ex_clip_grad_norm]
MARKS = {"sgns": SKIP_GRAM_MARKS, "lstm_lm": LSTM_MARKS}
CASES = [
    pytest.param(
        name, gradient, id=f"{name}-{gradient}",
        marks=MARKS.get(name, []) + (EMBEDDING_MARKS if workload.has_embedding else []),
    )
    for name, workload in workloads.SMALL.items()
    for gradient in workload.gradients
]


@pytest.mark.parametrize("name, gradient", CASES)
def test_edugrad_the_numpy_floor_and_torch_compute_the_same_step(name, gradient):
    require_torch()
    errors = suite.gradient_errors(suite.implementations(), workloads.SMALL[name], gradient, "float64")
    assert set(errors) == {"edugrad", "floor", "torch"}
    assert max(errors.values()) < 1e-12, errors


@pytest.mark.ex_scatter_add
def test_the_agreement_check_catches_a_wrong_gradient():
    class WrongFloor(Floor):
        def nplm(self, batch):
            loss, grads = super().nplm(batch)
            grads["hidden.bias"] = grads["hidden.bias"] * 1.001
            return loss, grads

    classes = {**suite.implementations(["edugrad"]), "floor": WrongFloor}
    with pytest.raises(AssertionError, match="hidden|differ"):
        suite.check_gradients(classes, workloads.SMALL["nplm"], "dense", "float64")


STEP_CASES = [case for case in CASES if case.values[0] != "lstm_lm"]  # the LSTM's steps: tested below


@pytest.mark.parametrize("name, gradient", STEP_CASES)
def test_training_steps_change_the_weights_the_same_way(name, gradient):
    # A different batch at each step: the floor's kept dense gradient must forget the rows of the step before.
    workload = workloads.SMALL[name]
    edugrad_model, _ = suite.make(suite.implementations(["edugrad"])["edugrad"], workload, gradient, "float64")
    floor, _ = suite.make(Floor, workload, gradient, "float64")
    for seed in (1, 2, 3):
        batch = workloads.batch(workload, "float64", seed)
        assert edugrad_model.step(batch) == pytest.approx(floor.step(batch), rel=1e-12)
    for name, param in edugrad_model.params.items():
        np.testing.assert_allclose(param.value, floor.params[name], rtol=1e-12, atol=1e-15)


@pytest.mark.ex_scatter_add  # the floor's embedding gradient
def test_the_small_lstm_step_clips_so_that_the_comparison_checks_the_clipping():
    workload = workloads.SMALL["lstm_lm"]
    floor, batch = suite.make(Floor, workload, "dense", "float64")
    floor.lstm.forward(batch)
    floor.lstm.backward(batch)
    assert floor.lstm.clip_coefficient(workload.max_norm) < 0.5
    assert floor.lstm.clip_coefficient(1e6) == 1.0


@pytest.mark.parametrize("name", [pytest.param("edugrad", marks=pytest.mark.ex_clip_grad_norm), "torch"])
@pytest.mark.ex_scatter_add
@pytest.mark.ex_sigmoid
@pytest.mark.ex_multiply
@pytest.mark.ex_lstm_step
def test_lstm_training_steps_change_the_weights_the_same_way(name):
    """The floor's in-place update (kept buffers, views of one output array) against edugrad's and torch's."""
    if name == "torch":
        require_torch()
    workload = workloads.SMALL["lstm_lm"]
    model, batch = suite.make(suite.implementations([name])[name], workload, "dense", "float64")
    floor, floor_batch = suite.make(Floor, workload, "dense", "float64")
    for _ in range(3):
        assert model.step(batch) == pytest.approx(floor.step(floor_batch), rel=1e-12)
    for key, param in model.params.items():
        value = param.value if name == "edugrad" else param.detach().numpy()
        np.testing.assert_allclose(value, floor.params[key], rtol=1e-12, atol=1e-14)


@pytest.mark.ex_sigmoid
@pytest.mark.ex_multiply
@pytest.mark.ex_lstm_step
def test_the_fused_cells_measured_compute_what_the_composition_computes():
    """benchmarks/lstm_analysis.py times fused LSTM and GRU cells: same values and gradients as lstm_step and gru_step."""
    from edugrad import Tensor, nn, ops
    from edugrad.checking import gradcheck

    import lstm_analysis

    rng = np.random.default_rng(0)
    batch, hidden = 3, 4
    gates, c = Tensor(rng.standard_normal((batch, 4 * hidden))), Tensor(rng.standard_normal((batch, hidden)))
    assert gradcheck(lstm_analysis.lstm_cell_update, gates, c)
    input_part, hidden_part = (Tensor(rng.standard_normal((batch, 3 * hidden))) for _ in range(2))
    h = Tensor(rng.standard_normal((batch, hidden)))
    assert gradcheck(lstm_analysis.gru_cell_update, input_part, hidden_part, h)
    for kind, size in (("LSTM", 4), ("GRU", 3)):
        module = getattr(nn, kind)(5, hidden, num_layers=2)
        x = Tensor(rng.standard_normal((6, batch, 5)))
        results = []
        for fused in (False, True):
            with lstm_analysis.fused_cells() if fused else nullcontext():
                for param in module.parameters():
                    param.grad = None
                x.grad = None
                output, _ = module(x)
                weights = rng.standard_normal(output.shape) if not results else results[0][2]
                ops.reduce_sum(output * weights).backward()
                results.append((output.value, [np.array(p.grad) for p in module.parameters()] + [x.grad], weights))
        np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-12, atol=1e-14)
        for fused_grad, composed_grad in zip(results[1][1], results[0][1]):
            np.testing.assert_allclose(fused_grad, composed_grad, rtol=1e-10, atol=1e-13)
    assert nn.LSTMStep.step is not lstm_analysis.FusedLSTMStep.step  # the composition is back after the block


@pytest.mark.ex_scatter_add
def test_the_script_writes_a_table_of_ratios(tmp_path):
    output = tmp_path / "results.json"
    command = [sys.executable, "benchmarks/run.py", "--quick", "--rounds", "2", "--workloads", "mlp", "nplm",
               "--dtypes", "float64", "--implementations", "edugrad", "floor", "torch", "--output", str(output)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ed/floor" in result.stdout
    results = json.loads(output.read_text())
    assert [(row["workload"], row["gradient"]) for row in results["rows"]] == [
        ("mlp", "dense"), ("nplm", "dense"), ("nplm", "sparse")]
    for row in results["rows"]:
        medians = {name: times["median"] for name, times in row["ms_per_step"].items()}
        assert row["edugrad/floor"] == pytest.approx(medians["edugrad"] / medians["floor"])
        assert all(times["min"] <= times["median"] <= times["max"] for times in row["ms_per_step"].values())
        assert set(row["peak_mb"]) == set(row["ms_per_step"])
        assert max(row["gradient_error"].values()) < 1e-9


def test_the_results_file_the_book_shows_is_complete():
    results = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    assert results["command"].startswith("python benchmarks/run.py") and results["machine"] and results["date"]
    rows = {(row["workload"], row["gradient"], row["dtype"]) for row in results["rows"]}
    expected = {(name, gradient, dtype) for name, workload in workloads.FULL.items()
                for gradient in workload.gradients
                for dtype in workload.dtypes}
    assert rows == expected
    assert results["sizes"] == {name: workload.sizes for name, workload in workloads.FULL.items()}
    for row in results["rows"]:  # the other libraries (when they were installed) in the dense rows only
        others = set(row["ms_per_step"]) - {"edugrad", "floor", "torch"}
        assert {"edugrad", "floor", "torch"} <= set(row["ms_per_step"]) and others <= suite.DENSE_ONLY
        assert not others or row["gradient"] == "dense"
        assert set(row["peak_mb"]) == set(row["ms_per_step"])
        assert all(megabytes > 0 for megabytes in row["peak_mb"].values())
    assert results["tangle_seconds"] > 0 and results["book_build_seconds"] > 0
    if "overhead" in results:  # python benchmarks/run.py --overhead (or --overhead-only)
        measured = results["overhead"]
        assert {"numpy", "edugrad"} <= set(measured["us_per_op"]) and max(measured["gradient_error"].values()) < 1e-12
        assert all(figures["wall_us_per_op"] > 0 for figures in measured["us_per_op"].values())
    for merged in results.get("merged", []):  # rows measured later, by a run that kept the others
        assert merged["command"].startswith("python benchmarks/run.py") and "--merge" in merged["command"]
        assert all(tuple(key) in rows for key in merged["rows"])


def test_the_lstm_row_says_where_its_time_goes():
    (row,) = [row for row in json.loads((ROOT / "benchmarks" / "results.json").read_text())["rows"]
              if row["workload"] == "lstm_lm"]
    assert {"output layer: products", "softmax cross-entropy", "LSTM: steps, forward", "LSTM: steps, backward",
            "LSTM: input projections", "embedding: lookup and gradient", "clip and update"} == set(row["floor_phases_ms"])
    assert all(ms > 0 for ms in row["floor_phases_ms"].values())
    for measured in (row["edugrad_profile"], row["edugrad_fresh_process"]):
        assert 0 < measured["time_slice_sums_ms"] < measured["ms_per_step"]
    shares = row["edugrad_profile"]["shares"]
    assert sum(shares.values()) == pytest.approx(1) and all(0 <= share <= 1 for share in shares.values())
    for kind in ("lstm", "gru"):
        times = row["fused_cells"][kind]
        assert times["saving"] == pytest.approx((times["composed_ms"] - times["fused_ms"]) / times["composed_ms"])
