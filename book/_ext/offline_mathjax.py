"""Typeset the book's math with a copy of MathJax that travels with the HTML.

By default Sphinx loads MathJax from a CDN, and a book read offline then
shows raw TeX. This extension copies MathJax 3 out of a registry package
(``django-static-mathjax``, which ships the MathJax distribution unchanged)
into ``mathjax/`` at the root of the HTML output, and points ``mathjax_path``
at it. Not into ``_static/``: Jupyter Book adds every ``.js`` file of a
``_static`` folder to every page as a script, and MathJax has a hundred.
"""

import shutil
from pathlib import Path

import mathjax  # the django-static-mathjax package

MATHJAX = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"  # the browser build
FOLDER = "mathjax"  # where it goes, relative to the HTML output's root
ENTRY = "tex-mml-chtml.js"  # the component Sphinx loads from the CDN by default


def use_local_mathjax(app, config):
    # Sphinx takes a relative mathjax_path to be inside _static/, hence "../".
    config.mathjax_path = f"../{FOLDER}/{ENTRY}"


def copy_mathjax(app, exception):
    if exception is None and app.builder.format == "html":
        shutil.copytree(MATHJAX, Path(app.outdir) / FOLDER, dirs_exist_ok=True)


def setup(app):
    app.connect("config-inited", use_local_mathjax)
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
