"""Show on every code cell where its code goes.

A cell with ``:tangle: edugrad/<file>.py`` gets a badge naming the file; a
cell with ``:chunk: <name>`` one naming the chunk, the file it ends up in
and, when the chunk is spliced into a class, that class ("a method of
Tensor, added here"). A cell with neither that defines something (a ``def``
or a ``class``) is a page-only sketch: it gets a badge saying so, and every
page-only cell a lighter frame, so that package code and sketches look
different.

myst-nb turns each code cell into a ``container`` node with
``nb_element="cell_code"`` and the cell's options in ``cell_metadata``; the
badge is put at the top of that container. That happens in a post-transform
that runs after myst-nb's own ``HideInputCells`` (priority 199), which folds
a hidden input away only if it is the container's first child: the badge
then lands above the fold and shows even when the code is folded away.
Where a chunk goes is read from the chapters with the project's own
``tangle.py``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

DEFINITION = re.compile(r"^(?:@\w|def |class |async def )", re.M)


def chunk_homes(root: Path) -> dict:
    """{chunk name: (file it ends up in, enclosing class or None)}, from tangle.py's reading of the chapters."""
    if not (root / "tangle.py").exists() or not (root / "_toc.yml").exists():
        return {}
    sys.path.insert(0, str(root))
    try:
        import tangle
    finally:
        sys.path.remove(str(root))
    try:
        chapters = tangle.toc_chapters(root)
        cells = [cell for index, chapter in enumerate(chapters) for cell in tangle.read_cells(root, chapter, index)]
    except tangle.TangleError:
        return {}  # tangle.py reports it; the badges just go without chunk homes
    used_in = {}  # chunk name -> (cell that uses it, class around the use)
    for cell in cells:
        for number, line in enumerate(cell.lines):
            match = tangle.CHUNK_REFERENCE.match(line)
            if match:
                used_in[match["name"]] = (cell, enclosing_class(cell.lines[:number], len(match["indent"])))
    homes = {}
    for cell in cells:
        if not cell.chunk:
            continue
        owner, klass, seen = cell, None, set()
        while owner.chunk and owner.chunk in used_in and owner.chunk not in seen:
            seen.add(owner.chunk)
            owner, around = used_in[owner.chunk]
            klass = klass or around
        homes[cell.chunk] = (owner.target, klass)
    return homes


def enclosing_class(lines_above: list, indent: int):
    for line in reversed(lines_above):
        match = re.match(r"^(\s*)class (\w+)", line)
        if match and len(match[1]) < indent:
            return match[2]
    return None


def badge(kind: str, *parts) -> nodes.paragraph:
    """A paragraph of text and ``code`` pieces (a piece in a 1-tuple is code)."""
    paragraph = nodes.paragraph(classes=["edugrad-badge", f"edugrad-badge-{kind}"])
    for part in parts:
        paragraph += nodes.literal(text=part[0]) if isinstance(part, tuple) else nodes.Text(part)
    return paragraph


def cell_source(container) -> str:
    blocks = [node.astext() for node in container.findall(nodes.literal_block)]
    return blocks[0] if blocks else ""


def add_badges(homes: dict, doctree) -> None:
    for container in list(doctree.findall(nodes.container)):
        if container.get("nb_element") != "cell_code":
            continue
        metadata = container.get("cell_metadata") or {}
        target, chunk = metadata.get("tangle"), metadata.get("chunk")
        if target:
            container.insert(0, badge("package", "in the package: ", (str(target),)))
            container["classes"].append("edugrad-package-cell")
        elif chunk:
            home, klass = homes.get(str(chunk), (None, None))
            parts = ["in the package: "] + ([(home,), ", "] if home else []) + ["chunk ", (str(chunk),)]
            if klass:
                parts.append(f" (part of class {klass}, added here, after the class was defined)")
            container.insert(0, badge("package", *parts))
            container["classes"].append("edugrad-package-cell")
        else:
            container["classes"].append("edugrad-page-cell")
            if DEFINITION.search(cell_source(container)):
                container.insert(0, badge("sketch", "page only: a sketch, not part of the package"))


class TangleBadges(SphinxPostTransform):
    """Put the badges on the code cells, after myst-nb has folded the hidden inputs."""

    default_priority = 250  # after myst_nb's HideInputCells (199)

    def run(self, **kwargs) -> None:
        add_badges(getattr(self.env, "edugrad_chunk_homes", {}), self.document)


def read_chunk_homes(app) -> None:
    app.env.edugrad_chunk_homes = chunk_homes(Path(app.srcdir))


def add_static_path(app, config) -> None:
    config.html_static_path.append(str(Path(__file__).parent / "static"))


def setup(app):
    app.connect("config-inited", add_static_path)
    app.connect("builder-inited", read_chunk_homes)
    app.add_post_transform(TangleBadges)
    app.add_css_file("tangle_badges.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
