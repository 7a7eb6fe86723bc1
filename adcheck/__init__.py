"""adcheck: are your automatic derivatives right, and if not, why?"""

__version__ = "0.1.0"


def case(*, input=None, inputs=None, random=None, seed=0, wrt=None, backends=None, rtol=None, atol=None,
         timeout=None, mode=None, order=None, contexts=None):
    """Mark a function as an adcheck case for ``adcheck check``; returns it unchanged.

    ``adcheck check`` and ``pytest --adcheck`` find the decorator by parsing the file, not by
    importing it, so the arguments must be literals (numbers, lists, strings). The decorator
    records nothing and wraps nothing: it costs nothing at run time. Give exactly one of
    ``input`` (one argument), ``inputs`` (a list, one entry per argument) or ``random`` (shapes,
    one per argument, with ``seed``); ``wrt`` lists the differentiated argument indices.
    Stack the decorator to check a function at several inputs.
    """

    def mark(func):
        return func

    return mark
