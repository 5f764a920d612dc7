"""The benchmark compares like with like: its three implementations compute the same gradients.

Its timings are not tested here (a shared machine is too noisy for that): the
tests check that the implementations agree, that the agreement check can
fail, that the script runs end to end, and that the results file the book
reads is complete.
"""

import json
import subprocess
import sys

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
CASES = [
    pytest.param(
        name, gradient, id=f"{name}-{gradient}",
        marks=(SKIP_GRAM_MARKS if name == "sgns" else []) + (EMBEDDING_MARKS if workload.has_embedding else []),
    )
    for name, workload in workloads.SMALL.items()
    for gradient in (("dense", "sparse") if workload.has_embedding else ("dense",))
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


@pytest.mark.ex_scatter_add
def test_a_training_step_changes_the_weights_the_same_way():
    workload = workloads.SMALL["dan"]
    classes = suite.implementations(["edugrad"])
    edugrad_model, batch = suite.make(classes["edugrad"], workload, "sparse", "float64")
    floor, _ = suite.make(Floor, workload, "sparse", "float64")
    for _ in range(3):
        assert edugrad_model.step(batch) == pytest.approx(floor.step(batch), rel=1e-12)
    for name, param in edugrad_model.params.items():
        np.testing.assert_allclose(param.value, floor.params[name], rtol=1e-12, atol=1e-15)


@pytest.mark.ex_scatter_add
def test_the_script_writes_a_table_of_ratios(tmp_path):
    output = tmp_path / "results.json"
    command = [sys.executable, "benchmarks/run.py", "--quick", "--rounds", "2", "--workloads", "mlp", "nplm",
               "--dtypes", "float64", "--output", str(output)]
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
                for gradient in (("dense", "sparse") if workload.has_embedding else ("dense",))
                for dtype in ("float32", "float64")}
    assert rows == expected
    assert results["sizes"] == {name: workload.sizes for name, workload in workloads.FULL.items()}
    for row in results["rows"]:
        assert set(row["ms_per_step"]) == {"edugrad", "floor", "torch"}
        assert all(megabytes > 0 for megabytes in row["peak_mb"].values())
    assert results["tangle_seconds"] > 0 and results["book_build_seconds"] > 0
