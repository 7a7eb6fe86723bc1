"""Hand-made run reports shared by the report-format tests (``test_report_*.py``).

Every number here is exact (small binary fractions, NaN, inf), so each format's output can be
compared with literal text. Each report is one situation a format must render:

- ``mixed_report``: a disagreement with a likely cause, an agreement, a backend error, a backend
  that cannot run the code, and findings of each severity.
- ``kink_report``: two backends at a kink of ``abs`` (valid subgradients, with one-sided slopes).
- ``inconclusive_report``: entries nothing could verify, each with its evidence.
- ``unusable_report``: a function whose value changes between calls: the fd row is unusable,
  ADC601 explains it, the AD backends are inconclusive.
- ``nothing_checked_report``: no AD backend could run the function.
- ``nan_report``: a disagreement caused by NaN entries where finite differences are finite.
- ``second_order_report``: first derivatives agree, a second derivative disagrees and another
  errors.
"""

from __future__ import annotations

from contextlib import chdir as in_directory

import numpy as np

from adcheck.model import (
    ArgumentInfo,
    BackendRun,
    BackendVerdict,
    Comparison,
    EntryMismatch,
    Finding,
    Location,
    OneSided,
    OutputLeaf,
    Precision,
    Reference,
    RunReport,
    Status,
)
from conftest import FIXTURES, CliResult, invoke

NAN = float("nan")
INF = float("inf")


def _argument(n: int) -> tuple[ArgumentInfo, ...]:
    """One differentiated argument ``x`` of ``n`` values (a scalar when ``n`` is 1)."""
    return (ArgumentInfo(index=0, shape=(n,) if n > 1 else (), dtype="float64", differentiated=True, name="x"),)


def mixed_report() -> RunReport:
    fd_jacobian = np.array([[1.0, 0.5], [0.0, 2.0]])
    mismatch = EntryMismatch(row=0, col=1, value=2.5, reference=0.5, reference_error=1e-12, abs_error=2.0,
                             rel_error=4.0)
    verdicts = (
        BackendVerdict("fd", Status.REFERENCE, 0.04),
        BackendVerdict("autograd", Status.DISAGREE, 1.25, message="1 of 4 entries outside tolerance",
                       max_abs_error=2.0, max_rel_error=4.0, worst_entry=(0, 1), mismatches=(mismatch,),
                       n_mismatches=1),
        BackendVerdict("jax-fwd", Status.AGREE, 2.5, max_abs_error=0.0, max_rel_error=0.0, worst_entry=(0, 0)),
        BackendVerdict("jax-rev", Status.ERROR, 0.5, message="TypeError: bad, with: punctuation",
                       location=Location("pkg/model.py", 13)),
        BackendVerdict("torch-fwd", Status.NOT_APPLICABLE, 0.0,
                       message="torch-fwd cannot run numpy code (it runs torch, array-api)"),
    )
    runs = (
        BackendRun("fd", Status.REFERENCE, 0.04, jacobian=fd_jacobian, error=np.full((2, 2), 1e-12)),
        BackendRun("autograd", Status.COMPUTED, 1.25, jacobian=np.array([[1.0, 2.5], [0.0, 2.0]])),
        BackendRun("jax-fwd", Status.COMPUTED, 2.5, jacobian=fd_jacobian),
        BackendRun("jax-rev", Status.ERROR, 0.5, message="TypeError: bad, with: punctuation",
                   location=Location("pkg/model.py", 13)),
        BackendRun("torch-fwd", Status.NOT_APPLICABLE,
                   message="torch-fwd cannot run numpy code (it runs torch, array-api)"),
    )
    findings = (
        Finding("ADC501", "warning", "pkg/model.py", 20, 5,
                "`softplus` has a user-defined derivative rule (autograd defvjp): autograd uses the rule",
                explains=("autograd",)),
        Finding("ADC105", "error", "pkg/model.py", 14, 9, "in-place update of an argument: x[0] += 1"),
        Finding("ADC605", "info", "pkg/model.py", 15, 1, "input 0 was int64, promoted to float64"),
    )
    return RunReport(target="pkg/model.py:f", arguments=_argument(2), output_shapes=((2,),), framework="numpy",
                     runs=runs,
                     comparison=Comparison(verdicts=verdicts, odd_one_out=("autograd",),
                                           consensus="autograd is the odd one out"),
                     findings=findings, source=Location("pkg/model.py", 12),
                     function="f", outputs=(OutputLeaf("", (2,)),))


