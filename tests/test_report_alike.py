"""One bug seen many times is told once: entries alike make one row ("and 11 more like it"), a
pair of arrays that disagrees everywhere is one line, a map's identical lines are drawn once, and
a backend with the same disagreements as another says so instead of drawing them again."""

from __future__ import annotations

import numpy as np

from adcheck.model import (
    ArgumentInfo,
    BackendRun,
    BackendVerdict,
    Comparison,
    EntryMismatch,
    OutputLeaf,
    RunReport,
    Status,
)
from adcheck.report.table import disagreement_map, render

W_SHAPE = (3, 4)  # params["w1"]: every entry's derivative is 3 where it should be 2
N_W, N_B = 12, 2


def alike_report() -> RunReport:
    reference = np.array([[2.0] * N_W + [0.5, 0.25]])
    wrong = np.array([[3.0] * N_W + [0.5, 0.25]])
    mask = np.zeros((1, N_W + N_B), dtype=bool)
    mask[0, :N_W] = True
    listed = tuple(EntryMismatch(0, col, 3.0, 2.0, 2.0**-40 * (col + 1), 1.0, 2.0**19) for col in range(10))
    verdicts = [BackendVerdict("fd", Status.REFERENCE, 0.5)]
    runs = [BackendRun("fd", Status.REFERENCE, 0.5, jacobian=reference, error=np.full(reference.shape, 2.0**-40))]
    for name in ("jax-fwd", "jax-rev"):
        verdicts.append(BackendVerdict(name, Status.DISAGREE, 0.5, message=f"{N_W} of {N_W + N_B} entries outside "
                                       "tolerance", max_abs_error=1.0, max_rel_error=2.0**19, worst_entry=(0, 0),
                                       mismatches=listed, n_mismatches=N_W, mismatch_mask=mask))
        runs.append(BackendRun(name, Status.COMPUTED, 0.5, jacobian=wrong))
    arguments = (ArgumentInfo(0, W_SHAPE, "float64", True, name='params["w1"]'),
                 ArgumentInfo(0, (N_B,), "float64", True, name='params["b"]'))
    return RunReport(target="m.py:loss", arguments=arguments, output_shapes=((1,),), framework="jax",
                     runs=tuple(runs), comparison=Comparison(verdicts=tuple(verdicts), odd_one_out=("jax-fwd", "jax-rev")),
                     function="loss", outputs=(OutputLeaf("", ()),))


def test_entries_alike_make_one_row_that_counts_them():
    text = render(alike_report(), timings=False)
    rows = [line for line in text.splitlines() if line.startswith("d loss / d ")]
    assert len(rows) == 1
    assert rows[0].startswith('d loss / d params["w1"][0, 0] and 11 more like it ')
    assert "more entries" not in text  # all twelve are counted in the row, the ten listed and two more


def test_a_pair_of_arrays_wrong_everywhere_is_one_line_and_a_shared_map_is_not_drawn_twice():
    text = render(alike_report(), timings=False)
    assert '  d loss / d params["w1"]: all 12 entries disagree' in text.splitlines()
    assert "jax-rev: the same disagreements as jax-fwd" in text
    assert text.count("where the disagreements are") == 1
    assert "X" not in text.split("where the disagreements are")[1].split("FAIL")[0].replace("(X:", "")


def test_identical_lines_of_a_map_are_drawn_once_and_counted():
    mask = np.zeros((45, 60), dtype=bool)
    mask[:3, :5] = True
    assert disagreement_map(mask).splitlines() == ["X" * 5 + "." * 55, "(and 2 more lines like it)",
                                                   "." * 60, "(and 41 more lines like it)"]
    mask[1, 10] = True  # two alike lines are drawn as they are
    assert disagreement_map(mask).splitlines()[:4] == ["X" * 5 + "." * 55, "X" * 5 + "." * 5 + "X" + "." * 49,
                                                       "X" * 5 + "." * 55, "." * 60]
