"""Turn a ``RunReport`` into text. The only formatting code; the core never prints.

The formats and their registry: ``formats``.
"""

class RenderedAhead:
    """Each case's report text, written as its case ends rather than all at the end.

    ``adcheck check`` learns the cases' reports one by one while the other cases still compute;
    written then, the text costs nothing the user waits for. Written after the last case, it
    runs with every worker idle: a third of a second for the JSON of 200 small cases. A report
    whose text was not written ahead (or that is not the object that was) is written when asked.
    """

    def __init__(self, render_one):
        self._render_one = render_one
        self._texts: dict[int, tuple[object, str]] = {}

    def add(self, report) -> None:
        self._texts[id(report)] = (report, self._render_one(report))

    def __call__(self, report) -> str:
        kept = self._texts.get(id(report))
        return kept[1] if kept is not None and kept[0] is report else self._render_one(report)