def passing_report() -> RunReport:
    """One backend that agrees, nothing else: a case that passes."""
    jacobian = np.array([[2.0]])
    verdicts = (BackendVerdict("fd", Status.REFERENCE, 0.25),
                BackendVerdict("autograd", Status.AGREE, 0.75, max_abs_error=0.0, max_rel_error=0.0,
                               worst_entry=(0, 0)))
    runs = (BackendRun("fd", Status.REFERENCE, 0.25, jacobian=jacobian, error=np.array([[1e-12]])),
            BackendRun("autograd", Status.COMPUTED, 0.75, jacobian=jacobian))
    return RunReport(target="pkg/model.py:square", arguments=_argument(1), output_shapes=((1,),),
                     framework="numpy", runs=runs, comparison=Comparison(verdicts=verdicts),
                     source=Location("pkg/model.py", 30),
                     function="square", outputs=(OutputLeaf("", ()),))


KINK_MESSAGE = "1 entry at a kink, where the value lies between the one-sided derivatives (a valid subgradient)"


def kink_report() -> RunReport:
    """``abs`` at ``x = [0, 1]``: the one-sided slopes at 0 are -1 and 1; autograd says 1, jax-fwd 0."""
    fd_jacobian = np.array([[0.0, 0.0], [0.0, 1.0]])
    one_sided = OneSided(columns=np.array([0]), plus=np.array([[1.0], [0.0]]), plus_error=np.full((2, 1), 1e-12),
                         minus=np.array([[-1.0], [0.0]]), minus_error=np.full((2, 1), 1e-12))
    reference = Reference(precision=Precision("float64", np.full(2, np.finfo(float).eps)), one_sided=one_sided)
    runs = (
        BackendRun("fd", Status.REFERENCE, 0.5, jacobian=fd_jacobian, error=np.array([[0.5, 0.0], [0.0, 1e-12]]),
                   reference=reference),
        BackendRun("autograd", Status.COMPUTED, 0.25, jacobian=np.array([[1.0, 0.0], [0.0, 1.0]])),
        BackendRun("jax-fwd", Status.COMPUTED, 1.5, jacobian=np.array([[0.0, 0.0], [0.0, 1.0]])),
    )
    verdicts = (
        BackendVerdict("fd", Status.REFERENCE, 0.5),
        BackendVerdict("autograd", Status.KINK, 0.25, message=KINK_MESSAGE, max_abs_error=0.0, max_rel_error=0.0,
                       worst_entry=(0, 1), n_kinks=1, kinks=((0, 0),)),
        BackendVerdict("jax-fwd", Status.KINK, 1.5, message=KINK_MESSAGE, max_abs_error=0.0, max_rel_error=0.0,
                       worst_entry=(0, 1), n_kinks=1, kinks=((0, 0),)),
    )
    findings = (Finding("ADC301", "info", "pkg/kinks.py", 7, 12, "`np.abs` is not differentiable at 0",
                        explains=("autograd", "jax-fwd")),)
    return RunReport(target="pkg/kinks.py:absolute", arguments=_argument(2), output_shapes=((2,),),
                     framework="numpy", runs=runs, comparison=Comparison(verdicts=verdicts), findings=findings,
                     source=Location("pkg/kinks.py", 6),
                     function="absolute", outputs=(OutputLeaf("", (2,)),))


INCONCLUSIVE_MESSAGE = ("2 of 4 entries could not be verified: finite differences cannot settle them and no other "
                        "AD backend could confirm them")
EVIDENCE_00 = ("fd 0.5 ± 5.0e-01 (too wide to decide); complex step: the function returns real values for complex "
               "inputs; Taylor: no clean h or h**2 slope above rounding noise")
EVIDENCE_10 = "fd 2 ± 2.0e+00 (too wide to decide); complex step: not tried; Taylor: no clean slope"


