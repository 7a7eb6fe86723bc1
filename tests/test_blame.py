"""Blame the primitive (issue 11): the derivative rule that is wrong, and the user line that called it.

The worker tasks run the way ``run._blame`` runs them (``jobs.execute`` -> ``blame``), several
at once in warm workers; the CLI tests run ``adcheck run`` end to end. Fixtures: fixtures/blame/.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, invoke

from adcheck.explain.blame import local
from adcheck.explain.blame.findings import describe_evidence, describe_rule
from adcheck.explain.blame.program import Rule
from adcheck.inputs import promote
from adcheck.loader import parse_target
from adcheck.task import Blame, Task
from adcheck.workers import WorkerPool, run_tasks

BLAME = FIXTURES / "blame"
X6 = [-1.0, -0.6, -0.2, 0.2, 0.6, 1.0]
X8 = [-1.2, -0.9, -0.5, -0.1, 0.2, 0.6, 0.9, 1.4]
X9 = [0.1, 0.7, 1.3, 1.9, 2.5, 3.1, 0.0, 0.0, -2.0]  # six GP training inputs, three log hyperparameters


def blame_task(fixture: str, function: str, backend: str, framework: str, *inputs, order: int = 1,
               primitives: int = 0, seconds: float = 0.0) -> Task:
    arguments = promote([np.asarray(v, dtype=float) for v in inputs], tuple(range(len(inputs))))
    return Task(backend, parse_target(f"{BLAME / fixture}:{function}"), arguments, framework, order=order,
                probes=False, job=Blame(primitives, seconds))


def call_line(fixture: str, function: str, rule: str) -> int:
    """The line of ``function`` in ``fixture`` that calls ``rule`` (``rule(...)`` or ``rule.apply(...)``)."""
    lines = (BLAME / fixture).read_text().splitlines()
    start = next(i for i, text in enumerate(lines) if text.startswith(f"def {function}("))
    for number in range(start + 1, len(lines)):
        if lines[number].startswith("def "):
            break
        if f"{rule}(" in lines[number] or f"{rule}.apply(" in lines[number]:
            return number + 1
    raise AssertionError(f"{function} does not call {rule}")


# (fixture, target, backend, order, expected code, the planted rule): one planted defect per row,
# each kind in each framework; a rule that is only reverse (custom_vjp) is checked in reverse mode.
PLANTED = [
    ("jax_planted.py", "sign_error", "jax-rev", 1, "ADC501", "softplus"),
    ("jax_planted.py", "dropped_term", "jax-fwd", 1, "ADC501", "x_sin_x"),
    ("jax_planted.py", "dropped_term", "jax-rev", 1, "ADC501", "x_sin_x"),
    ("jax_planted.py", "wrong_transpose", "jax-rev", 1, "ADC501", "mix"),
    ("jax_planted.py", "nan_at_zero", "jax-fwd", 1, "ADC604", "sin_over"),
    ("jax_planted.py", "wrong_second", "jax-rev", 2, "ADC501", "smooth_sin"),
    ("autograd_planted.py", "sign_error", "autograd", 1, "ADC501", "softplus"),
    ("autograd_planted.py", "dropped_term", "autograd", 1, "ADC501", "x_sin_x"),
    ("autograd_planted.py", "wrong_transpose", "autograd", 1, "ADC501", "mix"),
    ("autograd_planted.py", "nan_at_zero", "autograd", 1, "ADC604", "sin_over"),
    ("autograd_planted.py", "wrong_second", "autograd", 2, "ADC501", "smooth_sin"),
    ("torch_planted.py", "sign_error", "torch-rev", 1, "ADC501", "SoftPlus"),
    ("torch_planted.py", "dropped_term", "torch-fwd", 1, "ADC501", "XSinX"),
    ("torch_planted.py", "wrong_transpose", "torch-rev", 1, "ADC501", "Mix"),
    ("torch_planted.py", "nan_at_zero", "torch-rev", 1, "ADC604", "SinOver"),
    ("torch_planted.py", "wrong_second", "torch-fwd", 2, "ADC501", "SmoothSin"),
]
FRAMEWORK = {"jax-fwd": "jax", "jax-rev": "jax", "autograd": "autograd", "torch-fwd": "torch", "torch-rev": "torch"}
# A rule whose values are right and whose own derivative is wrong is not blamed at order 1.
SECOND_ONLY_AT_ORDER_1 = [("jax_planted.py", "jax-fwd"), ("autograd_planted.py", "autograd"),
                          ("torch_planted.py", "torch-rev")]
TWO_WRONG = [("jax_planted.py", "jax-rev"), ("autograd_planted.py", "autograd"), ("torch_planted.py", "torch-fwd")]
CORRECT = [(f"correct_{framework}.py", function, backend, order)
           for framework, backends in (("jax", ("jax-rev", "jax-fwd")), ("autograd", ("autograd",)),
                                       ("torch", ("torch-rev", "torch-fwd")))
           for backend in backends for function in ("mlp_loss", "gp_likelihood", "physics_energy")
           for order in ((1, 2) if framework == "autograd" else (1,))]
INPUTS = {"gp_likelihood": X9}


def _tasks() -> dict[tuple, Task]:
    tasks = {}
    for fixture, function, backend, order, _, _ in PLANTED:
        tasks[("planted", fixture, function, backend, order)] = blame_task(
            fixture, function, backend, FRAMEWORK[backend], X6, order=order)
    for fixture, backend in SECOND_ONLY_AT_ORDER_1:
        tasks[("planted", fixture, "wrong_second", backend, 1)] = blame_task(
            fixture, "wrong_second", backend, FRAMEWORK[backend], X6)
    for fixture, function, backend, order in CORRECT:
        tasks[("correct", fixture, function, backend, order)] = blame_task(
            fixture, function, backend, FRAMEWORK[backend], INPUTS.get(function, X8), order=order)
    for fixture, backend in TWO_WRONG:
        tasks[("two wrong", fixture, backend)] = blame_task(fixture, "two_wrong", backend, FRAMEWORK[backend], X6)
    tasks["no jaxpr"] = blame_task("jax_python_branch.py", "branchy", "jax-rev", "jax", X6)
    tasks["real torch-rev"] = blame_task("torch_sinc_second.py", "sinc_mix", "torch-rev", "torch", [-0.5], order=2)
    tasks["real torch-fwd"] = blame_task("torch_sinc_second.py", "sinc_mix", "torch-fwd", "torch", [-0.5], order=2)
    tasks["real jax-rev"] = blame_task("jax_sinc_near_zero.py", "sinc_sum", "jax-rev", "jax", [1e-8, 0.5, -0.3])
    tasks["budget primitives"] = blame_task("jax_planted.py", "sign_error", "jax-rev", "jax", X6, primitives=10)
    tasks["budget seconds"] = blame_task("autograd_planted.py", "sign_error", "autograd", "autograd", X6,
                                         seconds=1e-6)
    return tasks


@pytest.fixture(scope="module")
def results() -> dict:
    """Every blame task above, run in warm workers two at a time (JAX and torch imported once per
    backend, as ``adcheck check`` runs them)."""
    tasks = _tasks()
    pool = WorkerPool()
    try:
        runs = run_tasks(list(tasks.values()), timeout=600.0, jobs=2, pool=pool)
    finally:
        pool.close()
    return dict(zip(tasks, runs))


def blamed(run) -> list[tuple[str, str, int]]:
    assert run.blame is not None, run.message
    return [(f.code, Path(f.path).name, f.line) for f in run.blame.findings]


@pytest.mark.parametrize("fixture, function, backend, order, code, rule", PLANTED,
                         ids=[f"{p[0].split('_')[0]}-{p[1]}-{p[2]}-order{p[3]}" for p in PLANTED])
def test_a_planted_wrong_rule_is_named_at_its_call_line_and_nothing_else(results, fixture, function, backend, order,
                                                                          code, rule):
    run = results[("planted", fixture, function, backend, order)]
    assert blamed(run) == [(code, fixture, call_line(fixture, function, rule))]
    (finding,) = run.blame.findings
    assert rule in finding.message and finding.explains == (backend,)
    assert run.blame.total >= 50 and run.blame.checked == run.blame.total and not run.blame.stopped


@pytest.mark.parametrize("fixture, backend", SECOND_ONLY_AT_ORDER_1)
def test_a_rule_wrong_only_in_its_own_derivative_is_not_blamed_at_order_1(results, fixture, backend):
    run = results[("planted", fixture, "wrong_second", backend, 1)]
    assert blamed(run) == []


@pytest.mark.parametrize("fixture, backend", TWO_WRONG)
def test_after_a_wrong_rule_later_rules_are_judged_on_their_own(results, fixture, backend):
    # The NaN rule makes the whole derivative NaN downstream; the dropped term after it is still found.
    nan_rule, dropped = ("SinOver", "XSinX") if fixture.startswith("torch") else ("sin_over", "x_sin_x")
    assert blamed(results[("two wrong", fixture, backend)]) == [
        ("ADC604", fixture, call_line(fixture, "two_wrong", nan_rule)),
        ("ADC501", fixture, call_line(fixture, "two_wrong", dropped))]


def test_code_without_a_jaxpr_is_not_replayed_and_says_why(results):
    run = results["no jaxpr"]
    assert run.blame is None and "cannot trace the function to a jaxpr" in run.message


@pytest.mark.parametrize("fixture, function, backend, order", CORRECT,
                         ids=[f"{c[0][8:-3]}-{c[1]}-{c[2]}-order{c[3]}" for c in CORRECT])
def test_correct_composites_of_100_primitives_blame_nothing(results, fixture, function, backend, order):
    run = results[("correct", fixture, function, backend, order)]
    assert blamed(run) == []
    assert run.blame.total >= 100 and run.blame.checked == run.blame.total


def test_a_real_torch_rule_wrong_at_second_order_is_blamed_at_the_calling_line(results):
    # pytorch/pytorch#196703 and #89459: sinc's second derivative at 0, NaN in reverse mode.
    line = call_line("torch_sinc_second.py", "sinc_mix", "torch.sinc")
    assert blamed(results["real torch-rev"]) == [("ADC604", "torch_sinc_second.py", line)]
    assert blamed(results["real torch-fwd"]) == [("ADC502", "torch_sinc_second.py", line)]
    for key in ("real torch-rev", "real torch-fwd"):
        assert "aten::sinc" in results[key].blame.findings[0].message


def test_a_real_jax_rule_that_cancels_near_zero_blames_the_library_function(results):
    # jax-ml/jax#34139 and #40629: jnp.sinc's derivative near zero, each primitive inside right.
    (finding,) = results["real jax-rev"].blame.findings
    assert (finding.code, finding.line) == ("ADC502", call_line("jax_sinc_near_zero.py", "sinc_sum", "jnp.sinc"))
    assert "jax.numpy.sinc" in finding.message


def test_the_budget_of_primitives_stops_the_check_and_says_how_far_it_got(results):
    result = results["budget primitives"].blame
    assert result.checked == 10 and result.total >= 50 and result.stopped
    assert result.findings == ()  # the planted rule comes later in the program


def test_the_budget_of_seconds_stops_the_check(results):
    result = results["budget seconds"].blame
    assert result.stopped and result.checked < result.total


# --- the local check, alone --------------------------------------------------------------------------


def elementwise(f, rule, z0, forward=True):
    """A LocalProblem for an elementwise ``f`` whose rule's derivative is ``rule``."""
    z0 = np.asarray(z0, dtype=float)
    operands = (local.Operand("x", z0.shape),)
    outputs = (local.Operand("y", z0.shape),)

    def products(directions):
        return rule(z0)[:, None] * directions

    def rows(cotangents):
        return (rule(z0)[:, None] * cotangents).T

    return local.LocalProblem(z0, f, np.full(z0.size, 2.0**-52), operands, outputs,
                              forward=products if forward else None, reverse=None if forward else rows)


