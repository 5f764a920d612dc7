"""Show the book's version on every page: the package's ``edugrad.__version__``.

The version is written in one place, the cell of ``book/intro.md`` that
makes ``edugrad/__init__.py``; the package metadata (``pyproject.toml``)
and the book both read it from there. It appears in every page's title and
footer, so a printout or a screenshot says which edition it comes from.
"""

import edugrad


def set_version(app, config):
    version = edugrad.__version__
    config.version = config.release = version
    config.html_title = f"{config.html_title} {version}"
    config.html_theme_options["extra_footer"] = (
        f'<p class="book-version">edugrad {version}: cite this edition by its version '
        f"and a label, as the page “How to cite this book” explains.</p>"
    )


def setup(app):
    app.connect("config-inited", set_version)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