def inconclusive_report() -> RunReport:
    """autograd's column 0 sits inside finite differences' wide error bars: nothing can verify it."""
    fd_jacobian = np.array([[0.5, 0.0], [2.0, 2.0]])
    autograd_jacobian = np.array([[0.75, 0.0], [3.0, 2.0]])
    unverified = (
        EntryMismatch(row=0, col=0, value=0.75, reference=0.5, reference_error=0.5, abs_error=0.25, rel_error=0.5,
                      evidence=EVIDENCE_00),
        EntryMismatch(row=1, col=0, value=3.0, reference=2.0, reference_error=2.0, abs_error=1.0, rel_error=0.5,
                      evidence=EVIDENCE_10),
    )
    runs = (
        BackendRun("fd", Status.REFERENCE, 0.5, jacobian=fd_jacobian,
                   error=np.array([[0.5, 1e-12], [2.0, 1e-12]])),
        BackendRun("autograd", Status.COMPUTED, 0.25, jacobian=autograd_jacobian),
        BackendRun("torch-fwd", Status.NOT_APPLICABLE,
                   message="torch-fwd cannot run numpy code (it runs torch, array-api)"),
    )
    verdicts = (
        BackendVerdict("fd", Status.REFERENCE, 0.5),
        BackendVerdict("autograd", Status.INCONCLUSIVE, 0.25, message=INCONCLUSIVE_MESSAGE, max_abs_error=0.0,
                       max_rel_error=0.0, worst_entry=(0, 1), n_inconclusive=2, inconclusive=unverified),
        BackendVerdict("torch-fwd", Status.NOT_APPLICABLE, 0.0,
                       message="torch-fwd cannot run numpy code (it runs torch, array-api)"),
    )
    return RunReport(target="pkg/model.py:g", arguments=_argument(2), output_shapes=((2,),), framework="numpy",
                     runs=runs, comparison=Comparison(verdicts=verdicts), source=Location("pkg/model.py", 40),
                     function="g", outputs=(OutputLeaf("", (2,)),))


UNUSABLE_MESSAGE = ("the function's value changes between identical calls (two identical calls return different "
                    "values: output 0 is 1, then 2 in a second call): finite differences of it verify nothing")
NO_REFERENCE_MESSAGE = "no usable reference: the function's value changes between identical calls"
IMPURE_CONSENSUS = ("the function's value changes between identical calls (state, randomness or a cache): its "
                    "derivative is not defined, and no backend can be checked against it; the AD backends agree "
                    "with each other")


def unusable_report() -> RunReport:
    """A function that keeps state between calls: the reference is unusable, the run fails."""
    ad_jacobian = np.array([[1.0, 0.0], [2.0, 1.0]])
    runs = (
        BackendRun("fd", Status.REFERENCE, 0.5, jacobian=np.array([[1.0, 0.0], [4.0, 1.0]]),
                   error=np.full((2, 2), 1e-10)),
        BackendRun("autograd", Status.COMPUTED, 0.25, jacobian=ad_jacobian),
        BackendRun("jax-fwd", Status.COMPUTED, 1.5, jacobian=ad_jacobian),
    )
    verdicts = (
        BackendVerdict("fd", Status.UNUSABLE, 0.5, message=UNUSABLE_MESSAGE),
        BackendVerdict("autograd", Status.INCONCLUSIVE, 0.25, message=NO_REFERENCE_MESSAGE, n_inconclusive=4),
        BackendVerdict("jax-fwd", Status.INCONCLUSIVE, 1.5, message=NO_REFERENCE_MESSAGE, n_inconclusive=4),
    )
    findings = (
        Finding("ADC601", "error", "pkg/state.py", 18, 1,
                "two identical calls return different values: output 0 is 1, then 2 in a second call",
                explains=("fd",)),
        Finding("ADC101", "error", "pkg/state.py", 11, 9,
                "`self.a` writes an attribute of module-level instance `ACC`, which outlives the call",
                explains=("fd",)),
    )
    return RunReport(target="pkg/state.py:shared_cumprod", arguments=_argument(2), output_shapes=((2,),),
                     framework="numpy", runs=runs,
                     comparison=Comparison(verdicts=verdicts, odd_one_out=("fd",), consensus=IMPURE_CONSENSUS),
                     findings=findings, source=Location("pkg/state.py", 18),
                     function="shared_cumprod", outputs=(OutputLeaf("", (2,)),))


