"""The terminal table (``adcheck run``'s default report), against literal expected text.

Hand-made reports (``report_samples``) carry exact numbers, so each is compared whole; the CLI
checks at the end run fixtures and assert statuses and exit codes, never floating-point digits.
"""

from __future__ import annotations

import re


import report_samples as samples
from adcheck.errors import ExitCode
from adcheck.report import table

MIXED_TABLE = """\
adcheck run pkg/model.py:f
inputs: x 2 (2 values) -> outputs: 2 values

backend    status          max abs err    err/tol    worst entry
---------  --------------  -------------  ---------  ---------------
fd         reference       -              -          -
autograd   disagree        2              4          d f[0] / d x[1]
jax-fwd    agree           0              0          d f[0] / d x[0]
jax-rev    error           -              -          -
torch-fwd  not-applicable  -              -          -
  torch-fwd: torch-fwd cannot run numpy code (it runs torch, array-api)

autograd is the odd one out.

autograd disagrees: 1 of 4 entries outside tolerance
entry            autograd (actual)    reference (desired)    error bar    err/tol    jax-fwd
---------------  -------------------  ---------------------  -----------  ---------  ---------
d f[0] / d x[1]  2.5                  0.5                    ±1.0e-12     4          0.5
Likely causes:
  pkg/model.py:20:5: ADC501 `softplus` has a user-defined derivative rule (autograd defvjp): autograd uses the rule

jax-rev: error (pkg/model.py:13)
  TypeError: bad, with: punctuation

Jacobians (rows: outputs, columns: inputs):
fd       autograd   jax-fwd
1  0.5     1  2.5    1  0.5
0    2     0    2    0    2

Findings:
  pkg/model.py:14:9: ADC105 in-place update of an argument: x[0] += 1

FAIL: autograd, jax-rev"""


KINK_TABLE = """\
adcheck run pkg/kinks.py:absolute
inputs: x 2 (2 values) -> outputs: 2 values

backend    status     max abs err    err/tol    worst entry
---------  ---------  -------------  ---------  ----------------------
fd         reference  -              -          -
autograd   kink       0              0          d absolute[0] / d x[1]
jax-fwd    kink       0              0          d absolute[0] / d x[1]

autograd: 1 entry at a kink, where the value lies between the one-sided derivatives (a valid subgradient)
  d absolute[0] / d x[0]: autograd 1; one-sided derivatives -1 (left) and 1 (right)
  pkg/kinks.py:7:12: ADC301 `np.abs` is not differentiable at 0

jax-fwd: 1 entry at a kink, where the value lies between the one-sided derivatives (a valid subgradient)
  d absolute[0] / d x[0]: jax-fwd 0; one-sided derivatives -1 (left) and 1 (right)
  pkg/kinks.py:7:12: ADC301 `np.abs` is not differentiable at 0

Jacobians (rows: outputs, columns: inputs):
fd     autograd   jax-fwd
0  0       1  0      0  0
0  1       0  1      0  1

PASS: autograd, jax-fwd agree with finite differences (at a kink: valid subgradients)"""


INCONCLUSIVE_TABLE = """\
adcheck run pkg/model.py:g
inputs: x 2 (2 values) -> outputs: 2 values

backend    status          max abs err    err/tol    worst entry
---------  --------------  -------------  ---------  ---------------
fd         reference       -              -          -
autograd   inconclusive    0              0          d g[0] / d x[1]
torch-fwd  not-applicable  -              -          -
  torch-fwd: torch-fwd cannot run numpy code (it runs torch, array-api)

autograd: inconclusive: 2 of 4 entries could not be verified: finite differences cannot settle them and no other AD backend could confirm them
entry            autograd    fd    fd error
---------------  ----------  ----  ----------
d g[0] / d x[0]  0.75        0.5   ±5.0e-01
d g[1] / d x[0]  3           2     ±2.0e+00
  d g[0] / d x[0]: fd 0.5 ± 5.0e-01 (too wide to decide); complex step: the function returns real values for complex inputs; Taylor: no clean h or h**2 slope above rounding noise
  d g[1] / d x[0]: fd 2 ± 2.0e+00 (too wide to decide); complex step: not tried; Taylor: no clean slope

Jacobians (rows: outputs, columns: inputs):
fd       autograd
0.5  0    0.75  0
  2  2       3  2

INCONCLUSIVE: autograd could not be verified (see above; exit 0 unless --fail-on inconclusive)"""