@pytest.mark.parametrize("forward", [True, False])
def test_a_right_rule_passes_and_a_sign_error_is_localised_to_its_entry(forward):
    z0 = np.array([0.3, -1.1, 2.0])
    directions = np.array([[0.5, 0.1], [-0.2, 0.7], [0.9, -0.4]])
    right = local.check(elementwise(np.sin, np.cos, z0, forward), directions)
    assert right.judged and not right.wrong
    wrong = local.check(elementwise(np.sin, lambda z: np.where(np.arange(3) == 1, -np.cos(z), np.cos(z)), z0,
                                    forward), directions)
    assert wrong.wrong and (wrong.evidence.output, wrong.evidence.input) == (1, 1)
    assert wrong.evidence.rule == pytest.approx(-np.cos(-1.1)) and wrong.evidence.reference == pytest.approx(np.cos(-1.1))


def test_a_wrong_entry_no_sampled_output_reaches_keeps_the_evidence_that_shows_it():
    # Reverse mode over many outputs compares random cotangents; when none of the outputs a failing
    # cotangent weighs most is the wrong one, the finding shows the cotangent's own mismatch, not an
    # output whose rule and reference agree.
    z0 = np.linspace(0.1, 2.0, 400)
    wrong_at = int(np.argsort(np.abs(np.random.default_rng(1).standard_normal(400)))[0])
    verdict = local.check(elementwise(np.sin, lambda z: np.cos(z) + 0.5 * (np.arange(z.size) == wrong_at), z0,
                                      forward=False), np.ones((400, 1)))
    assert verdict.wrong
    evidence = verdict.evidence
    assert abs(evidence.rule - evidence.reference) > 4 * evidence.error + 1e-6 * abs(evidence.reference)
    assert evidence.output in (None, wrong_at)