def nothing_checked_report() -> RunReport:
    """``--backend autograd --backend torch-fwd`` on numpy code without autograd installed."""
    runs = (
        BackendRun("fd", Status.REFERENCE, 0.5, jacobian=np.array([[2.0]]), error=np.array([[1e-12]])),
        BackendRun("autograd", Status.UNAVAILABLE, message="autograd is not installed (pip install autograd)"),
        BackendRun("torch-fwd", Status.NOT_APPLICABLE,
                   message="torch-fwd cannot run numpy code (it runs torch, array-api)"),
    )
    verdicts = (
        BackendVerdict("fd", Status.REFERENCE, 0.5),
        BackendVerdict("autograd", Status.UNAVAILABLE, 0.0,
                       message="autograd is not installed (pip install autograd)"),
        BackendVerdict("torch-fwd", Status.NOT_APPLICABLE, 0.0,
                       message="torch-fwd cannot run numpy code (it runs torch, array-api)"),
    )
    return RunReport(target="pkg/model.py:h", arguments=_argument(1), output_shapes=((1,),), framework="numpy",
                     runs=runs, comparison=Comparison(verdicts=verdicts), source=Location("pkg/model.py", 50),
                     function="h", outputs=(OutputLeaf("", ()),))


NAN_MESSAGE = "2 of 4 entries outside tolerance (2 NaN/inf where finite differences are finite)"
TINY = 2.0**-30  # a finite error, exactly representable: the NaN entries must win over it


def nan_report() -> RunReport:
    """``where(x > 0, sqrt(x), 0)`` at ``x = [0, 0.25]``: jax-rev's column 0 is NaN.

    The finite entries of jax-rev differ by ``TINY`` from finite differences: a report that shows
    the finite maximum instead of ``nan`` would print 9.31e-10.
    """
    fd_jacobian = np.array([[0.0, 0.0], [0.0, 1.0]])
    nan_entries = (
        EntryMismatch(row=0, col=0, value=NAN, reference=0.0, reference_error=1e-12, abs_error=NAN, rel_error=INF),
        EntryMismatch(row=1, col=0, value=NAN, reference=0.0, reference_error=1e-14, abs_error=NAN, rel_error=INF),
    )
    runs = (
        BackendRun("fd", Status.REFERENCE, 0.5, jacobian=fd_jacobian,
                   error=np.array([[1e-12, 1e-14], [1e-14, 1e-12]])),
        BackendRun("jax-fwd", Status.COMPUTED, 1.5, jacobian=fd_jacobian),
        BackendRun("jax-rev", Status.COMPUTED, 1.5, jacobian=np.array([[NAN, 0.0], [NAN, 1.0 + TINY]])),
    )
    verdicts = (
        BackendVerdict("fd", Status.REFERENCE, 0.5),
        BackendVerdict("jax-fwd", Status.AGREE, 1.5, max_abs_error=0.0, max_rel_error=0.0, worst_entry=(0, 0)),
        BackendVerdict("jax-rev", Status.DISAGREE, 1.5, message=NAN_MESSAGE, max_abs_error=NAN, max_rel_error=INF,
                       worst_entry=(0, 0), mismatches=nan_entries, n_mismatches=2, n_nonfinite=2),
    )
    findings = (
        Finding("ADC604", "error", "pkg/where.py", 6, 1,
                "jax-rev: 2 of 4 Jacobian entries are NaN/inf (first: entry (0, 0) is NaN, fd 0) where finite "
                "differences are finite", explains=("jax-rev",)),
        Finding("ADC302", "error", "pkg/where.py", 7, 12,
                "`jnp.where` also differentiates the branch it masks out, and `jnp.sqrt(x)` is NaN there",
                explains=("jax-rev",)),
    )
    return RunReport(target="pkg/where.py:safe_sqrt", arguments=_argument(2), output_shapes=((2,),), framework="jax",
                     runs=runs,
                     comparison=Comparison(verdicts=verdicts, odd_one_out=("jax-rev",),
                                           consensus="jax-rev disagrees with finite differences and with jax-fwd, "
                                                     "which agree"),
                     findings=findings, source=Location("pkg/where.py", 6),
                     function="safe_sqrt", outputs=(OutputLeaf("", (2,)),))


