"""Course-style scripts run unchanged, and every chapter is an executable notebook."""

import json
import re
import subprocess
import sys

import yaml
from markdown_it import MarkdownIt
from mdit_py_plugins.amsmath import amsmath_plugin
from mdit_py_plugins.colon_fence import colon_fence_plugin
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.front_matter import front_matter_plugin

import tangle
from conftest import ROOT


def test_the_original_style_toy_script_runs_and_learns():
    result = subprocess.run(
        [sys.executable, "examples/toy_half_sum/main.py"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    losses = [float(x) for x in re.findall(r"^Epoch \d+ loss: ([\d.e+-]+)$", result.stdout, re.M)]
    assert len(losses) == 20
    assert losses[-1] < 0.8 * losses[0]
    assert re.search(r"^Test loss: [\d.]+$", result.stdout, re.M)
    assert re.search(r"^Graph edges: [1-9]\d*$", result.stdout, re.M)


def toc_chapters(numbered_only=False):
    """The pages of the book, in order: with numbered_only, the introduction
    and the numbered chapters (the ones that teach), without the back matter."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}]):
        if part.get("numbered") or not numbered_only:
            files += [entry["file"] for entry in part["chapters"]]
    return [ROOT / f"{name}.md" for name in files]


def test_every_chapter_is_an_executable_myst_notebook():
    chapters = toc_chapters(numbered_only=True)
    assert len(chapters) >= 9
    for chapter in chapters:
        text = chapter.read_text()
        assert text.startswith("---\n"), f"{chapter.name}: no front matter"
        front = yaml.safe_load(text.split("---\n")[1])
        assert front["jupytext"]["text_representation"]["format_name"] == "myst", chapter.name
        assert front["kernelspec"]["name"] == "python3", chapter.name
        assert "```{code-cell}" in text, f"{chapter.name} has no code cells to execute"


def test_no_cell_shows_a_traceback():
    """A cell that raises is drawn as a traceback, which each IPython and Pygments draws differently
    (IPython 9.18 prints source lines whose backticks break the strict build). Errors are shown with
    shows_error (book/pagetools.py), which prints the type and message and fails if nothing is raised."""
    for chapter in toc_chapters():
        for number, line in enumerate(chapter.read_text(encoding="utf-8").splitlines(), 1):
            assert "raises-exception" not in line, f"{chapter.name}:{number}: use `with shows_error(...)` instead"


def test_shows_error_prints_the_error_and_refuses_a_block_that_raises_nothing(capsys):
    sys.path.insert(0, str(ROOT / "book"))
    try:
        from pagetools import shows_error
    finally:
        sys.path.remove(str(ROOT / "book"))
    with shows_error(ValueError):
        raise ValueError("matmul: shapes (3, 4) and (3, 4)")
    assert capsys.readouterr().out == "ValueError: matmul: shapes (3, 4) and (3, 4)\n"
    try:
        with shows_error(ValueError):
            pass
    except AssertionError as error:
        assert "expected to raise ValueError, and raised nothing" in str(error)
    else:
        raise AssertionError("shows_error accepted a block that raised nothing")
    try:
        with shows_error(ValueError):
            raise KeyError("another kind")
    except KeyError:
        pass
    else:
        raise AssertionError("shows_error swallowed an error of another kind")


def test_every_chapter_file_is_in_the_toc_and_chapter_names_carry_no_numbers():
    listed = {path.resolve() for path in toc_chapters()}
    for path in (ROOT / "book").glob("*.md"):
        assert path.resolve() in listed, f"{path.name} is not in _toc.yml"
        assert not re.match(r"\d", path.name), f"{path.name}: numbering comes from the toc"


def labelled_things(chapter):
    """(line, what, label or None) for each heading, display equation and exercise of a chapter."""
    source = chapter.read_text()
    lines = source.splitlines()
    parser = MarkdownIt("commonmark").use(front_matter_plugin).use(colon_fence_plugin).use(dollarmath_plugin).use(amsmath_plugin)
    for token in parser.parse(source):
        line = token.map[0] + 1 if token.map else None
        if token.type == "heading_open":
            above = next((text for text in reversed(lines[: line - 1]) if text.strip()), "")
            match = re.fullmatch(r"\(([\w-]+)\)=", above)
            yield line, f"heading {token.markup}", match and match.group(1)
        elif token.type in ("math_block", "math_block_label"):
            yield line, "equation", token.info or None
        elif token.type == "fence" and token.info.split(maxsplit=1)[:1] == ["{exercise}"]:
            options, _ = tangle.parse_options(token.content.splitlines())
            yield line, "{exercise}", options.get("label", (None,))[0]


def test_every_chapter_section_equation_and_exercise_has_a_label():
    """Labels are what instructors cite (book/citing.md): none may be missing,
    and their prefixes say what they name."""
    for chapter in toc_chapters():
        prefixes = {"heading #": ("chapter-",), "equation": ("eq-",), "{exercise}": ("ex-",)}
        section = (f"{chapter.stem}-", "op-")
        found = list(labelled_things(chapter))
        assert [what for _, what, _ in found].count("heading #") == 1, f"{chapter.name} needs one title"
        for line, what, label in found:
            assert label, f"book/{chapter.name}:{line}: this {what} has no label"
            expected = prefixes.get(what, section)
            assert label.startswith(expected), f"book/{chapter.name}:{line}: {what} label {label!r} should start with {' or '.join(expected)}"
    first_ops = (ROOT / "book/first-ops.md").read_text()
    for op in ["add", "minus", "power", "relu", "matmul", "reduce-sum", "reduce-mean", "copy-rows", "mse-loss"]:
        assert f"(op-{op})=" in first_ops, op


def test_every_public_operation_is_derived_under_a_stable_label():
    import edugrad.ops

    book = "".join(chapter.read_text() for chapter in toc_chapters())
    names = [name for name in dir(edugrad.ops) if not name.startswith("_") and callable(getattr(edugrad.ops, name))]
    names = [name for name in names if name not in ("Operation", "tensor_op")]
    assert len(names) >= 25
    for name in names:
        label = "op-" + name.replace("_", "-")
        assert f"({label})=" in book, f"no ({label})= label in the book"


def test_every_full_run_has_its_results_file_and_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    scripts = sorted((ROOT / "examples").glob("*/run.py"))
    assert len(scripts) >= 4
    for script in scripts:
        name = script.relative_to(ROOT).as_posix()
        assert f"python {name}" in readme, f"README.md's 'Full-scale runs' does not list {name}"
        results = json.loads((script.parent / "results.json").read_text())
        runs = results.get("runs", [results])  # a file may hold several runs, one per part
        for run in runs:
            assert run["command"].startswith(f"python {name}"), (name, run["command"])
            assert run["machine"] and run["date"], (name, run)
            timed = run.get("wall_time_minutes", 0) > 0 or all(row["seconds"] > 0 for row in results["rows"])
            assert timed, f"{name}: its results give no wall time"
