"""``--contexts``: each AD backend's derivative in other execution contexts, against its own eager one.

A backend's worker computes its derivative eagerly in float64 on ``--device`` (the row of the
report), then again in each extra context: under ``jax.jit`` or ``torch.compile``, with the
user's code in float32, bfloat16 or float16, on the other device (``ContextResult``). Here each
context's derivative is judged against the eager one by the verdict chain
(``verdict.chain.decide``, the eager derivative an exact reference: ``eager_reference``), entry
by entry, with the tolerance the context's precision explains (``verdict.tolerances.RowTolerances`` of its dtype, the absolute part a
multiple of each entry's own scale, so the verdict does not depend on units). A larger
difference is ADC607 at the function's definition, and it fails the backend's row: the
derivative the user runs in production is not the one the row checked.

Pure functions over the runs: nothing here prints.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .finite_differences import input_scales
from .model import BackendRun, BackendVerdict, Comparison, ContextResult, Finding, Mode, RunReport, Status
from .verdict.chain import decide
from .verdict.messages import verdict_of
from .verdict.reference import ResolvedReference
from .verdict.tolerances import TOLERANCES, RowTolerances, absolute_tolerance, precision_name

CODE = "ADC607"
MAX_NAMED_ENTRIES = 3  # the message names the worst few entries, then counts the rest

# How each context reads in a sentence, and what it is compared with.
PHRASES = {
    "jit": ("under jit", "eager"),
    "compile": ("under torch.compile", "eager"),
    "float32": ("in float32", "eager float64"),
    "bfloat16": ("in bfloat16", "eager float64"),
    "float16": ("in float16", "eager float64"),
    "gpu": ("on the GPU", "eager on the CPU"),
    "cpu": ("on the CPU", "eager on the GPU"),
}
SYNONYMS = {"float64": "eager"}  # --contexts float64,float32: float64 is the eager reference


@dataclass(frozen=True)
class ContextDifference:
    """Where one backend's derivative in one context differs from its eager one."""

    backend: str
    context: str
    entries: tuple[tuple[int, int], ...]  # every differing entry, worst first
    total: int  # entries compared
    max_abs: float  # the largest finite difference (0 when only NaN/inf differ)
    nonfinite: int  # entries NaN/inf in the context where eager is finite
    precision: str  # the context's precision: "float64", "float32", ...
    rtol: float  # the relative tolerance that precision gives
    verdict: BackendVerdict  # the chain's verdict on the context's derivative against the eager one


@dataclass(frozen=True)
class ContextCheck:
    """What ``--contexts`` adds to a report."""

    findings: tuple[Finding, ...] = ()  # ADC607, one per backend and context that differs
    notes: tuple[str, ...] = ()  # contexts that could not be computed, and why
    comparison: Comparison | None = None  # the verdicts, with the rows that ADC607 explains failing


def check_contexts(runs, comparison: Comparison, settings, summary, arguments, function: str = "") -> ContextCheck:
    """The findings, notes and verdicts ``--contexts`` gives (``run.check_target``); ``function``
    names the rows of the entries (``d f[0] / d x[1]``)."""
    findings = context_findings(runs, comparison, settings, summary, arguments, function)
    return ContextCheck(findings, context_notes(runs, settings), with_context_disagreements(comparison, findings))


def context_findings(runs, comparison: Comparison, settings, summary, arguments=None,
                     function: str = "") -> tuple[Finding, ...]:
    """ADC607 for each backend whose derivative in a context differs from its eager one by more
    than the context's precision explains, at the function's definition line, explaining that
    backend's row. A row the comparison set aside (another function's derivative under adcheck's
    rebinding, an error) has nothing to compare its contexts with."""
    from .lint.catalog import make_finding

    x0 = arguments.flat().astype(np.float64) if arguments is not None else None
    namer = _EntryNames(runs, arguments, function)
    mode = Mode.FAST if any(r.products is not None for r in runs if r.status == Status.COMPUTED) else Mode.FULL
    set_aside = {v.name for v in comparison.verdicts if v.status in (Status.NOT_APPLICABLE, Status.ERROR)}
    findings = []
    for run in runs:
        if run.status != Status.COMPUTED or run.value is None or run.name in set_aside:
            continue
        for result in run.contexts:
            difference = compare_context(run, result, x0, mode)
            if difference is None or not difference.entries:
                continue
            findings.append(make_finding(CODE, str(summary.path), summary.definition_line or 1, 1,
                                         context_message(difference, namer, mode), explains=(run.name,)))
    return tuple(findings)


