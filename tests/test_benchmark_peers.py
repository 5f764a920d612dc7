"""The other libraries the benchmark measures compute the same step as the floor, and so does the overhead chain.

HIPS autograd, MyGrad and JAX are optional: locally a missing one skips its
tests. EDUGRAD_REQUIRE_PEERS=1 makes a missing autograd or MyGrad fail them
instead, and EDUGRAD_REQUIRE_JAX=1 a missing JAX (the JAX tests carry the
marker ``jax``, so that a run without JAX can also leave them out with
``-m "not jax"``).
"""

import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, require_torch

sys.path.insert(0, str(ROOT / "benchmarks"))
import overhead  # noqa: E402
import suite  # noqa: E402
import workloads  # noqa: E402
from numpy_floor import Floor  # noqa: E402

INSTALL = {"autograd": "pip install autograd", "mygrad": "pip install mygrad", "jax": 'pip install "jax[cpu]"'}
PACKAGE = {"autograd": "autograd", "mygrad": "mygrad", "jax": "jax", "jax_jit": "jax"}


def require(package: str):
    """Import a peer library, or skip (locally) / fail (when EDUGRAD_REQUIRE_PEERS=1, or EDUGRAD_REQUIRE_JAX=1 for JAX)."""
    try:
        return importlib.import_module(package)
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] != package:
            raise
        variable = "EDUGRAD_REQUIRE_JAX" if package == "jax" else "EDUGRAD_REQUIRE_PEERS"
        if os.environ.get(variable) == "1":
            pytest.fail(f"{package} is required by {variable}=1 for the benchmark's comparisons ({INSTALL[package]})")
        pytest.skip(f"{package} is not installed: its benchmark comparisons skipped ({INSTALL[package]})")


def peer_class(name: str):
    require(PACKAGE[name])
    return suite.implementations([name])[name]


def marks(peer, workload_name=None):
    found = [pytest.mark.jax] if PACKAGE[peer] == "jax" else []
    if workload_name is not None and workloads.SMALL[workload_name].has_embedding:
        found.append(pytest.mark.ex_scatter_add)  # the floor's embedding gradient
    return found


PEER_CASES = [pytest.param(peer, name, dtype, id=f"{peer}-{name}-{dtype}", marks=marks(peer, name))
              for peer in suite.PEERS for name in workloads.SMALL for dtype in ("float64", "float32")]
TOLERANCE = {"float64": 1e-12, "float32": 1e-5}


@pytest.mark.parametrize("peer, name, dtype", PEER_CASES)
def test_each_peer_computes_the_floors_loss_and_gradients(peer, name, dtype):
    cls, workload = peer_class(peer), workloads.SMALL[name]
    model, batch = suite.make(cls, workload, "dense", dtype)
    loss, grads = model.gradients(batch)
    weights = workloads.weights(workload, dtype)
    assert np.isfinite(loss) and set(grads) == set(weights)
    for key, grad in grads.items():  # no silent change of precision
        assert isinstance(grad, np.ndarray) and grad.dtype == weights[key].dtype and grad.shape == weights[key].shape, key
    errors = suite.gradient_errors({peer: cls, "floor": Floor}, workload, "dense", dtype)
    assert errors[peer] < TOLERANCE[dtype], errors


STEP_CASES = [pytest.param(peer, name, id=f"{peer}-{name}", marks=marks(peer, name))
              for peer in suite.PEERS for name in ("mlp", "dan", "lstm_lm")]


@pytest.mark.parametrize("peer, name", STEP_CASES)
def test_each_peers_training_steps_change_the_weights_as_the_floors_do(peer, name):
    """The update (and for the LSTM the clipping): three steps, then the same weights."""
    workload = workloads.SMALL[name]
    model, batch = suite.make(peer_class(peer), workload, "dense", "float64")
    floor, floor_batch = suite.make(Floor, workload, "dense", "float64")
    for _ in range(3):
        assert model.step(batch) == pytest.approx(floor.step(floor_batch), rel=1e-12)
    for key, expected in floor.params.items():
        np.testing.assert_allclose(np.asarray(model.params[key]), expected, rtol=1e-11, atol=1e-14, err_msg=key)
    assert not np.allclose(np.asarray(model.params["output.bias" if name != "mlp" else "4.bias"]),
                           workloads.weights(workload, "float64")["output.bias" if name != "mlp" else "4.bias"])


@pytest.mark.ex_scatter_add
@pytest.mark.parametrize("peer", [pytest.param(peer, marks=marks(peer)) for peer in suite.PEERS])
def test_the_peers_have_no_sparse_rows(peer):
    cls = peer_class(peer)
    with pytest.raises(NotImplementedError, match="dense"):
        suite.make(cls, workloads.SMALL["nplm"], "sparse", "float64")
    errors = suite.gradient_errors({peer: cls, "floor": Floor}, workloads.SMALL["nplm"], "sparse", "float64")
    assert set(errors) == {"floor"}


