"""The book's own style sheet, book/_static/edugrad.css, on every page.

It keeps long lines of code and output, and the results tables, within the
theme's content width (tests/test_book_in_browser.py checks that nothing
overflows). Only CSS lives in book/_static: Sphinx would make every .js file
there a script on every page.
"""

from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "_static"


def add_static_path(app, config):
    if str(STATIC) not in [str(Path(path).resolve()) for path in config.html_static_path]:
        config.html_static_path.append(str(STATIC))


def setup(app):
    app.connect("config-inited", add_static_path)
    app.add_css_file("edugrad.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