def compare_context(run: BackendRun, result: ContextResult, x0: np.ndarray | None,
                    mode: Mode = Mode.FULL) -> ContextDifference | None:
    """The entries where ``result`` differs from ``run``'s eager derivative beyond the tolerance
    of ``result``'s precision; None when there is nothing to compare."""
    if result.status != Status.COMPUTED:
        return None
    eager, other, value, scales = _operands(run, result, x0, mode)
    if eager is None or other is None or eager.shape != other.shape or eager.size == 0:
        return None
    ledger = decide(BackendRun(run.name, Status.COMPUTED, location=run.location), other,
                    eager_reference(eager, value, result.eps, scales), {})
    differs, nonfinite = ledger.disagree, ledger.nonfinite  # (a NaN where eager is finite differs)
    ratio = np.where(nonfinite, np.inf, ledger.diff / np.where(ledger.bound > 0, ledger.bound, np.finfo(float).tiny))
    order = np.argsort(-ratio[differs], kind="stable")
    entries = tuple((int(i), int(j)) for i, j in np.argwhere(differs)[order])
    finite_diffs = ledger.diff[differs & ~nonfinite]
    precision = precision_name(result.eps)
    return ContextDifference(run.name, result.context, entries, int(eager.size),
                             float(finite_diffs.max()) if finite_diffs.size else 0.0, int(nonfinite.sum()),
                             precision, float(TOLERANCES[precision].rtol), verdict_of(ledger, "", ""))


def eager_reference(eager: np.ndarray, value, eps: float, scales) -> ResolvedReference:
    """The backend's eager derivative as the reference a context's derivative is judged against
    by the verdict chain: exact (no second witness asked), with the tolerance of the context's
    precision, its absolute part a multiple of each entry's own scale."""
    eps_rows = np.full(eager.shape[0], eps)
    tol = RowTolerances(eps_rows)
    finite = np.isfinite(eager)
    atol = np.broadcast_to(absolute_tolerance(np.where(finite, np.abs(eager), 0.0), value, eps_rows, scales,
                                              tol.atol_scale), eager.shape)
    zero = np.zeros(eager.shape)
    return ResolvedReference(value=value, jacobian=eager, error=zero, fd=eager, fd_error=zero, settled=finite,
                             complex_step=np.full(eager.shape, np.nan), tol=tol, atol=atol, ad_atol=atol,
                             user_atol=False, exact=True)


def _operands(run: BackendRun, result: ContextResult, x0, mode: Mode):
    """(eager, context, value for the rounding-noise term, input scales): the Jacobians, or in
    fast mode the products (rows of ``U^T J`` are cotangents: no output value belongs to them;
    columns of ``J V`` are directions: unit scale)."""
    scales = input_scales(x0) if x0 is not None else 1.0
    if mode == Mode.FULL or run.jacobian is not None:
        return run.jacobian, result.jacobian, run.value, scales
    eager, other = run.products, result.products
    if eager is None or other is None:
        return None, None, None, None
    if eager.jv is not None:
        return eager.jv, other.jv, run.value, 1.0
    rows = eager.ujt.shape[0] if eager.ujt is not None else 0
    return eager.ujt, other.ujt, np.zeros(rows), scales


def context_message(difference: ContextDifference, namer, mode: Mode = Mode.FULL) -> str:
    """"the jax-rev derivative under jit differs from eager by 0.032 at d f[0] / d x[0], ..." """
    phrase, reference = PHRASES.get(difference.context, (f"in {difference.context}", "eager"))
    named = [namer.entry(i, j, mode, difference.backend) for i, j in difference.entries[:MAX_NAMED_ENTRIES]]
    more = ", ..." if len(difference.entries) > MAX_NAMED_ENTRIES else ""
    if difference.max_abs > 0:
        amount = f"by {difference.max_abs:.2g}"
        if difference.nonfinite:
            amount += f" (and is NaN or inf at {difference.nonfinite})"
    else:
        amount = "by NaN or inf"
    count = len(difference.entries)
    return (f"the {difference.backend} derivative {phrase} differs from {reference} {amount} at "
            f"{', '.join(named)}{more} ({count} of {difference.total} "
            f"entr{'y' if difference.total == 1 else 'ies'} beyond what {difference.precision} rounding "
            f"explains, {difference.rtol:.0e} relative)")


def with_context_disagreements(comparison: Comparison, findings) -> Comparison:
    """The verdicts with each row that an ADC607 finding explains failing: its derivative in a
    context the user asked to check is not the one the row agreed on."""
    explained: dict[str, list[str]] = {}
    for finding in findings:
        if finding.code != CODE:
            continue
        for name in finding.explains:
            explained.setdefault(name, []).append(_context_of(finding.message))
    if not explained:
        return comparison
    verdicts = []
    for verdict in comparison.verdicts:
        contexts = explained.get(verdict.name)
        if contexts and verdict.status in (Status.AGREE, Status.KINK, Status.INCONCLUSIVE):
            where = ", ".join(dict.fromkeys(contexts))
            message = f"its derivative {where} differs from the eager one: see ADC607"
            if verdict.message:
                message = f"{message}; eagerly: {verdict.message}"
            verdict = dataclasses.replace(verdict, status=Status.DISAGREE, message=message)
        verdicts.append(verdict)
    return dataclasses.replace(comparison, verdicts=tuple(verdicts))