UNUSABLE_TABLE = """\
adcheck run pkg/state.py:shared_cumprod
inputs: x 2 (2 values) -> outputs: 2 values

backend    status        max abs err    err/tol    worst entry
---------  ------------  -------------  ---------  -------------
fd         unusable      -              -          -
autograd   inconclusive  -              -          -
jax-fwd    inconclusive  -              -          -

the function's value changes between identical calls (state, randomness or a cache): its derivative is not defined, and no backend can be checked against it; the AD backends agree with each other.

fd: unusable: the function's value changes between identical calls (two identical calls return different values: output 0 is 1, then 2 in a second call): finite differences of it verify nothing
Likely causes:
  pkg/state.py:18:1: ADC601 two identical calls return different values: output 0 is 1, then 2 in a second call
  pkg/state.py:11:9: ADC101 `self.a` writes an attribute of module-level instance `ACC`, which outlives the call

Jacobians (rows: outputs, columns: inputs):
autograd   jax-fwd
    1  0      1  0
    2  1      2  1

FAIL: the function is not deterministic between calls: two identical calls return different values, so finite differences (fd) verify nothing (ADC601 above)"""


NOTHING_CHECKED_TABLE = """\
adcheck run pkg/model.py:h
inputs: x scalar (1 value) -> outputs: 1 value

backend    status          max abs err    err/tol    worst entry
---------  --------------  -------------  ---------  -------------
fd         reference       -              -          -
autograd   unavailable     -              -          -
torch-fwd  not-applicable  -              -          -
  autograd: autograd is not installed (pip install autograd)
  torch-fwd: torch-fwd cannot run numpy code (it runs torch, array-api)

Jacobians (rows: outputs, columns: inputs):
fd
 2

NOTHING CHECKED: no AD backend could run the function (the reasons are above)"""


NAN_TABLE = """\
adcheck run pkg/where.py:safe_sqrt
inputs: x 2 (2 values) -> outputs: 2 values

backend    status     max abs err    err/tol    worst entry
---------  ---------  -------------  ---------  -----------------------
fd         reference  -              -          -
jax-fwd    agree      0              0          d safe_sqrt[0] / d x[0]
jax-rev    disagree   nan            inf        d safe_sqrt[0] / d x[0]

jax-rev disagrees with finite differences and with jax-fwd, which agree.

jax-rev disagrees: 2 of 4 entries outside tolerance (2 NaN/inf where finite differences are finite)
entry                    jax-rev (actual)    reference (desired)    error bar    err/tol    jax-fwd
-----------------------  ------------------  ---------------------  -----------  ---------  ---------
d safe_sqrt[0] / d x[0]  nan                 0                      ±1.0e-12     inf        0
d safe_sqrt[1] / d x[0]  nan                 0                      ±1.0e-14     inf        0
Likely causes:
  pkg/where.py:6:1: ADC604 jax-rev: 2 of 4 Jacobian entries are NaN/inf (first: entry (0, 0) is NaN, fd 0) where finite differences are finite
  pkg/where.py:7:12: ADC302 `jnp.where` also differentiates the branch it masks out, and `jnp.sqrt(x)` is NaN there

Jacobians (rows: outputs, columns: inputs):
fd     jax-fwd   jax-rev
0  0      0  0    nan  0
0  1      0  1    nan  1

FAIL: jax-rev"""


SECOND_ORDER_TABLE = """\
adcheck run pkg/rules.py:loss
inputs: x 2 (2 values) -> outputs: 1 value

backend    status     max abs err    err/tol    worst entry
---------  ---------  -------------  ---------  ---------------
fd         reference  -              -          -
jax-fwd    agree      0              0          d loss / d x[0]
jax-rev    agree      0              0          d loss / d x[0]

Jacobians (rows: outputs, columns: inputs):
fd     jax-fwd   jax-rev
1  2      1  2      1  2

Second derivatives (Hessian), each against FD of the backend's own first derivative:
backend    status    max abs err    err/tol    worst entry
---------  --------  -------------  ---------  -----------------------
jax-fwd    disagree  0.75           3          d2 loss / d x[1] d x[1]
jax-rev    error     -              -          -

jax-fwd second derivative differs from FD of its own first derivative: 1 of 4 entries outside tolerance
entry                    jax-fwd (actual)    FD of its derivative (desired)    fd error
-----------------------  ------------------  --------------------------------  ----------
d2 loss / d x[1] d x[1]  1                   0.25                              ±1.0e-11

jax-rev second derivative: error
  TypeError: can't apply forward-mode autodiff (jvp) to a custom_vjp function.

Likely causes (a derivative rule must itself be differentiable):
  pkg/rules.py:11:2: ADC501 `frozen_sin` has a user-defined derivative rule (jax.custom_jvp): jax-fwd, jax-rev use the rule instead of differentiating the code

second derivatives: jax-fwd, jax-rev fail.

FAIL: jax-fwd (second derivative), jax-rev (second derivative)"""


