"""The built book, opened in headless Chromium without a network: on every
page the math is typeset (no raw TeX shows), images load, the console has no
errors, nothing is requested from another host, and every internal link and
anchor exists.

These tests need the built book and Chromium, so they are not part of a
plain ``pytest``; CI runs them after building the book:

    apt-get install -y chromium
    jupyter-book build --all .
    pytest -m browser

``EDUGRAD_BOOK_HTML`` points them at another build, ``EDUGRAD_CHROMIUM`` at
another browser binary.
"""

import os
import re
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import edugrad
from conftest import ROOT

pytestmark = pytest.mark.browser

BOOK_HTML = Path(os.environ.get("EDUGRAD_BOOK_HTML", ROOT / "_build" / "html"))
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
NOT_PAGES = ("_static", "_sources", "_images", "mathjax")  # folders of assets, not pages


# -- What can be checked in the HTML files themselves ------------------------------------


class PageLinks(HTMLParser):
    """The ids a page defines, the links it makes and the resources it loads."""

    LOADS = {"script": "src", "img": "src", "iframe": "src", "source": "src", "link": "href"}

    def __init__(self):
        super().__init__()
        self.ids, self.links, self.loads = set(), [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("id", "name"):
            if attrs.get(name):
                self.ids.add(attrs[name])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        elif tag == "meta" and attrs.get("http-equiv", "").lower() == "refresh":
            self.links.append(attrs["content"].partition("url=")[2])  # a page that only redirects
        elif attrs.get(self.LOADS.get(tag, "")):
            relation = attrs.get("rel", "")
            if tag != "link" or relation in ("stylesheet", "preload", "icon", "modulepreload"):
                self.loads.append(attrs[self.LOADS[tag]])


def pages(site: Path) -> list[Path]:
    return sorted(path for path in site.rglob("*.html") if not set(path.relative_to(site).parts) & set(NOT_PAGES))


def is_redirect(page: Path) -> bool:
    """Whether the page only sends the reader on (the book's index.html does)."""
    return 'http-equiv="Refresh"' in page.read_text(encoding="utf-8")


def is_internal(url: str) -> bool:
    return not urlsplit(url).scheme and not url.startswith("//")


def static_problems(site: Path) -> list[str]:
    """Links to missing pages or anchors, and resources from another host."""
    parsed = {}
    for page in pages(site):
        parser = PageLinks()
        parser.feed(page.read_text(encoding="utf-8"))
        parsed[page.resolve()] = parser
    problems = []
    for page, parser in parsed.items():
        name = page.relative_to(site.resolve()).as_posix()
        for url in parser.loads:
            if not is_internal(url):
                problems.append(f"{name}: loads {url} from another host")
            elif not (page.parent / unquote(urlsplit(url).path)).resolve().is_file():
                problems.append(f"{name}: loads {url}, which does not exist")
        for url in parser.links:
            if not is_internal(url):
                continue  # a link to another site (a paper's DOI) is followed only on request
            parts = urlsplit(url)
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                problems.append(f"{name}: link {url} leads to a missing file")
            elif parts.fragment and target.suffix == ".html":
                if target not in parsed or unquote(parts.fragment) not in parsed[target].ids:
                    problems.append(f"{name}: link {url} leads to a missing anchor")
    return problems


# -- What needs a browser ------------------------------------------------------------------

# Text outside code that still looks like TeX, and math that MathJax did not turn into output.
FIND_RAW_TEX = r"""async () => {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
    await document.fonts.ready;
    const problems = [];
    for (const math of document.querySelectorAll(".math")) {
        if (!math.querySelector("mjx-container") && !math.closest("mjx-container"))
            problems.push("raw TeX: " + math.textContent.trim().slice(0, 60));
    }
    for (const error of document.querySelectorAll("mjx-merror"))
        problems.push("TeX error: " + (error.getAttribute("data-mjx-error") || error.textContent));
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {acceptNode: node =>
        node.parentElement.closest("pre, code, script, style, mjx-container, .math, textarea")
            ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
    while (walker.nextNode()) {
        const text = walker.currentNode.textContent;
        if (/\\\(|\\\[|\$\$|\\begin\{/.test(text)) problems.push("raw TeX: " + text.trim().slice(0, 60));
    }
    return problems;
}"""

FIND_BROKEN_IMAGES = """async () => {
    const images = [...document.images];
    images.forEach(image => image.loading = "eager");
    await Promise.all(images.map(image => image.complete ? null :
        new Promise(done => { image.addEventListener("load", done); image.addEventListener("error", done); })));
    return images.filter(image => !image.naturalWidth).map(image => "broken image: " + image.getAttribute("src"));
}"""


# Code, output, math and tables that do not fit: an element whose content is wider than its box (the theme
# clips it or hides it behind a scroll bar), or that reaches past the right edge of the page's article.
WIDTH = 1280  # the width a lecture's projector or a laptop shows the book at
FIND_OVERFLOW = r"""async () => {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
    await document.fonts.ready;
    const article = document.querySelector("article") || document.querySelector("main") || document.body;
    const right = article.getBoundingClientRect().right;
    const selectors = ["div.cell_input pre", "div.cell_output pre", "div.output pre", "div.highlight pre",
                       "div.cell_output table", "table.results-table", "div.math", "mjx-container[display='true']"];
    const problems = [];
    const seen = new Set();
    for (const selector of selectors) {
        for (const element of article.querySelectorAll(selector)) {
            if (seen.has(element) || !element.getClientRects().length) continue;  // hidden (a collapsed cell)
            seen.add(element);
            const box = element.getBoundingClientRect();
            const what = selector + ' "' + element.textContent.trim().replace(/\s+/g, " ").slice(0, 60) + '"';
            if (element.scrollWidth > element.clientWidth + 1)
                problems.push("overflow: " + what + ": " + element.scrollWidth + "px of content in " +
                              element.clientWidth + "px");
            else if (box.right > right + 1)
                problems.push("overflow: " + what + ": reaches " + Math.round(box.right - right) +
                              "px past the article");
        }
    }
    return problems;
}"""


def chromium_binary() -> str:
    chosen = os.environ.get("EDUGRAD_CHROMIUM")
    binary = shutil.which(chosen) if chosen else shutil.which("chromium") or shutil.which("chromium-browser")
    if not binary:
        pytest.fail(f"no Chromium found{f' at EDUGRAD_CHROMIUM={chosen}' if chosen else ''}: install it (apt-get install -y chromium)")
    return binary


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser tests need playwright: pip install -e '.[browser]'")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_binary(), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def browser_problems(browser, page_file: Path) -> list[str]:
    """Open one page, WIDTH pixels wide, and report what a reader would see go wrong."""
    problems = []
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})

    def refuse_other_hosts(route):
        if urlsplit(route.request.url).scheme in ("file", "data", "blob", "about"):
            route.continue_()
        else:
            problems.append(f"requested {route.request.url} from another host")
            route.abort()

    page.route("**/*", refuse_other_hosts)
    page.on("console", lambda message: message.type == "error" and problems.append(f"console error: {message.text}"))
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"failed to load {request.url}: {request.failure}"))
    try:
        page.goto(page_file.resolve().as_uri(), wait_until="load")
        problems += page.evaluate(FIND_RAW_TEX)
        problems += page.evaluate(FIND_BROKEN_IMAGES)
        problems += page.evaluate(FIND_OVERFLOW)
        page.wait_for_timeout(200)  # let late console messages arrive
    finally:
        page.close()
    return problems