def test_a_nan_rule_where_finite_differences_are_finite_is_nonfinite_evidence():
    def slope(z):
        with np.errstate(all="ignore"):
            return (np.cos(z) - np.sin(z) / z) / z

    def sin_over(z):
        safe = np.where(z == 0, 1.0, z)
        return np.where(z == 0, 1.0, np.sin(safe) / safe)

    verdict = local.check(elementwise(sin_over, slope, [0.0, 0.5]), np.array([[0.0], [1.0]]))
    assert verdict.wrong and verdict.evidence.nonfinite and verdict.evidence.input == 0


@pytest.mark.parametrize("subgradient, wrong", [(0.0, False), (1.0, False), (0.5, False), (3.0, True)])
def test_at_a_kink_any_value_between_the_one_sided_slopes_is_right(subgradient, wrong):
    relu_rule = lambda z: np.where(z > 0, 1.0, np.where(z < 0, 0.0, subgradient))
    verdict = local.check(elementwise(lambda z: np.maximum(z, 0.0), relu_rule, [0.0, 1.5]), np.array([[1.0], [0.3]]))
    assert verdict.wrong == wrong


def test_the_complex_step_can_clear_a_rule_that_finite_differences_doubt():
    # A stand-in for finite differences that a formula's rounding misleads: the plain values carry a
    # spurious slope, the complex-step values do not; the rule agrees with the complex step.
    z0 = np.array([0.3, 0.9])
    problem = elementwise(lambda z: np.sin(z) + 1e-3 * (z - z0), np.cos, z0)
    assert local.check(problem, np.array([[1.0], [0.5]])).wrong
    with_complex_step = local.LocalProblem(problem.z0, problem.value, problem.eps, problem.inputs, problem.outputs,
                                           forward=problem.forward, complex_value=np.sin)
    assert not local.check(with_complex_step, np.array([[1.0], [0.5]])).wrong


