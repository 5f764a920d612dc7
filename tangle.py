#!/usr/bin/env python3
"""Make the ``edugrad`` package from the book's chapters.

The chapters in ``book/`` are the single source of truth. A code cell that
belongs to the package says where its code goes, with options that the built
book does not show::

    ```{code-cell} ipython3
    :tangle: edugrad/tensor.py
    class Tensor:
        ...
        # <<tensor-backward>>
    ```

    ```{code-cell} ipython3
    :chunk: tensor-backward
    def backward(self):
        ...
    ```

* ``:tangle: edugrad/<path>.py`` appends the cell to that file. Files are
  assembled in the order of ``_toc.yml``, then by position in the chapter; an
  optional ``:order: <integer>`` (default 0) sorts cells of one file first.
* ``:chunk: <name>`` names the cell instead; a comment line ``# <<name>>``
  elsewhere is replaced by it, indented like the comment. This is how a
  method can be taught chapters after its class.
* ``### BEGIN SOLUTION <exercise label>`` / ``### END SOLUTION`` lines mark
  exercise solutions. The package keeps the code between them and drops the
  markers; ``--student DIR`` writes a student edition (chapters, package,
  tests) where each region raises ``NotImplementedError`` instead and every
  ```{solution}`` block of prose is removed.

Usage::

    python tangle.py            # write edugrad/
    python tangle.py --check    # write nothing; show drift as a diff, exit 1
    python tangle.py --force    # overwrite files that were edited by hand
    python tangle.py --student DIR   # write the student edition to DIR

Exit status: 0 on success, 1 on drift or a refused overwrite, 2 on an error
in a chapter (always reported as ``file:line: message``).
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from markdown_it import MarkdownIt
from mdit_py_plugins.front_matter import front_matter_plugin

PACKAGE = "edugrad"
CHUNK_REFERENCE = re.compile(r"^(?P<indent>[ \t]*)# <<(?P<name>[A-Za-z0-9_.-]+)>>[ \t]*$")
CELL_OPTION = re.compile(r"^:(?P<key>[A-Za-z_][\w-]*):(?:[ \t]+(?P<value>.*?))?[ \t]*$")
TANGLE_OPTIONS = ("tangle", "chunk", "order")
BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
HASH_LINE = re.compile(r"^# tangle-sha256: (?P<digest>[0-9a-f]{64})$")


class TangleError(Exception):
    """A mistake in a chapter, reported as ``file:line: message``."""

    def __init__(self, location: str, message: str):
        super().__init__(f"{location}: {message}")


@dataclass
class Cell:
    """A code cell that contributes to the package."""

    chapter: str  # "book/tensor.md", relative to the project root
    line: int  # 1-based line of the cell's first line of code
    lines: list[str]  # the code, options removed
    target: str | None = None
    chunk: str | None = None
    order: int = 0
    position: tuple[int, int] = (0, 0)  # (chapter index in the toc, line)
    chunk_location: str = ""  # where a chunk's :chunk: option is
    used_by: list[str] = field(default_factory=list)

    @property
    def location(self) -> str:
        return f"{self.chapter}:{self.line}"


# -- Reading the table of contents and the chapters ----------------------------


def read_source(root: Path, name: str) -> str:
    """A chapter (or the toc) as text: UTF-8 without a byte-order mark, or a ``file:line`` error."""
    data = (root / name).read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        raise TangleError(f"{name}:1", "the file begins with a UTF-8 byte-order mark; save it as UTF-8 without one")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise TangleError(f"{name}:{line}", f"not valid UTF-8: byte 0x{data[error.start]:02x} at column {column}") from None


def toc_chapters(root: Path) -> list[str]:
    """The chapters listed in ``_toc.yml``, in order, as ``book/<name>.md``.

    Only the ``root:`` and ``file:`` entries matter here, so they are read
    line by line instead of pulling in a YAML parser.
    """
    toc = root / "_toc.yml"
    if not toc.exists():
        raise TangleError(str(toc.name), "no _toc.yml: it lists the chapters to tangle")
    chapters, listed_at = [], {}
    for number, text in enumerate(read_source(root, "_toc.yml").splitlines(), 1):
        match = re.match(r"^\s*(?:-\s+)?(?:root|file):\s*(?P<file>\S+)\s*$", text)
        if match:
            name = match["file"].strip("'\"")
            path = name if name.endswith(".md") else name + ".md"
            if not (root / path).is_file():
                raise TangleError(f"_toc.yml:{number}", f"{path} does not exist")
            if path in listed_at:  # its code would be tangled twice
                raise TangleError(f"_toc.yml:{number}", f"{path} is listed twice (first at line {listed_at[path]})")
            listed_at[path] = number
            chapters.append(path)
    return chapters


def parse_options(lines: list[str]) -> tuple[dict[str, tuple[str, int]], int]:
    """Read a cell's leading ``:key: value`` options (or a ``---`` YAML block).

    Returns the options, each with its line offset in the cell, and the number
    of lines they take up.
    """
    options: dict[str, tuple[str, int]] = {}
    if lines and lines[0].strip() == "---":
        for offset, text in enumerate(lines[1:], 1):
            if text.strip() == "---":
                return options, offset + 1
            key, _, value = text.partition(":")
            options[key.strip()] = (value.strip(), offset)
        return options, 0  # no closing "---": plain code
    count = 0
    for text in lines:
        match = CELL_OPTION.match(text)
        if not match:
            break
        options[match["key"]] = (match["value"] or "", count)
        count += 1
    return options, count


def is_closed(fence, source_lines: list[str]) -> bool:
    """Whether a fence token found its closing fence (CommonMark runs an
    unclosed fence to the end of the document without complaint)."""
    start, end = fence.map
    if end - 1 <= start or end - 1 >= len(source_lines) + 1:
        return False
    closing = source_lines[end - 1].strip()
    marker = fence.markup[0]
    return len(closing) >= len(fence.markup) and set(closing) == {marker}


def is_myst_notebook(front_matter: str) -> bool:
    """Jupyter Book executes a Markdown file only if jupytext front matter
    declares it a MyST notebook with a kernel."""
    return re.search(r"^\s*format_name:\s*myst\s*$", front_matter, re.M) is not None and (
        re.search(r"^kernelspec:", front_matter, re.M) is not None
    )


def read_cells(root: Path, chapter: str, index: int) -> list[Cell]:
    """The tangled cells of one chapter, checked for the mistakes we can see."""
    source = read_source(root, chapter)
    source_lines = source.splitlines()
    tokens = MarkdownIt("commonmark").use(front_matter_plugin).parse(source)
    front_matter = next((t.content for t in tokens if t.type == "front_matter"), "")
    exercises = exercise_labels(tokens)
    cells = []
    for token in tokens:
        if token.type != "fence":
            continue
        fence_line = token.map[0] + 1
        location = f"{chapter}:{fence_line}"
        if not is_closed(token, source_lines):
            raise TangleError(location, f"code fence {token.markup!r} is never closed")
        lines = token.content.splitlines()
        options, option_count = parse_options(lines)
        tangle_options = [key for key in TANGLE_OPTIONS if key in options]
        is_code_cell = token.info.split(maxsplit=1)[:1] == ["{code-cell}"]
        if tangle_options and not is_code_cell:
            raise TangleError(
                location,
                f":{tangle_options[0]}: is only allowed on a {{code-cell}}, and this is a "
                f"{token.info or 'plain'!r} block: the book would not execute it",
            )
        if is_code_cell and not is_myst_notebook(front_matter):
            raise TangleError(
                f"{chapter}:1",
                "this chapter has code cells but no jupytext front matter "
                "(format_name: myst, kernelspec), so Jupyter Book would not execute them",
            )
        first_code_line = fence_line + 1 + option_count
        code = lines[option_count:]
        check_solution_markers(code, chapter, first_code_line, exercises)
        if not tangle_options:
            continue
        cell = Cell(chapter, first_code_line, strip_blank_ends(code))
        cell.position = (index, fence_line)

        def option_location(key: str) -> str:
            return f"{chapter}:{fence_line + 1 + options[key][1]}"

        if "tangle" in options and "chunk" in options:
            raise TangleError(location, "a cell is either :tangle:d to a file or a named :chunk:, not both")
        if "chunk" in options:
            cell.chunk = options["chunk"][0]
            cell.chunk_location = option_location("chunk")
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", cell.chunk):
                raise TangleError(cell.chunk_location, f"chunk name {cell.chunk!r} may only use letters, digits, '_', '.', '-'")
        elif "tangle" in options:
            cell.target = check_target(options["tangle"][0], option_location("tangle"))
        else:
            raise TangleError(option_location("order"), ":order: needs a :tangle: target")
        if "order" in options:
            try:
                cell.order = int(options["order"][0])
            except ValueError:
                raise TangleError(option_location("order"), f":order: must be an integer, not {options['order'][0]!r}") from None
        cells.append(cell)
    return cells


def check_target(target: str, location: str) -> str:
    """A target must be a Python file inside the package."""
    path = PurePosixPath(target)
    if not target or path.is_absolute() or "\\" in target or ".." in path.parts:
        raise TangleError(location, f":tangle: {target!r} must be a relative path inside {PACKAGE}/")
    if path.parts[0] != PACKAGE or len(path.parts) < 2:
        raise TangleError(location, f":tangle: {target!r} is outside {PACKAGE}/")
    if path.suffix != ".py":
        raise TangleError(location, f":tangle: {target!r} is not a .py file")
    return str(path)


def exercise_labels(tokens) -> set:
    """The labels of the chapter's ```{exercise} blocks."""
    labels = set()
    for token in tokens:
        if token.type == "fence" and token.info.split(maxsplit=1)[:1] == ["{exercise}"]:
            options, _ = parse_options(token.content.splitlines())
            if "label" in options:
                labels.add(options["label"][0])
    return labels