def test_table_of_a_disagreement_an_error_and_a_backend_that_cannot_run_the_code():
    assert table.render(samples.mixed_report(), timings=False) == MIXED_TABLE


def test_table_of_kinks_shows_each_entry_between_its_one_sided_derivatives():
    assert table.render(samples.kink_report(), timings=False) == KINK_TABLE


def test_table_of_an_inconclusive_backend_lists_its_unverified_entries_with_their_evidence():
    assert table.render(samples.inconclusive_report(), timings=False) == INCONCLUSIVE_TABLE


def test_table_of_an_unusable_reference_fails_on_the_fd_row_with_adc601():
    assert table.render(samples.unusable_report(), timings=False) == UNUSABLE_TABLE


def test_table_when_no_ad_backend_can_run_the_function_gives_each_reason():
    assert table.render(samples.nothing_checked_report(), timings=False) == NOTHING_CHECKED_TABLE


def test_table_of_a_nan_disagreement_shows_nan_as_the_max_abs_error():
    text = table.render(samples.nan_report(), timings=False)
    assert text == NAN_TABLE
    # Not the finite entries' maximum (2**-30, 9.31e-10).
    assert "9.31e-10" not in text


def without_second_order_worst_entries(text: str) -> list[str]:
    """``text``'s lines with the second-order summary table cut to its first four columns."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Second derivatives")) + 1
    end = lines.index("", start)
    return lines[:start] + [re.split(r"\s{2,}", line)[:4] for line in lines[start:end]] + lines[end:]


def test_table_of_a_second_order_failure():
    # The worst-entry column of the second-order table is checked on its own, below.
    assert (without_second_order_worst_entries(table.render(samples.second_order_report(), timings=False))
            == without_second_order_worst_entries(SECOND_ORDER_TABLE))


def test_table_names_the_worst_second_derivative_entry_as_a_hessian_entry():
    lines = table.render(samples.second_order_report(), timings=False).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Second derivatives"))
    (row,) = [line for line in lines[start:] if line.startswith("jax-fwd    disagree")]
    assert row.endswith("  d2 loss / d x[1] d x[1]")


def test_table_timings_add_a_seconds_column():
    lines = table.render(samples.mixed_report(), timings=True).splitlines()
    assert lines[3:10] == [
        "backend    status          max abs err    err/tol    worst entry      seconds",
        "---------  --------------  -------------  ---------  ---------------  ---------",
        "fd         reference       -              -          -                0.04",
        "autograd   disagree        2              4          d f[0] / d x[1]  1.25",
        "jax-fwd    agree           0              0          d f[0] / d x[0]  2.50",
        "jax-rev    error           -              -          -                0.50",
        "torch-fwd  not-applicable  -              -          -                -",
    ]


def test_table_is_coloured_only_when_asked():
    report = samples.mixed_report()
    assert "\x1b[" not in table.render(report, timings=False)
    lines = table.render(report, timings=False, colour=True).splitlines()
    assert lines[6] == "autograd   \x1b[31mdisagree\x1b[0m        2              4          d f[0] / d x[1]"
    assert lines[7] == "jax-fwd    \x1b[32magree\x1b[0m           0              0          d f[0] / d x[0]"
    assert lines[-1] == "\x1b[31m\x1b[1mFAIL: autograd, jax-rev\x1b[0m"


# --- end to end ----------------------------------------------------------------------------------------


def table_rows(text: str) -> dict[str, str]:
    """backend -> status, from the first summary table of a report."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("backend "))
    rows = {}
    for line in lines[start + 2:]:
        if not line or line.startswith(" "):
            break
        name, status = line.split()[:2]
        rows[name] = status
    return rows


def test_run_of_a_function_that_keeps_state_fails_on_the_fd_row_with_adc601():
    result = samples.run_stateful("table", "--no-timings")
    assert result.exit_code == ExitCode.FAILED, result.stderr
    assert table_rows(result.stdout)["fd"] == "unusable"
    assert "\nfd: unusable: the function's value changes between identical calls" in result.stdout
    assert re.search(r"^  \S*stateful\.py:\d+:\d+: ADC601 ", result.stdout, re.MULTILINE)
    assert result.stdout.endswith("FAIL: the function keeps state between calls (not deterministic): two identical "
                                  "calls return different values, so finite differences (fd) verify nothing (ADC601 "
                                  "above)\n")


def test_run_when_no_ad_backend_can_run_the_function_exits_2_and_says_why():
    result = samples.run_nothing_checked("table", "--no-timings")
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert table_rows(result.stdout) == {"fd": "reference", "autograd": "not-applicable"}
    assert "\n  autograd: autograd cannot run torch code" in result.stdout
    assert result.stdout.endswith("NOTHING CHECKED: no AD backend could run the function (the reasons are above)\n")
