"""Results tables for the book's pages.

A cell that ends with ``Table(header, rows)`` shows a real HTML table in the rendered book (it wraps and
fits the page's width, where a printed block of aligned text would be clipped) and aligned plain text
anywhere else. Cells are shown as given: format numbers before passing them.
"""

import html
import re


class Table:
    """A small table: ``header`` is a list of column titles, ``rows`` a list of lists of cells."""

    def __init__(self, header, rows, caption=None):
        self.header = [str(title) for title in header]
        self.rows = [[str(cell) for cell in row] for row in rows]
        for row in self.rows:
            if len(row) != len(self.header):
                raise ValueError(f"Table: a row has {len(row)} cells but the header has {len(self.header)}: {row}")
        self.caption = caption

    def _repr_html_(self) -> str:
        def numeric(text):  # right-align numbers, with a sign, a spread, a percent or a unit
            return re.fullmatch(r"[+\-−]?[\d,]*\.?\d+%?( ± [\d.]+)?( [a-z]+)?", text) is not None

        head = "".join(f"<th>{html.escape(title)}</th>" for title in self.header)
        body = "".join(
            "<tr>"
            + "".join(
                f'<td style="text-align: right">{html.escape(cell)}</td>' if numeric(cell) else f"<td>{html.escape(cell)}</td>"
                for cell in row
            )
            + "</tr>"
            for row in self.rows
        )
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return f'<table class="results-table">{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    def __repr__(self) -> str:
        widths = [max(len(row[i]) for row in [self.header, *self.rows]) for i in range(len(self.header))]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [self.header, *self.rows]]
        return "\n".join(([self.caption] if self.caption else []) + lines)
