"""Keep the browser console of every page free of errors.

Two parts of the Jupyter Book 1 tool chain log errors on every page:

* sphinx-thebe adds its inline configuration script twice, and the second
  copy fails with "Identifier 'THEBE_JS_URL' has already been declared";
* the theme reads the light/dark mode from the browser's storage, finds
  nothing on a first visit, and logs "Got invalid theme mode" unless a
  default mode is configured.

tests/test_book_in_browser.py fails on any console error, so that a real
one is not lost among these.
"""


def set_default_mode(app, config):
    config.html_context.setdefault("default_mode", "auto")  # follow the reader's system


def drop_repeated_scripts(app, pagename, templatename, context, doctree):
    # The two copies differ only in an empty file name, None in one and "" in the other.
    seen, unique = set(), []
    for script in context["script_files"]:
        key = (script.filename or "", script.priority, tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"][:] = unique  # in place: it is the list other handlers add to


def setup(app):
    app.connect("config-inited", set_default_mode)
    app.connect("html-page-context", drop_repeated_scripts, priority=900)  # after the others
    return {"parallel_read_safe": True, "parallel_write_safe": True}
