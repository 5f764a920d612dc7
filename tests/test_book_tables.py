"""book/tables.py: the results tables of the chapters render as HTML tables and as aligned text."""

import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "book"))
from tables import Table  # noqa: E402


def test_a_table_is_an_html_table_with_escaped_cells_and_right_aligned_numbers():
    table = Table(["model", "test (%)"], [["DAN <ours>", "44.3 ± 0.3"], ["NBOW-RAND", "42.3"]], caption="SST")
    html = table._repr_html_()
    assert html.startswith('<table class="results-table"><caption>SST</caption>')
    assert "<th>model</th><th>test (%)</th>" in html
    assert "<td>DAN &lt;ours&gt;</td>" in html
    assert '<td style="text-align: right">44.3 ± 0.3</td>' in html and '<td style="text-align: right">42.3</td>' in html


def test_its_text_form_aligns_the_columns():
    text = repr(Table(["a", "bb"], [["long cell", "1"], ["x", "22"]]))
    assert text.splitlines() == ["a          bb", "long cell  1", "x          22"]


def test_a_row_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match="a row has 1 cells but the header has 2"):
        Table(["a", "b"], [["only one"]])
