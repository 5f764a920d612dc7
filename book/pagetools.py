"""What the chapters use to show an error, not part of the package.

A cell that demonstrates a mistake runs it inside ``shows_error``: the page
then prints the error's type and message, the part a reader needs, instead of
a traceback whose drawing depends on the installed IPython and Pygments. If
the code raises nothing, or raises another kind of error, the cell fails and
so does the build: a page cannot keep showing an error that no longer happens.
"""

from contextlib import contextmanager


@contextmanager
def shows_error(*expected: type[BaseException]):
    """Run the block, expect one of ``expected`` (any ``Exception`` if none given), print it."""
    expected = expected or (Exception,)
    try:
        yield
    except expected as error:
        print(f"{type(error).__name__}: {error}")
    else:
        names = " or ".join(kind.__name__ for kind in expected)
        raise AssertionError(f"the block was expected to raise {names}, and raised nothing")
