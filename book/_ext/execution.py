"""Execute the chapters before Sphinx reads them: several at a time, and again whenever what they used changed.

myst-nb keeps executed notebooks in a jupyter-cache, which matches a notebook
by the source of its code cells alone. A chapter's outputs also depend on the
package it imports and the files it reads, so a cache keyed on cells would
show stale outputs after an edit to ``edugrad/`` or to a data or results file.

This extension runs when Sphinx asks which documents are outdated, before it
reads any. For every chapter that is a notebook it looks up the cached
execution and the files that execution used, recorded beside it. A chapter is
executed again when its code cells changed or when any of those files did
(package modules are compared without the ``# book/<chapter>.md:<line>``
markers, which a prose edit moves without changing any code). The chapters to
run are executed together, ``EDUGRAD_BOOK_JOBS`` at a time (default: the number
of cores), the slowest first, each kernel with one BLAS thread so that outputs
do not depend on how many ran beside it. Their results go into the cache,
where myst-nb finds them, and Sphinx re-reads exactly those chapters.

A chapter that fails here is left to myst-nb, which executes it again and
reports the failing cell as usual (and fails a strict build).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
from sphinx.util import logging

logger = logging.getLogger(__name__)

RECORD_KEY = "edugrad_dependencies"  # in the cache record's data: {path: content hash}
RUN_KEY = "edugrad_execution"  # and a name for that execution, to tell which one a page shows
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# Run first in the kernel: remember every file the chapter opens for reading or writing.
RECORDER = """\
import os as _os, sys as _sys
_book_reads, _book_writes = set(), set()
def _book_audit(event, args):
    if event != "open" or not isinstance(args[0], (str, bytes, _os.PathLike)):
        return
    path, mode, flags = args
    writes = any(c in mode for c in "wax+") if mode else bool(flags & (_os.O_WRONLY | _os.O_RDWR | _os.O_CREAT))
    (_book_writes if writes else _book_reads).add(_os.path.abspath(_os.fsdecode(path)))
_sys.addaudithook(_book_audit)
"""
# Run last: the files read (and not written) and the modules imported.
REPORT = """\
import json as _json
print(_json.dumps({"reads": sorted(_book_reads - _book_writes),
                   "modules": sorted({m.__file__ for m in list(_sys.modules.values()) if getattr(m, "__file__", None)})}))
"""

MARKER = re.compile(rb"^[ \t]*# (book/\S+\.md:\d+|tangle-sha256: [0-9a-f]+)[ \t]*$", re.M)


def content_hash(path: Path, package: Path) -> str | None:
    """The file's sha256; for the package's modules, without the lines that only say where code came from."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if path.suffix == ".py" and package in path.parents:
        data = MARKER.sub(b"", data)
    return hashlib.sha256(data).hexdigest()


def chapter_notebook(app, docname: str):
    """The notebook myst-nb reads from the chapter (None if the chapter is not a notebook)."""
    from myst_nb.core.read import create_nb_reader

    path = app.env.doc2path(docname)
    text = Path(path).read_text(encoding="utf-8")
    reader = create_nb_reader(str(path), app.env.myst_config, app.env.mystnb_config, text)
    if reader is None:
        return None
    notebook = reader.read(text)
    if not any(cell.cell_type == "code" for cell in notebook.cells):
        return None
    kernel = notebook.metadata.get("kernelspec", {}).get("name")
    for pattern, alias in app.env.mystnb_config.kernel_rgx_aliases.items():
        if kernel is not None and re.fullmatch(pattern, kernel):
            notebook.metadata["kernelspec"]["name"] = alias
            break
    return notebook


def execute(notebook_json: str, cwd: str, timeout: int | None) -> tuple[str | None, dict, float, str | None]:
    """Run one chapter in a new kernel (in a worker process); returns the executed notebook and what it used."""
    from jupyter_cache.executors.utils import single_nb_execution

    os.environ.update(ONE_THREAD)  # inherited by the kernel
    notebook = nbformat.reads(notebook_json, as_version=4)
    notebook.cells.insert(0, nbformat.v4.new_code_cell(RECORDER))
    notebook.cells.append(nbformat.v4.new_code_cell(REPORT))
    result = single_nb_execution(notebook, cwd=cwd, timeout=timeout, allow_errors=False)
    if result.err is not None:
        return None, {}, result.time, f"{type(result.err).__name__}: {result.err}"
    report = notebook.cells.pop()
    notebook.cells.pop(0)
    used = json.loads("".join(output.get("text", "") for output in report.outputs))
    for count, cell in enumerate((cell for cell in notebook.cells if cell.cell_type == "code"), 1):
        cell.execution_count = count  # as if the recorder had not run
        for output in cell.get("outputs", []):
            if "execution_count" in output:
                output["execution_count"] = count
    return nbformat.writes(notebook), used, result.time, None