@pytest.mark.parametrize("output_scale, input_scale", [(1e-14, 1.0), (1.0, 1.0), (1e14, 1.0), (1.0, 1e-14),
                                                       (1.0, 1e14)])
def test_the_check_is_scale_free(output_scale, input_scale):
    z0 = np.array([0.4, 1.3]) * input_scale
    slope = output_scale / input_scale

    def f(z):  # exp in other units
        return output_scale * np.exp(z / input_scale)

    directions = np.array([[1.0], [0.5]])
    assert not local.check(elementwise(f, lambda z: slope * np.exp(z / input_scale), z0), directions).wrong
    slightly_wrong = elementwise(f, lambda z: slope * np.exp(z / input_scale) * (1 + 1e-4), z0)
    assert local.check(slightly_wrong, directions).wrong


def test_a_rule_on_a_subspace_is_checked_along_the_programs_directions():
    # cholesky's rule holds for symmetric tangents only; the program only ever moves its operand
    # symmetrically, and so does the check.
    matrix = np.array([[4.0, 1.0], [1.0, 3.0]])

    def chol(z):
        return np.linalg.cholesky(np.tril(z.reshape(2, 2)) + np.tril(z.reshape(2, 2), -1).T).ravel()

    def jvp(z, d):
        L = np.linalg.cholesky(z.reshape(2, 2))
        dA = d.reshape(2, 2)
        inner = np.linalg.solve(L, np.linalg.solve(L, dA.T).T)  # L^-1 dA L^-T
        phi = np.tril(inner) - 0.5 * np.diag(np.diag(inner))
        return (L @ phi).ravel()

    z0 = matrix.ravel()
    problem = local.LocalProblem(z0, chol, np.full(4, 2.0**-52), (local.Operand("x", (2, 2)),),
                                 (local.Operand("y", (2, 2)),),
                                 forward=lambda D: np.stack([jvp(z0, D[:, k]) for k in range(D.shape[1])], axis=1))
    symmetric = np.array([[1.0], [0.3], [0.3], [-0.5]])
    assert not local.check(problem, symmetric).wrong