# -- The checks can fail ---------------------------------------------------------------------

LONG_LINE = "gradcheck passed on 20 partial derivatives; " * 6

PIXEL = '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"><rect width="1" height="1" fill="white"/></svg>'


def crafted_site(root: Path) -> Path:
    """Two pages: one that works, one with every fault the checks look for."""
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import offline_mathjax

    root.mkdir()
    (root / "mathjax").symlink_to(offline_mathjax.MATHJAX, target_is_directory=True)
    (root / "pixel.svg").write_text(PIXEL)
    mathjax = '<script>window.MathJax = {tex: {inlineMath: [["\\\\(", "\\\\)"]]}}</script><script defer src="mathjax/tex-mml-chtml.js"></script>'
    (root / "good.html").write_text(
        f'<html><head>{mathjax}</head><body><p id="here">Math: <span class="math">\\(x^2\\)</span></p>'
        '<img src="pixel.svg"><a href="good.html#here">here</a> <a href="https://doi.org/10.1/x">a paper</a>'
        f'<article style="width: 600px"><div class="cell_output"><pre style="white-space: pre-wrap">{LONG_LINE}</pre></div>'
        '</article></body></html>'
    )
    (root / "bad.html").write_text(
        '<html><head><script src="https://cdn.example.org/lib.js"></script></head><body>'
        '<p>Math: <span class="math">\\(y^2\\)</span> and \\(z\\) in plain text</p>'
        '<img src="missing.png"><a href="nowhere.html">gone</a> <a href="good.html#no-such-anchor">lost</a>'
        "<script>notDefinedAnywhere()</script>"
        f'<article style="width: 600px"><div class="cell_output"><pre style="overflow-x: auto">{LONG_LINE}</pre></div>'
        f'<div class="highlight"><pre style="overflow: hidden">{LONG_LINE}</pre></div>'
        f'<table class="results-table" style="width: 900px"><tr><td>wide</td></tr></table></article></body></html>'
    )
    return root