def dependencies(used: dict, srcdir: Path, chapter: Path) -> dict[str, str]:
    """The project's and the data's files among those a chapter used, with their hashes."""
    package = srcdir / "edugrad"
    roots = [srcdir]
    for data in (os.environ.get("EDUGRAD_DATA"), Path.home() / ".cache" / "edugrad"):
        if data:
            roots.append(Path(data).resolve())
    skipped = (srcdir / "_build", srcdir / ".git")
    found = {}
    for name in used["reads"] + used["modules"]:
        path = Path(name).resolve()
        if path == chapter or "__pycache__" in path.parts or not path.is_file():
            continue
        if any(root == path or root in path.parents for root in roots) and not any(s in path.parents for s in skipped):
            # the project's files by their place in it, so that a moved or copied project keeps its cache
            name = path.relative_to(srcdir).as_posix() if srcdir in path.parents else str(path)
            found[name] = content_hash(path, package)
    return found


def execute_outdated(app, env, added, changed, removed) -> list[str]:
    """Sphinx's env-get-outdated: execute what is stale, and name the chapters to re-read."""
    if env.mystnb_config.execution_mode != "cache":
        return []
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(env.mystnb_config.execution_cache_path)
    srcdir = Path(app.srcdir).resolve()
    package = srcdir / "edugrad"
    records = {record.uri: record for record in cache.list_cache_records()}
    rendered = getattr(env, "edugrad_cache_records", {})
    to_run, reasons, current, failed, stale = {}, {}, {}, [], {}
    for docname in sorted(env.found_docs):
        notebook = chapter_notebook(app, docname)
        if notebook is None:
            continue
        try:
            record = cache.match_cache_notebook(notebook)
        except KeyError:
            record = None
        deps = (record.data or {}).get(RECORD_KEY) if record is not None else None
        if record is None:
            reasons[docname] = "its code cells are new"
        elif deps is None:
            reasons[docname] = "its cached outputs do not say what they used"
        else:
            changed_files = [p for p, h in deps.items() if content_hash(srcdir / p, package) != h]
            if not changed_files:
                current[docname] = record.data.get(RUN_KEY)
                continue
            names = changed_files
            reasons[docname] = "changed: " + ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        to_run[docname] = notebook
        if record is not None:
            stale[docname] = record.pk

    if not to_run:
        logger.info(f"[execution] all {len(current)} chapters up to date")
    else:
        jobs = int(os.environ.get("EDUGRAD_BOOK_JOBS") or os.cpu_count() or 1)
        # Slowest first, by the time each took last; on a first build, the last chapters first (they train models).
        toc = list(getattr(app.config, "external_site_map", None) or sorted(env.found_docs))
        last_time = {d: (records[u].data or {}).get("execution_seconds", 0) if (u := uri(env, d)) in records else 0 for d in to_run}
        order = sorted(to_run, key=lambda d: (-last_time[d], -(toc.index(d) if d in toc else len(toc))))
        logger.info(f"[execution] {len(to_run)} chapters to execute, {jobs} at a time; {len(current)} up to date")
        for docname in order:
            logger.info(f"[execution]   {docname}: {reasons[docname]}")
        start = time.perf_counter()
        timeout = env.mystnb_config.execution_timeout
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {}
            for docname in order:
                path = Path(uri(env, docname))
                futures[docname] = pool.submit(execute, nbformat.writes(to_run[docname]), str(path.parent), timeout)
            for docname in order:
                path = Path(uri(env, docname))
                try:
                    executed, used, seconds, error = futures[docname].result()
                except Exception as crash:  # the worker itself failed
                    executed, error = None, f"{type(crash).__name__}: {crash}"
                # Never let myst-nb fall back on stale outputs: the record the cells matched goes, as do older ones.
                for record in cache.list_cache_records():
                    if record.uri == str(path) or record.pk == stale.get(docname):
                        cache.remove_cache(record.pk)
                if error is not None:
                    logger.info(f"[execution]   {docname} failed ({error}); myst-nb runs it again and reports it")
                    failed.append(docname)
                    continue
                data = {"execution_seconds": seconds, RECORD_KEY: dependencies(used, srcdir, path), RUN_KEY: uuid.uuid4().hex}
                bundle = CacheBundleIn(nbformat.reads(executed, as_version=4), str(path), data=data)
                cache.cache_notebook_bundle(bundle, check_validity=False, overwrite=True)
                current[docname] = data[RUN_KEY]
                logger.info(f"[execution]   {docname}: {seconds:.1f} s, {len(data[RECORD_KEY])} files used")
        logger.info(f"[execution] done in {time.perf_counter() - start:.0f} s")

    # Re-read every chapter whose cached execution is not the one its last reading showed.
    # A chapter that failed is re-read too, so that myst-nb executes it and reports the failing cell.
    outdated = [docname for docname, run in current.items() if rendered.get(docname) != run] + failed
    env.edugrad_cache_records = current
    return outdated


def uri(env, docname: str) -> str:
    """How the cache names a chapter: its absolute path."""
    return str(Path(env.doc2path(docname)).resolve())


def setup(app):
    app.connect("env-get-outdated", execute_outdated)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