def test_the_messages_show_both_numbers_and_name_entries_only_where_there_are_several():
    one = local.LocalProblem(np.zeros(1), np.sin, np.ones(1), (local.Operand("x", ()),), (local.Operand("y", ()),))
    evidence = local.Evidence(0.41, 0.57, 1e-9, 0, 0)
    assert describe_evidence(evidence, one, 1) == "d/dx = 0.41 vs 0.57 ± 1e-09 (FD)"
    many = local.LocalProblem(np.zeros(6), np.sin, np.ones(6), (local.Operand("x", (2, 3)),),
                              (local.Operand("y", (6,)),))
    assert describe_evidence(local.Evidence(np.nan, 0.0, 2e-14, 4, 5), many, 1) == \
        "d y[4]/d x[1, 2] = nan vs 0 ± 2e-14 (FD)"
    assert describe_rule(Rule("jax.random.gamma", False, "jax", "0.10.2")) == "jax.random.gamma (jax 0.10.2)"
    assert describe_rule(Rule("my_sin", True, kind="custom_vjp", definition=("/abs/m.py", 16), function="my_sin_bwd")) \
        == "my_sin (your custom_vjp, my_sin_bwd at /abs/m.py:16)"


# --- end to end ---------------------------------------------------------------------------------------


def run_json(*arguments) -> dict:
    result = invoke("run", *arguments, "--format", "json")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def autograd_sign_error() -> tuple[str, int]:
    return f"{BLAME / 'autograd_planted.py'}:sign_error", call_line("autograd_planted.py", "sign_error", "softplus")


def test_cli_links_the_blamed_rule_to_the_disagreement_it_explains():
    target, line = autograd_sign_error()
    report = run_json(target, "--input", json.dumps(X6))
    at_call = [f for f in report["findings"] if f["line"] == line]
    assert [(f["code"], f["explains"]) for f in at_call] == [("ADC501", ["autograd"])]
    assert not any(f["code"] == "ADC502" for f in report["findings"])


def test_cli_table_shows_the_blamed_rule_under_the_disagreement_and_github_annotates_the_call():
    target, line = autograd_sign_error()
    table = invoke("run", target, "--input", json.dumps(X6))
    causes = table.stdout.split("Likely causes:")[1].split("Jacobians")[0]
    assert f"autograd_planted.py:{line}:" in causes and "ADC501" in causes
    github = invoke("run", target, "--input", json.dumps(X6), "--format", "github")
    assert any(f"line={line}," in row and "ADC501" in row for row in github.stdout.splitlines())


def test_cli_without_blame_or_with_a_spent_budget():
    target, line = autograd_sign_error()
    off = run_json(target, "--input", json.dumps(X6), "--no-blame")
    assert not any(f["line"] == line for f in off["findings"])
    spent = run_json(target, "--input", json.dumps(X6), "--blame-primitives", "5")
    assert any("stopped early" in note and "5 of" in note for note in spent["notes"])


def test_cli_a_nan_traced_to_its_rule_replaces_the_generic_nan_finding():
    report = run_json(f"{BLAME / 'jax_planted.py'}:nan_at_zero", "--input", json.dumps(X6))
    line = call_line("jax_planted.py", "nan_at_zero", "sin_over")
    nan = [(f["line"], f["explains"]) for f in report["findings"] if f["code"] == "ADC604"]
    assert sorted(nan) == [(line, ["jax-fwd"]), (line, ["jax-rev"])]


def test_cli_order_2_blames_the_real_torch_sinc_rule():
    report = run_json(f"{BLAME / 'torch_sinc_second.py'}:sinc_mix", "--input", "[-0.5]", "--order", "2")
    line = call_line("torch_sinc_second.py", "sinc_mix", "torch.sinc")
    blamed_here = sorted((f["code"], f["explains"][0]) for f in report["findings"] if f["line"] == line)
    assert blamed_here == [("ADC502", "torch-fwd"), ("ADC604", "torch-rev")]
    table = invoke("run", f"{BLAME / 'torch_sinc_second.py'}:sinc_mix", "--input", "[-0.5]", "--order", "2").stdout
    causes = table.split("Likely causes (a derivative rule must itself be differentiable):")[1]
    assert f"torch_sinc_second.py:{line}:9: ADC502" in causes and f"torch_sinc_second.py:{line}:9: ADC604" in causes


def test_cli_two_backends_blaming_one_rule_at_one_call_make_one_finding():
    report = run_json(f"{BLAME / 'jax_sinc_near_zero.py'}:sinc_sum", "--input", "[1e-8, 0.5, -0.3]")
    line = call_line("jax_sinc_near_zero.py", "sinc_sum", "jnp.sinc")
    here = [(f["code"], sorted(f["explains"])) for f in report["findings"] if f["line"] == line]
    assert here == [("ADC502", ["jax-fwd", "jax-rev"])]
