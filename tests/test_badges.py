"""The badges of book/_ext/tangle_badges.py: every package cell names its file
(and chunk, and the class a chunk is part of); page-only sketches say so.

Builds a tiny Sphinx project with myst-nb (no execution) and reads its HTML.
"""

import os
import shutil
import subprocess
import sys
import textwrap
from html.parser import HTMLParser

import pytest

from conftest import MYST_FRONT_MATTER, ROOT

CHAPTER = MYST_FRONT_MATTER + '''
# A chapter

```{code-cell} ipython3
:tangle: edugrad/thing.py
class Thing:
    """A thing."""

    # <<thing-size>>
```

```{code-cell} ipython3
:chunk: thing-size
def size(self):
    return 1
```

```{code-cell} ipython3
:tangle: edugrad/helpers.py
:tags: [hide-input]
def helper():
    return 2
```

```{code-cell} ipython3
def sketch():
    return 3
```

```{code-cell} ipython3
print("just a demonstration")
```
'''


class Cells(HTMLParser):
    """The badge texts and classes of each cell container, in order."""

    def __init__(self):
        super().__init__()
        self.cells, self.depth, self.in_badge = [], [], None

    def handle_starttag(self, tag, attrs):
        classes = dict(attrs).get("class", "").split()
        if tag == "div" and "cell" in classes:
            self.cells.append({"classes": classes, "badges": []})
        if tag == "p" and "edugrad-badge" in classes:
            self.in_badge = {"classes": classes, "text": ""}
            self.cells[-1]["badges"].append(self.in_badge)

    def handle_endtag(self, tag):
        if tag == "p":
            self.in_badge = None

    def handle_data(self, data):
        if self.in_badge is not None:
            self.in_badge["text"] += data


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    try:
        import jupyter_book  # noqa: F401
        import myst_nb  # noqa: F401
    except ImportError:
        if os.environ.get("EDUGRAD_REQUIRE_BOOK") == "1":
            pytest.fail("jupyter-book is required for the badge test (pip install -e '.[book]')")
        pytest.skip("jupyter-book is not installed: the book's badge extension cannot be built")
    source = tmp_path_factory.mktemp("badges")
    (source / "index.md").write_text(CHAPTER)
    (source / "_toc.yml").write_text("format: jb-book\nroot: index\n")
    shutil.copy(ROOT / "tangle.py", source / "tangle.py")
    (source / "conf.py").write_text(textwrap.dedent(f"""\
        import sys
        sys.path.insert(0, {str(ROOT / "book" / "_ext")!r})
        extensions = ["myst_nb", "tangle_badges"]
        nb_execution_mode = "off"
        exclude_patterns = ["_build"]
        """))
    output = source / "_build"
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(source), str(output)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return output


def test_package_cells_name_their_file_and_chunks_their_file_and_class(built):
    parser = Cells()
    parser.feed((built / "index.html").read_text())
    assert len(parser.cells) == 5
    tangled, chunk, hidden, sketch, demo = parser.cells
    assert [b["text"] for b in tangled["badges"]] == ["in the package: edugrad/thing.py"]
    assert chunk["badges"][0]["text"] == (
        "in the package: edugrad/thing.py, chunk thing-size (part of class Thing, added here, after the class was defined)"
    )
    assert hidden["badges"][0]["text"] == "in the package: edugrad/helpers.py"  # shown although the code is folded
    for cell in (tangled, chunk, hidden):
        assert "edugrad-package-cell" in cell["classes"] and "edugrad-badge-package" in cell["badges"][0]["classes"]


def test_a_hidden_input_stays_folded_under_its_badge(built):
    html = (built / "index.html").read_text()
    badge, fold, code = html.index("edugrad/helpers.py"), html.index("<details"), html.index(">helper<")
    assert badge < fold < code, "the badge must come before the fold, and the code inside it"
    assert html.count("<details") == 1  # only the hidden cell is folded


def test_page_only_cells_look_different_and_sketches_say_so(built):
    parser = Cells()
    parser.feed((built / "index.html").read_text())
    sketch, demo = parser.cells[3:]
    assert [b["text"] for b in sketch["badges"]] == ["page only: a sketch, not part of the package"]
    assert "edugrad-badge-sketch" in sketch["badges"][0]["classes"]
    assert demo["badges"] == []
    for cell in (sketch, demo):
        assert "edugrad-page-cell" in cell["classes"] and "edugrad-package-cell" not in cell["classes"]


def test_the_style_sheet_is_linked_and_copied(built):
    assert 'href="_static/tangle_badges.css' in (built / "index.html").read_text()
    assert "edugrad-badge-package" in (built / "_static" / "tangle_badges.css").read_text()
