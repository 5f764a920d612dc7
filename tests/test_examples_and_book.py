"""Course-style scripts run unchanged, and every chapter is an executable notebook."""

import re
import subprocess
import sys

import yaml

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


def toc_chapters():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}]):
        files += [entry["file"] for entry in part["chapters"]]
    return [ROOT / f"{name}.md" for name in files]


def test_every_chapter_is_an_executable_myst_notebook():
    chapters = toc_chapters()
    assert len(chapters) >= 9
    for chapter in chapters:
        text = chapter.read_text()
        assert text.startswith("---\n"), f"{chapter.name}: no front matter"
        front = yaml.safe_load(text.split("---\n")[1])
        assert front["jupytext"]["text_representation"]["format_name"] == "myst", chapter.name
        assert front["kernelspec"]["name"] == "python3", chapter.name
        assert "```{code-cell}" in text, f"{chapter.name} has no code cells to execute"


def test_every_chapter_file_is_in_the_toc_and_chapter_names_carry_no_numbers():
    listed = {path.resolve() for path in toc_chapters()}
    for path in (ROOT / "book").glob("*.md"):
        assert path.resolve() in listed, f"{path.name} is not in _toc.yml"
        assert not re.match(r"\d", path.name), f"{path.name}: numbering comes from the toc"


def test_every_chapter_has_a_label_and_every_op_section_a_stable_label():
    for chapter in toc_chapters():
        text = chapter.read_text()
        assert re.search(r"^\(chapter-[\w-]+\)=$", text, re.M), f"{chapter.name} has no (chapter-...)= label"
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