def check_solution_markers(code: list[str], chapter: str, first_line: int, exercises: set) -> None:
    """BEGIN/END SOLUTION markers must pair up, one level deep, and name an exercise of the chapter."""
    open_at = None
    for offset, text in enumerate(code):
        marker = text.strip()
        if marker.startswith(BEGIN_SOLUTION):
            if open_at is not None:
                raise TangleError(f"{chapter}:{first_line + offset}", f"{BEGIN_SOLUTION} inside another solution (opened at line {open_at})")
            label = marker[len(BEGIN_SOLUTION):].strip()
            if label not in exercises:
                problem = f"{label!r} is not the label of an {{exercise}} in this chapter" if label else "no exercise label"
                raise TangleError(f"{chapter}:{first_line + offset}", f"{BEGIN_SOLUTION} <label>: {problem}")
            open_at = first_line + offset
        elif marker.startswith(END_SOLUTION):
            if open_at is None:
                raise TangleError(f"{chapter}:{first_line + offset}", f"{END_SOLUTION} without a {BEGIN_SOLUTION}")
            open_at = None
    if open_at is not None:
        raise TangleError(f"{chapter}:{open_at}", f"{BEGIN_SOLUTION} is never closed by {END_SOLUTION}")


def strip_blank_ends(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return [text.rstrip() for text in lines[start:end]]


# -- Assembling the files ------------------------------------------------------


def without_markers(cell: Cell):
    """Yield ``(offset, line)`` of the cell, solution marker lines left out."""
    for offset, text in enumerate(cell.lines):
        marker = text.strip()
        if not (marker.startswith(BEGIN_SOLUTION) or marker.startswith(END_SOLUTION)):
            yield offset, text


def expand(cell: Cell, chunks: dict[str, Cell], sources: set[str], stack: tuple[str, ...] = ()) -> list[str]:
    """The cell's code with every ``# <<name>>`` line replaced by its chunk.

    ``sources`` collects the chapters that contribute to the result."""
    sources.add(cell.chapter)
    output = []
    for offset, text in without_markers(cell):
        match = CHUNK_REFERENCE.match(text)
        if not match:
            output.append(text)
            continue
        name, indent = match["name"], match["indent"]
        where = f"{cell.chapter}:{cell.line + offset}"
        if name in stack:
            raise TangleError(where, "chunk cycle: " + " -> ".join(stack + (name,)))
        if name not in chunks:
            raise TangleError(where, f"no chunk named {name!r} is defined in any chapter")
        chunk = chunks[name]
        if chunk.used_by:
            raise TangleError(where, f"chunk {name!r} is already used at {chunk.used_by[0]}")
        chunk.used_by.append(where)
        body = [f"# {chunk.location}"] + expand(chunk, chunks, sources, stack + (name,))
        output.extend(indent + line if line else "" for line in body)
    return output


def with_header(chapters: list[str], body: str) -> str:
    """The file: a header naming the chapters and a hash of every other byte of the file, then the body."""
    before_hash = (
        f"# Generated by tangle.py from {', '.join(chapters)}. Do not edit:\n"
        "# change the chapter, then run `python tangle.py`.\n"
    )
    after_hash = "\n" + body
    digest = hashlib.sha256((before_hash + after_hash).encode("utf-8")).hexdigest()
    return f"{before_hash}# tangle-sha256: {digest}\n{after_hash}"


def tangle(root: Path) -> dict[str, str]:
    """Read every chapter in the toc and return ``{path: file text}``."""
    chapters = toc_chapters(root)
    cells = [cell for index, chapter in enumerate(chapters) for cell in read_cells(root, chapter, index)]
    check_untangled_chapters(root, chapters)
    chunks: dict[str, Cell] = {}
    for cell in cells:
        if cell.chunk is None:
            continue
        if cell.chunk in chunks:
            raise TangleError(cell.chunk_location, f"chunk {cell.chunk!r} is already defined at {chunks[cell.chunk].chunk_location}")
        chunks[cell.chunk] = cell
    files: dict[str, list[Cell]] = {}
    for cell in sorted((c for c in cells if c.target), key=lambda c: (c.order, c.position)):
        files.setdefault(cell.target, []).append(cell)
    outputs = {}
    for target, file_cells in sorted(files.items()):
        sources: set[str] = set()
        pieces = ["\n".join([f"# {cell.location}"] + expand(cell, chunks, sources)) for cell in file_cells]
        body = "\n\n\n".join(pieces) + "\n"
        outputs[target] = with_header(sorted(sources, key=chapters.index), body)
    for chunk in chunks.values():
        if not chunk.used_by:
            raise TangleError(chunk.chunk_location, f"chunk {chunk.chunk!r} is never used: no '# <<{chunk.chunk}>>' line refers to it")
    return outputs


def check_untangled_chapters(root: Path, chapters: list[str]) -> None:
    """A chapter that tangles code but is missing from the toc would be
    silently ignored: refuse it."""
    for path in sorted((root / "book").rglob("*.md")):
        chapter = path.relative_to(root).as_posix()
        if chapter in chapters:
            continue
        text = read_source(root, chapter)
        for number, line in enumerate(text.splitlines(), 1):
            if re.match(r"^:(tangle|chunk):", line):
                raise TangleError(f"{chapter}:{number}", "this chapter tangles code but is not listed in _toc.yml")


# -- Writing, checking and refusing ----------------------------------------------


def recorded_digest(text: str) -> tuple[str | None, str]:
    """The digest a generated file records, and what it should cover: every byte but the hash line."""
    lines = text.split("\n")
    for number, line in enumerate(lines[:5]):
        match = HASH_LINE.match(line)
        if match:
            return match["digest"], "\n".join(lines[:number] + lines[number + 1:])
    return None, text


def was_edited_by_hand(text: str) -> bool:
    digest, covered = recorded_digest(text)
    if digest is None:
        return True
    if hashlib.sha256(covered.encode("utf-8")).hexdigest() == digest:
        return False
    # Files written before the hash covered the header recorded the hash of the lines after the
    # blank line under it; accept those while the header is untouched, so that they can be rewritten.
    lines = covered.split("\n")
    legacy = "\n".join(lines[3:])
    return not (lines[2:3] == [""] and lines[0].startswith("# Generated by tangle.py from ")
                and hashlib.sha256(legacy.encode("utf-8")).hexdigest() == digest)


def diff(path: str, old: str, new: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{path}", f"b/{path}"))


def orphans(root: Path, outputs: dict[str, str]) -> list[str]:
    package = root / PACKAGE
    if not package.exists():
        return []
    found = []
    for path in sorted(package.rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        relative = path.relative_to(root).as_posix()
        if relative not in outputs:
            found.append(relative)
    return found


def write_package(root: Path, outputs: dict[str, str], check: bool, force: bool) -> int:
    """Write (or, with check, compare) the files; report hand edits and orphans."""
    out, err = sys.stdout, sys.stderr
    status = 0
    for target, text in outputs.items():
        path = root / target
        old = path.read_bytes().decode("utf-8", errors="replace") if path.exists() else ""
        if old == text:
            continue
        if check:
            out.write(diff(target, old, text) or f"{target} differs\n")
            status = 1
            continue
        if path.exists() and was_edited_by_hand(old) and not force:
            err.write(
                f"{target}: edited by hand since it was generated; not overwriting it.\n"
                f"Move the change into its chapter (the '# book/...' comments say where), "
                f"or run `python tangle.py --force` to discard it. What tangling would change:\n"
            )
            err.write(diff(target, old, text))
            status = 1
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
    for orphan in orphans(root, outputs):
        err.write(f"{orphan}: no chapter produces this file; it was left in place (delete it if it is obsolete)\n")
        if check:
            status = 1
    return status


# -- The student edition -------------------------------------------------------------

STUDENT_FILES = ("tangle.py", "pyproject.toml", "requirements.lock", "README.md", "_config.yml", "_toc.yml", ".gitignore")
STUDENT_DIRECTORIES = ("book", "tests", "examples", "benchmarks")


def student_chapter(chapter: str, source: str) -> str:
    """The chapter with every solution region replaced by a ``raise`` and solution prose removed."""
    lines = source.splitlines(keepends=True)
    for number, text in enumerate(lines, 1):
        if re.match(r"^\s*:{3,}\s*\{solution", text) or "{solution-start}" in text:
            raise TangleError(f"{chapter}:{number}", "write solutions as a ```{solution} block, so that the student edition can remove them")
    dropped, replaced = set(), {}
    for token in MarkdownIt("commonmark").use(front_matter_plugin).parse(source):
        if token.type != "fence":
            continue
        start, end = token.map
        if token.info.split(maxsplit=1)[:1] == ["{solution}"]:
            dropped.update(range(start, end))
            continue
        inside = False
        for number in range(start + 1, end - 1):
            marker = lines[number].strip()
            if marker.startswith(BEGIN_SOLUTION):
                label = marker[len(BEGIN_SOLUTION):].strip()  # checked by read_cells: an exercise of this chapter
                indent = lines[number][: len(lines[number]) - len(lines[number].lstrip())]
                page = PurePosixPath(chapter).stem
                replaced[number] = f'{indent}raise NotImplementedError("{label}: see {page}#{label}")\n'
                inside = True
            elif marker.startswith(END_SOLUTION):
                dropped.add(number)
                inside = False
            elif inside:
                dropped.add(number)
    return "".join(replaced.get(number, text) for number, text in enumerate(lines) if number not in dropped)


def write_student_edition(root: Path, target: Path, force: bool) -> int:
    """Copy what students need to ``target``, with solutions replaced, and tangle it there."""
    root, target = root.resolve(), target.resolve()
    if target == root or root in target.parents or target in root.parents:
        raise TangleError(str(target), "the student edition must be written outside the project, and not around it")
    if target.exists() and not target.is_dir():
        raise TangleError(str(target), "is a file: the student edition is written into a directory")
    if target.exists() and any(target.iterdir()) and not force:
        raise TangleError(str(target), "is not empty: choose an empty directory, or add --force to write into it")
    tangle(root)  # every chapter must be valid before anything is written
    target.mkdir(parents=True, exist_ok=True)
    for name in STUDENT_FILES:
        if (root / name).exists():
            shutil.copy2(root / name, target / name)
    for name in STUDENT_DIRECTORIES:
        if (root / name).exists():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "_build", ".ipynb_checkpoints")
            shutil.copytree(root / name, target / name, dirs_exist_ok=True, ignore=ignore)
    for path in sorted((root / "book").rglob("*.md")):
        chapter = path.relative_to(root).as_posix()
        with open(target / chapter, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(student_chapter(chapter, read_source(root, chapter)))
    return write_package(target, tangle(target), check=False, force=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; print a diff and exit 1 if edugrad/ is out of date")
    parser.add_argument("--force", action="store_true", help="overwrite generated files even if they were edited by hand")
    parser.add_argument("--student", type=Path, metavar="DIR", help="write a student edition, solutions replaced by exercises, to DIR")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent, help="the project directory (default: where tangle.py is)")
    args = parser.parse_args(argv)
    try:
        if args.student:
            return write_student_edition(args.root, args.student, force=args.force)
        return write_package(args.root, tangle(args.root), check=args.check, force=args.force)
    except TangleError as error:
        print(f"tangle.py: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a file that cannot be read or written: say which, without a traceback
        print(f"tangle.py: {error.filename or ''}: {error.strerror or error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