STALE_TRACE = "ADC403"  # the probe's proof: the jitted value differs from the un-jitted one


def with_stale_traces(comparison: Comparison, runtime_findings) -> Comparison:
    """The verdicts with every AD row failing when the probes proved a stale trace (a runtime
    ADC403: the function's jitted value differs from its value under ``jax.disable_jit()``),
    in a plain run as under ``--contexts``.

    The backends and FD then all differentiate the function the stale trace computes, agreeing
    on a function that is not the one the code says: no agreement of theirs verifies the code.
    It is the same defect ADC607 shows under ``--contexts eager,jit``, found without asking."""
    proofs = [f for f in runtime_findings if f.code == STALE_TRACE and f.severity == "error"]
    if not proofs:
        return comparison
    message = (f"the function's jitted value differs from its un-jitted value ({STALE_TRACE}, a stale trace): "
               "this agreement is about the function the stale trace computes, not the code")
    verdicts = tuple(
        dataclasses.replace(v, status=Status.DISAGREE,
                            message=f"{message}; {v.message}" if v.message else message)
        if v.status in (Status.AGREE, Status.KINK, Status.INCONCLUSIVE) else v
        for v in comparison.verdicts)
    return dataclasses.replace(comparison, verdicts=verdicts,
                               consensus=f"{proofs[0].message}: the backends agree on the function the stale trace "
                                         f"computes, not on the code ({STALE_TRACE})")


def _context_of(message: str) -> str:
    """"under jit" from an ADC607 message."""
    for phrase, _ in PHRASES.values():
        if f" derivative {phrase} differs" in message:
            return phrase
    return "in another context"


def context_notes(runs, settings=None) -> tuple[str, ...]:
    """One line per context that could not be computed, with the backends and the reason; and
    the AD backends that have no contexts at all (autograd: eager float64 on the CPU only)."""
    asked = tuple(SYNONYMS.get(c, c) for c in (settings.contexts or ())) if settings is not None else ()
    asked = tuple(c for c in dict.fromkeys(asked) if c != "eager")
    grouped: dict[tuple[str, str, str], list[str]] = {}
    without = []
    for run in runs:
        if run.status != Status.COMPUTED:
            continue
        if asked and not run.contexts:
            without.append(run.name)
        for result in run.contexts:
            if result.status != Status.COMPUTED:
                grouped.setdefault((result.context, result.status, result.message), []).append(run.name)
    notes = []
    for (context, status, message), names in grouped.items():
        phrase = PHRASES.get(context, (f"in {context}", ""))[0]
        verb = "not computed" if status == Status.NOT_APPLICABLE else "failed"
        notes.append(f"--contexts: the {', '.join(names)} derivative {phrase} {verb}: {message}")
    if without:
        plural = "s" if len(without) > 1 else ""
        notes.append(f"--contexts: {', '.join(without)} compute{'' if plural else 's'} eagerly in float64 on the "
                     f"CPU only; no other context was checked there")
    return tuple(notes)


class _EntryNames:
    """Entries named as the report names them: ``d f[0] / d x[1]``; in fast mode a product's
    entry is named by its output along a direction, or by its input for a cotangent."""

    def __init__(self, runs, arguments, function: str):
        reference = next((r for r in runs if r.status == Status.REFERENCE), None)
        value = reference.value if reference is not None else None
        self.report = RunReport(
            target="", arguments=arguments.info if arguments is not None else (),
            output_shapes=((value.size,),) if value is not None else (), framework="", runs=(),
            comparison=Comparison(()), outputs=reference.outputs if reference is not None else (),
            function=function)
        self.n_outputs = value.size if value is not None else 0
        self.n_inputs = arguments.n_inputs if arguments is not None else 0
        self.complex_columns = arguments.complex_columns if arguments is not None else ()

    def entry(self, row: int, column: int, mode: Mode, backend: str) -> str:
        if mode == Mode.FULL or self.report.arguments == ():
            return self.report.entry_name(row, column) if self.report.arguments else f"({row}, {column})"
        from .fast import N_RANDOM, probe_vectors

        vectors = probe_vectors(self.n_inputs, self.n_outputs, complex_columns=self.complex_columns)
        if backend.endswith("fwd"):  # J V: (output, direction)
            if column >= N_RANDOM:
                return self.report.entry_name(row, int(vectors.sampled_columns[column - N_RANDOM]))
            return f"d {self.report.output_name(row)} along random direction {column}"
        if self.n_outputs == 1:  # U^T J with the single cotangent 1: the gradient
            return self.report.entry_name(0, column)
        if row >= N_RANDOM:
            return self.report.entry_name(int(vectors.sampled_rows[row - N_RANDOM]), column)
        return f"d (u{row}^T {self.report.function or 'out'}) / d {self.report.input_name(column)}"
