"""The student edition: exactly the exercises' tests fail in it, and they pass in the full edition.

Builds the student edition with `python tangle.py --student`, runs the whole
test suite inside it (this file excepted), and compares the failing tests
with the tests that carry an exercise marker.
"""

import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import pytest

from conftest import ROOT

EXERCISES = [
    "ex_multiply", "ex_log", "ex_sigmoid", "ex_vecdot",  # the skip-gram homework's operations
    "ex_topological_order", "ex_sum_to_shape", "ex_planted_bug", "ex_scatter_add",
    "ex_softmax_backward", "ex_adam", "ex_standardize_backward", "ex_early_stopping",
    "ex_clip_grad_norm", "ex_lstm_step",
]
SELECT_EXERCISES = " or ".join(EXERCISES)


def run_pytest(directory, *arguments, report=None):
    environment = {**os.environ, "PYTHONPATH": str(directory)}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *arguments]
    if report:
        command.append(f"--junitxml={report}")
    return subprocess.run(command, cwd=directory, env=environment, capture_output=True, text=True, timeout=1800)


def skipped_cases(report) -> set:
    """The test ids of the cases a JUnit report shows as skipped (they ran in neither edition)."""
    return {f"{case.get('classname')}::{case.get('name')}" for case in ElementTree.parse(report).iter("testcase")
            if case.find("skipped") is not None}


def case_results(report):
    """(test id, failure message or None) for every test case in a JUnit report."""
    cases = {}
    for case in ElementTree.parse(report).iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        test_id = f"{case.get('classname')}::{case.get('name')}"
        cases[test_id] = None if problem is None else (problem.get("message") or "") + (problem.text or "")
    return cases


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    directory = tmp_path_factory.mktemp("edition") / "student"
    built = subprocess.run([sys.executable, "tangle.py", "--student", str(directory)], cwd=ROOT, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    return directory


def test_the_student_edition_fails_exactly_the_exercises_tests(student, tmp_path):
    marked = run_pytest(student, "--ignore=tests/test_student_edition.py", "-m", SELECT_EXERCISES, report=tmp_path / "marked.xml")
    everything = run_pytest(student, "--ignore=tests/test_student_edition.py", report=tmp_path / "all.xml")
    # A marked test that was skipped here (a library not installed) did not run, so it cannot be required to fail.
    marked_ids = set(case_results(tmp_path / "marked.xml")) - skipped_cases(tmp_path / "marked.xml")
    results = case_results(tmp_path / "all.xml")
    failing = {test_id for test_id, failure in results.items() if failure is not None}
    assert marked_ids, "no test carries an exercise marker"
    assert failing == marked_ids, (
        f"failing but not marked: {sorted(failing - marked_ids)[:10]}\nmarked but passing: {sorted(marked_ids - failing)[:10]}"
    )
    for test_id in failing:
        assert "NotImplementedError" in results[test_id] and "see " in results[test_id], test_id
    assert everything.returncode == 1


def test_the_full_edition_passes_the_exercises_tests(tmp_path):
    result = run_pytest(ROOT, "--ignore=tests/test_student_edition.py", "-m", SELECT_EXERCISES, report=tmp_path / "full.xml")
    cases = case_results(tmp_path / "full.xml")
    assert result.returncode == 0, result.stdout[-3000:]
    assert len(cases) >= 20


def test_the_student_edition_has_stubs_and_no_solutions(student):
    chapter = (student / "book" / "elementwise.md").read_text()
    assert "```{solution}" not in chapter and "SOLUTION" not in chapter and "```{exercise}" in chapter
    assert 'raise NotImplementedError("ex-sigmoid: see elementwise#ex-sigmoid")' in chapter
    package = (student / "edugrad" / "ops" / "linalg.py").read_text()
    assert package.count('raise NotImplementedError("ex-vecdot: see linalg#ex-vecdot")') == 2
    stubs = {
        "tensor.py": ["ex-topological-order: see graph", "ex-sum-to-shape: see graph"],
        "ops/elementwise.py": ["ex-planted-bug: see checking"],
        "ops/indexing.py": ["ex-scatter-add: see indexing"],
        "ops/losses.py": ["ex-softmax-backward: see losses"],
        "ops/normalization.py": ["ex-standardize-backward: see normalization"],
        "optim.py": ["ex-adam: see adaptive-optimizers"],
        "experiments.py": ["ex-early-stopping: see experiments"],
        "nn.py": ["ex-clip-grad-norm: see rnn", "ex-lstm-step: see lstm"],
    }
    for path, messages in stubs.items():
        text = (student / "edugrad" / path).read_text()
        for message in messages:
            assert f'raise NotImplementedError("{message}' in text, (path, message)
    markers = (ROOT / "pyproject.toml").read_text()
    for marker in EXERCISES:
        assert f'"{marker}: needs the exercise' in markers, marker
    result = subprocess.run([sys.executable, "tangle.py", "--check"], cwd=student, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