SECOND_ORDER_MESSAGE = "differs from FD of its own first derivative: 1 of 4 entries outside tolerance"
SECOND_ORDER_ERROR = "TypeError: can't apply forward-mode autodiff (jvp) to a custom_vjp function."


def second_order_report() -> RunReport:
    """``--order 2``: gradients agree; jax-fwd's Hessian is wrong at (1, 1), jax-rev's fails."""
    gradient = np.array([[1.0, 2.0]])
    runs = (
        BackendRun("fd", Status.REFERENCE, 0.5, jacobian=gradient, error=np.full((1, 2), 1e-12)),
        BackendRun("jax-fwd", Status.COMPUTED, 1.5, jacobian=gradient),
        BackendRun("jax-rev", Status.COMPUTED, 1.5, jacobian=gradient),
    )
    first = (
        BackendVerdict("fd", Status.REFERENCE, 0.5),
        BackendVerdict("jax-fwd", Status.AGREE, 1.5, max_abs_error=0.0, max_rel_error=0.0, worst_entry=(0, 0)),
        BackendVerdict("jax-rev", Status.AGREE, 1.5, max_abs_error=0.0, max_rel_error=0.0, worst_entry=(0, 0)),
    )
    hessian_entry = EntryMismatch(row=1, col=1, value=1.0, reference=0.25, reference_error=1e-11, abs_error=0.75,
                                  rel_error=3.0)
    second = (
        BackendVerdict("jax-fwd", Status.DISAGREE, 1.5, message=SECOND_ORDER_MESSAGE, max_abs_error=0.75,
                       max_rel_error=3.0, worst_entry=(1, 1), mismatches=(hessian_entry,), n_mismatches=1),
        BackendVerdict("jax-rev", Status.ERROR, 1.5, message=SECOND_ORDER_ERROR),
    )
    findings = (Finding("ADC501", "warning", "pkg/rules.py", 11, 2,
                        "`frozen_sin` has a user-defined derivative rule (jax.custom_jvp): jax-fwd, jax-rev use the "
                        "rule instead of differentiating the code"),)
    return RunReport(target="pkg/rules.py:loss", arguments=_argument(2), output_shapes=((1,),), framework="jax",
                     runs=runs, comparison=Comparison(verdicts=first), findings=findings,
                     source=Location("pkg/rules.py", 23), function="loss", outputs=(OutputLeaf("", ()),),
                     second_order=Comparison(verdicts=second, odd_one_out=("jax-fwd", "jax-rev"),
                                             consensus="second derivatives: jax-fwd, jax-rev fail"))


ALL_REPORTS = {
    "mixed": mixed_report,
    "passing": passing_report,
    "kink": kink_report,
    "inconclusive": inconclusive_report,
    "unusable": unusable_report,
    "nothing_checked": nothing_checked_report,
    "nan": nan_report,
    "second_order": second_order_report,
}


# --- end to end: fixtures through the CLI, where the numbers do not matter ---------------------------

SAMPLE = FIXTURES / "sample_project"  # funcs.py:good passes, funcs.py:bad (a wrong rule) fails
BAD_DEF_LINE = next(i for i, line in enumerate((SAMPLE / "funcs.py").read_text().splitlines(), 1)
                    if line.startswith("def bad("))
STATEFUL = f"{FIXTURES}/stateful.py:shared_cumprod"  # keeps state between calls: the reference is unusable
STATEFUL_DEF_LINE = next(i for i, line in enumerate((FIXTURES / "stateful.py").read_text().splitlines(), 1)
                         if line.startswith("def shared_cumprod("))
TORCH_ONLY = f"{FIXTURES}/torch_funcs.py:sin_times_sum"  # torch code: autograd cannot run it


def check_sample(output_format: str, *args: str) -> CliResult:
    """``adcheck check`` of the sample project, from its directory."""
    with in_directory(SAMPLE):
        return invoke("check", "--format", output_format, "-q", *args)


def run_stateful(output_format: str, *args: str) -> CliResult:
    return invoke("run", STATEFUL, "--input", "[1.0, 2.0, 3.0]", "--backend", "autograd", "--format", output_format,
                  *args)


def run_nothing_checked(output_format: str, *args: str) -> CliResult:
    return invoke("run", TORCH_ONLY, "--input", "[1.0, 2.0]", "--backend", "autograd", "--format", output_format,
                  *args)