def test_the_chains_hand_written_gradient_is_its_derivative():
    """The overhead chain's reference gradient against central differences of the chain."""
    x, step = overhead.start(), 1e-6
    value = lambda x: overhead.chain(x, np.tanh).sum()  # noqa: E731
    differences = [(value(x + step * unit) - value(x - step * unit)) / (2 * step) for unit in np.eye(len(x))]
    np.testing.assert_allclose(overhead.numpy_gradient(x), differences, rtol=1e-6, atol=1e-9)
    assert np.all(np.abs(overhead.numpy_gradient(x)) > 1e-6)  # not a chain whose gradient has vanished


OVERHEAD_CASES = [pytest.param("edugrad", marks=pytest.mark.ex_multiply), "torch", "autograd", "mygrad",
                  pytest.param("jax", marks=pytest.mark.jax)]


@pytest.mark.parametrize("name", OVERHEAD_CASES)
def test_the_overhead_chains_gradients_agree(name):
    if name == "torch":
        require_torch()
    elif name != "edugrad":
        require(name)
    functions = overhead.implementations(["numpy", name])
    errors = overhead.check_gradients(functions)
    assert set(errors) == {"numpy", name} and errors[name] < 1e-12, errors


def test_the_overhead_check_catches_a_wrong_gradient():
    wrong = lambda x: overhead.numpy_gradient(x) * (1 + 1e-9)  # noqa: E731
    with pytest.raises(AssertionError, match="wrong"):
        overhead.check_gradients({"numpy": overhead.numpy_gradient, "wrong": wrong})
    with pytest.raises(AssertionError, match="float32"):
        overhead.check_gradients({"single": lambda x: overhead.numpy_gradient(x).astype(np.float32)})


@pytest.mark.ex_scatter_add
@pytest.mark.ex_multiply
def test_the_script_measures_the_installed_peers_in_the_dense_rows_and_merges_the_overhead(tmp_path):
    require_torch()
    installed = [name for name in suite.PEERS if importlib.util.find_spec(PACKAGE[name]) is not None]
    output = tmp_path / "results.json"
    command = [sys.executable, "benchmarks/run.py", "--quick", "--rounds", "2", "--workloads", "nplm",
               "--dtypes", "float64", "--skip-memory", "--output", str(output)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(output.read_text())
    rows = {row["gradient"]: row for row in results["rows"]}
    assert set(rows["dense"]["ms_per_step"]) == {"edugrad", "floor", "torch", *installed}
    assert set(rows["sparse"]["ms_per_step"]) == {"edugrad", "floor", "torch"}
    for name in installed:
        assert rows["dense"]["gradient_error"][name] < 1e-9
        assert rows["dense"][f"edugrad/{name}"] == pytest.approx(
            rows["dense"]["ms_per_step"]["edugrad"]["median"] / rows["dense"]["ms_per_step"][name]["median"])
    assert "overhead" not in results
    # Only the overhead: merged in, the rows left as they were.
    result = subprocess.run([sys.executable, "benchmarks/run.py", "--quick", "--rounds", "2", "--overhead-only",
                             "--output", str(output)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    merged = json.loads(output.read_text())
    assert {key: value for key, value in merged.items() if key != "overhead"} == results
    measured = merged["overhead"]
    assert set(measured["us_per_op"]) == {"numpy", "edugrad", "torch", *{PACKAGE[name] for name in installed}}
    assert max(measured["gradient_error"].values()) < 1e-12 and "--overhead-only" in measured["command"]
    assert all(figures["wall_us_per_op"] > 0 and figures["cpu_us_per_op"] >= 0 for figures in measured["us_per_op"].values())


def test_a_missing_peer_leaves_its_columns_empty_and_says_how_to_install_it(monkeypatch, capsys):
    for package in ("autograd", "jax"):
        monkeypatch.setitem(sys.modules, package, None)  # as if not installed: importing it fails
        monkeypatch.delitem(sys.modules, f"{package}_models", raising=False)  # imported again, so it fails
    classes = suite.implementations(["edugrad", "floor", "autograd", "jax", "jax_jit"])
    assert set(classes) == {"edugrad", "floor"}
    assert capsys.readouterr().out.splitlines() == [
        "autograd is not installed: its columns stay empty (pip install autograd)",
        'jax is not installed: its columns stay empty (pip install "jax[cpu]")']
    assert set(overhead.implementations(["numpy", "autograd", "jax"])) == {"numpy"}
    assert "autograd is not installed" in capsys.readouterr().out
