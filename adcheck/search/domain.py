"""The function's domain as the search saw it: where its value is NaN/inf or it raises.

Stan's rule (``expect_ad``): where the primal throws or is not finite, that is the function's
domain and no derivative is owed; only where the value is finite must every derivative be too.
The search skips such inputs and says where they lie: for each input entry, when every input
outside the domain had that entry below (or above) every input inside it, the edge between them
("value NaN for x[0] < 0"); otherwise how many inputs and the simplest of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DomainPoint:
    flat: np.ndarray
    what: str  # "NaN", "inf" or "raises" (the value there)


def what_value_is(value: np.ndarray | None) -> str:
    """"NaN" or "inf" for a value with such entries, "" for a finite one."""
    if value is None:
        return "NaN"
    if np.any(np.isnan(value)):
        return "NaN"
    if not np.all(np.isfinite(value)):
        return "inf"
    return ""


def _number(value: float) -> str:
    return f"{value:.3g}"


def domain_edges(outside: list[DomainPoint], inside: list[np.ndarray], column_name) -> tuple[str, ...]:
    """One sentence per kind of value ("NaN", "inf", "raises") the search met outside the domain."""
    sentences = []
    for what in ("NaN", "inf", "raises"):
        points = [p.flat for p in outside if p.what == what]
        if not points:
            continue
        verb = "the function raises" if what == "raises" else f"value {what}"
        edge = _separating_edge(np.array(points), np.array(inside) if inside else None, column_name)
        if edge:
            sentences.append(f"{verb} for {edge} ({len(points)} input{'s' if len(points) != 1 else ''})")
        else:
            simplest = min(points, key=lambda p: (np.count_nonzero(p), float(np.sum(np.abs(p)))))
            shown = ", ".join(_number(v) for v in simplest)
            sentences.append(f"{verb} at {len(points)} input{'s' if len(points) != 1 else ''}, e.g. [{shown}]")
    return tuple(sentences)


def _separating_edge(outside: np.ndarray, inside: np.ndarray | None, column_name) -> str:
    """``x[0] < 0``: an entry whose values outside the domain all lie on one side of its values
    inside; the first such entry (the one with the widest gap relative to its values)."""
    if inside is None or inside.size == 0:
        return ""
    best, best_gap = "", 0.0
    for column in range(outside.shape[1]):
        out, ins = outside[:, column], inside[:, column]
        scale = max(float(np.max(np.abs(out))), float(np.max(np.abs(ins))), np.finfo(float).tiny)
        if out.max() < ins.min():
            gap, sentence = (ins.min() - out.max()) / scale, f"{column_name(column)} < {_edge(out.max(), ins.min())}"
        elif out.min() > ins.max():
            gap, sentence = (out.min() - ins.max()) / scale, f"{column_name(column)} > {_edge(ins.max(), out.min())}"
        else:
            continue
        if gap > best_gap:
            best, best_gap = sentence, gap
    return best


def _edge(below: float, above: float) -> str:
    """The simplest number between ``below`` (excluded) and ``above`` (included) to name an edge:
    0 when it lies between them, else the one of fewest significant digits."""
    if below < 0 <= above:
        return "0"
    for digits in range(1, 17):
        for candidate in (float(f"{above:.{digits}g}"), float(f"{below:.{digits}g}")):
            if below < candidate <= above:
                return f"{candidate:.{digits}g}"
    return _number(above)