def test_the_checks_catch_raw_tex_broken_images_errors_other_hosts_and_dead_links(tmp_path, browser):
    site = crafted_site(tmp_path / "site")
    assert browser_problems(browser, site / "good.html") == []
    found = "\n".join(browser_problems(browser, site / "bad.html"))
    for expected in ["raw TeX: \\(y^2\\)", "raw TeX: and \\(z\\) in plain text", "broken image: missing.png",
                     "script error: notDefinedAnywhere is not defined", "requested https://cdn.example.org/lib.js from another host",
                     'overflow: div.cell_output pre "gradcheck passed', 'overflow: div.highlight pre "gradcheck passed',
                     'overflow: table.results-table "wide": reaches 300px past the article']:
        assert expected in found, f"{expected!r} not among:\n{found}"
    assert sorted(static_problems(site)) == [
        "bad.html: link good.html#no-such-anchor leads to a missing anchor",
        "bad.html: link nowhere.html leads to a missing file",
        "bad.html: loads https://cdn.example.org/lib.js from another host",
        "bad.html: loads missing.png, which does not exist",
    ]


# -- The book ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def book() -> Path:
    if not (BOOK_HTML / "index.html").exists():
        pytest.fail(f"no built book in {BOOK_HTML}: run `jupyter-book build --all .` first")
    return BOOK_HTML


def test_the_book_links_only_to_what_exists_and_loads_nothing_from_another_host(book):
    assert len(pages(book)) >= 10
    assert static_problems(book) == []


def test_every_page_shows_the_version_of_the_package(book):
    for page in pages(book):
        if is_redirect(page):
            continue  # its target has the version
        text = page.read_text(encoding="utf-8")
        assert re.search(rf"<title>[^<]*edugrad {re.escape(edugrad.__version__)}</title>", text), page
        assert f'class="book-version">edugrad {edugrad.__version__}' in text, page


def test_every_page_works_in_a_browser_without_a_network(book, browser):
    opened = [page for page in pages(book) if not is_redirect(page)]
    problems = {page.relative_to(book).as_posix(): browser_problems(browser, page) for page in opened}
    assert {page: found for page, found in problems.items() if found} == {}
    # and the math really was there to typeset
    typeset = browser.new_page()
    typeset.goto((book / "book" / "first-ops.html").as_uri(), wait_until="load")
    typeset.evaluate(FIND_RAW_TEX)
    assert typeset.locator("mjx-container").count() > 20
    typeset.close()
