"""adcheck: are your automatic derivatives right, and if not, why?"""

import sys
import types

__version__ = "0.1.0"


def check(f, *args, **options):
    """Check ``f``'s derivatives at ``args``: the verdict, a row per backend, the wrong entries by
    name and the findings, as an ``adcheck.api.Report`` (``str(report)`` is the table). See
    ``adcheck.api.check`` for the arguments and options."""
    from .api import check as run_check

    return run_check(f, *args, **options)


class _Package(types.ModuleType):
    """``adcheck.check`` is the function above, although a module ``adcheck/check.py`` (``adcheck
    check``'s engine) exists: importing a submodule sets it as an attribute of its package, which
    would replace the function the first time anything imports ``adcheck.check``. The module
    stays where imports find it, ``sys.modules["adcheck.check"]``: ``from adcheck.check import
    run_check`` works as before (``import adcheck.check as m`` would give the function)."""

    def __setattr__(self, name, value):
        if name == "check" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


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
