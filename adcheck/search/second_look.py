"""The second look of ``--search``: the inputs its screen flagged, judged again with the ordinary
run's second witness in the warm reference worker, before any of them costs a whole ordinary run.

The screen's reference is a quick two-step FD estimate (``screen._quick_reference``); at the
magnitudes a search draws (up to 1e12) it lands outside its own error bar often enough that a
correct 50-parameter MLP had 10 of 200 inputs flagged, each then confirmed by a whole ordinary
run (a fresh import and trace in every backend's worker: 2.3 s each), and none was a failure.
Most of that run is not needed to clear such an input: the AD backends' runs there are already
in hand from the screen, and so is FD's accusation. What the screen lacks is the second witness,
without which FD alone convicts nothing (the two-witness rule). So, for every flagged input of a
chunk at once, in one task of the reference's worker (``task.AtEach``):

1. the screen's comparison names the columns (full mode) or probe directions (fast mode) where FD
   alone accused an AD backend, as an ordinary run's first comparison does (``compared``, by
   the same ``compare.compare`` / ``verdict.products.compare_fast`` and ``verdict.chain``);
2. the reference's worker takes the second witness along them (``task.WitnessColumns`` /
   ``task.WitnessDirections``: the Taylor remainder walked on both sides, and in full mode the
   complex step), as ``run._second_look`` and ``run._fast_comparison`` ask it;
3. the same comparison with that witness convicts, overrules or leaves unproven each accusation.

An input it clears has passed a stricter test than every input the screen passes outright (the
same quick estimate, plus the witness); one it still convicts is "suspect", and a whole ordinary
run decides it (``Searcher._confirm``: the adaptive reference, the backends' own noise, blame
and the report). So is an input no witness can clear: a NaN derivative where FD is finite, a
backend that raises. The adaptive reference was tried here too, before the witness: in fast
mode it cost 0.3 to 0.8 s an input on the MLP (hundreds of evaluations), the walk 0.05 to 0.25 s,
and the walk alone settled every input it settled.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..model import FAILING, BackendRun, JobResult, Mode, Status, Witness, WitnessResult

# What the second look says of a flagged input: checked and right, nothing could verify it, or
# still convicted (a whole ordinary run decides).
PASS, UNVERIFIABLE, SUSPECT = "pass", "unverifiable", "suspect"


def second_look(work, flagged: list[tuple[np.ndarray, list[BackendRun], object]], mode: Mode, settings, arguments,
                pool) -> list[str]:
    """For each flagged (flat input, the screen's runs in ``work.order``, the witness job its
    comparison asks for or None): ``PASS``, ``UNVERIFIABLE`` or ``SUSPECT``, from one task of the
    reference's warm worker. An input with nothing to witness (a NaN derivative where FD is
    finite, a backend that raises) is ``SUSPECT`` at once: no witness can clear it."""
    verdicts = [SUSPECT] * len(flagged)
    asked = [(k, job) for k, (_, _, job) in enumerate(flagged) if job is not None]
    if not asked:
        return verdicts
    witnessed = _each(work, settings, pool, [(flagged[k][0], job) for k, job in asked])
    for (k, _), result in zip(asked, witnessed):
        flat, runs, _ = flagged[k]
        # A witness that could not be taken ends the provisional accusations, as in an ordinary
        # run: unproven, never convicted.
        found = (result.witness if isinstance(result, WitnessResult) else None) or Witness.absent(
            result.message if result is not None else "the second look's task failed")
        runs = [dataclasses.replace(run, second_look=dataclasses.replace(run.second_look, witness=found))
                if run.name == "fd" else run for run in runs]
        verdicts[k] = verdict(compared(runs, flat, mode, settings, arguments)[0])
    return verdicts


def _each(work, settings, pool, jobs: list[tuple[np.ndarray, object]]) -> list[JobResult | None]:
    """The reference's run of each (input, job), in one task of its warm worker; None for each
    where the task as a whole failed (a timeout, a crash)."""
    from ..run import worker_lanes
    from ..task import AtEach
    from ..workers import run_tasks

    fd_task = next(task for task in work.tasks if task.backend == "fd")
    task = dataclasses.replace(fd_task, job=AtEach(tuple(flat for flat, _ in jobs), tuple(job for _, job in jobs)),
                               probes=False, contexts=(), order=1)
    (result,) = run_tasks([task], settings.timeout, pool=pool, lane=worker_lanes([task], pooled=True))
    if len(result.each) != len(jobs):
        return [None] * len(jobs)
    return list(result.each)


def compared(runs: list[BackendRun], flat: np.ndarray, mode: Mode, settings, arguments):
    """(the comparison an ordinary run makes of these runs at ``flat``, and the second witness it
    asks for next, or None: a ``WitnessColumns`` or ``WitnessDirections`` job for the columns or
    directions where FD alone accused), by the functions ``run._judged`` uses."""
    from ..compare import compare
    from ..finite_differences import input_scales, step_scales, typical_scale
    from ..task import WitnessColumns, WitnessDirections
    from ..verdict.reference import precision_of

    reference = next(run for run in runs if run.name == "fd")
    x = flat.astype(np.float64)
    precision = precision_of(reference, reference.value.size, arguments.dtype)
    rtol, atol = settings.rtol, settings.atol
    asked = reference.second_look.witness is not None
    if mode == Mode.FAST:
        from ..verdict.products import compare_fast

        fast = compare_fast(runs, x.size, rtol, atol, eps_rows=precision.eps, typical_scale=typical_scale(x),
                            own_scales=step_scales(x), complex_columns=arguments.complex_columns)
        return fast.comparison, (WitnessDirections(fast.to_walk) if fast.to_walk and not asked else None)
    from ..run import _accused_columns

    comparison = compare(runs, rtol, atol, eps_rows=precision.eps, input_scales=input_scales(x),
                         own_scales=step_scales(x))
    wrong = [v for v in comparison.verdicts if v.status == Status.DISAGREE and v.name != "fd" and not v.primal_mismatch]
    columns = _accused_columns(wrong)
    return comparison, (WitnessColumns(columns) if columns and not asked else None)


def verdict(comparison) -> str:
    """``SUSPECT`` where an AD backend fails, else ``PASS`` where one was verified, else ``UNVERIFIABLE``."""
    ad = [v for v in comparison.verdicts if v.name != "fd"]
    if any(v.status in FAILING for v in ad):
        return SUSPECT
    if any(v.status in (Status.AGREE, Status.KINK) for v in ad):
        return PASS
    return UNVERIFIABLE
