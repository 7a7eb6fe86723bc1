"""``--format markdown``: the pull-request summary, compared with literal expected text.

Hand-made reports (``report_samples``) carry exact numbers, so each is compared whole; the CLI
checks at the end run fixtures and assert the title, the table's shape, statuses and exit codes.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

import report_samples as samples
from adcheck.errors import ExitCode
from adcheck.report import markdown

HEADER = "| case | backend | status | max abs err | err/tol | worst entry | likely causes |"


def table_rows(text: str) -> list[list[str]]:
    """The summary table's body, cell by cell; every row has as many cells as the header."""
    lines = text.splitlines()
    start = lines.index(HEADER) if HEADER in lines else next(i for i, l in enumerate(lines) if l.startswith(HEADER))
    width = lines[start].count("|")
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        assert line.replace("\\|", "").count("|") == width, line
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


MIXED_MARKDOWN = """\
### adcheck: 1 of 1 case failed

| case | backend | status | max abs err | err/tol | worst entry | likely causes |
|---|---|---|---|---|---|---|
| `pkg/model.py:f` | autograd | ❌ disagree | 2 | 4 | d f[0] / d x[1] | `ADC501` |
| `pkg/model.py:f` | jax-fwd | ✅ agree | 0 | 0 | d f[0] / d x[0] | - |
| `pkg/model.py:f` | jax-rev | ❌ error | - | - | - | - |
| `pkg/model.py:f` | torch-fwd | ➖ not applicable | - | - | - | - |

<details><summary><code>pkg/model.py:f</code>: autograd disagree</summary>

```
entry            autograd (actual)    reference (desired)    error bar    err/tol    jax-fwd
---------------  -------------------  ---------------------  -----------  ---------  ---------
d f[0] / d x[1]  2.5                  0.5                    ±1.0e-12     4          0.5
```

Likely causes:

- `` pkg/model.py:20:5: ADC501 `softplus` has a user-defined derivative rule (autograd defvjp): autograd uses the rule ``

</details>

<details><summary><code>pkg/model.py:f</code>: jax-rev error</summary>

jax-rev failed at `pkg/model.py:13`: TypeError: bad, with: punctuation

</details>"""


KINK_MARKDOWN = """\
### adcheck: all 1 case passed

| case | backend | status | max abs err | err/tol | worst entry | likely causes |
|---|---|---|---|---|---|---|
| `pkg/kinks.py:absolute` | autograd | ✅ kink | 0 | 0 | d absolute[0] / d x[1] | `ADC301` |
| `pkg/kinks.py:absolute` | jax-fwd | ✅ kink | 0 | 0 | d absolute[0] / d x[1] | `ADC301` |

<details><summary><code>pkg/kinks.py:absolute</code>: autograd kink</summary>

1 entry at a kink, where the value lies between the one-sided derivatives (a valid subgradient)

```
d absolute[0] / d x[0]: autograd 1; one-sided derivatives -1 (left) and 1 (right)
```

</details>

<details><summary><code>pkg/kinks.py:absolute</code>: jax-fwd kink</summary>

1 entry at a kink, where the value lies between the one-sided derivatives (a valid subgradient)

```
d absolute[0] / d x[0]: jax-fwd 0; one-sided derivatives -1 (left) and 1 (right)
```

</details>"""


INCONCLUSIVE_MARKDOWN = """\
### adcheck: all 1 case passed (1 inconclusive)

| case | backend | status | max abs err | err/tol | worst entry | likely causes |
|---|---|---|---|---|---|---|
| `pkg/model.py:g` | autograd | ⚠️ inconclusive | 0 | 0 | d g[0] / d x[1] | - |
| `pkg/model.py:g` | torch-fwd | ➖ not applicable | - | - | - | - |

<details><summary><code>pkg/model.py:g</code>: autograd inconclusive</summary>

2 of 4 entries could not be verified: finite differences cannot settle them and no other AD backend could confirm them

```
entry            autograd    fd    fd error
---------------  ----------  ----  ----------
d g[0] / d x[0]  0.75        0.5   ±5.0e-01
d g[1] / d x[0]  3           2     ±2.0e+00
  d g[0] / d x[0]: fd 0.5 ± 5.0e-01 (too wide to decide); complex step: the function returns real values for complex inputs; Taylor: no clean h or h**2 slope above rounding noise
  d g[1] / d x[0]: fd 2 ± 2.0e+00 (too wide to decide); complex step: not tried; Taylor: no clean slope
```

</details>"""


UNUSABLE_MARKDOWN = """\
### adcheck: 1 of 1 case failed

| case | backend | status | max abs err | err/tol | worst entry | likely causes |
|---|---|---|---|---|---|---|
| `pkg/state.py:shared_cumprod` | fd | ❌ unusable reference | - | - | - | `ADC601`, `ADC101` |
| `pkg/state.py:shared_cumprod` | autograd | ⚠️ inconclusive | - | - | - | - |
| `pkg/state.py:shared_cumprod` | jax-fwd | ⚠️ inconclusive | - | - | - | - |

<details><summary><code>pkg/state.py:shared_cumprod</code>: fd unusable</summary>

the function's value changes between identical calls (two identical calls return different values: output 0 is 1, then 2 in a second call): finite differences of it verify nothing

Likely causes:

- `pkg/state.py:18:1: ADC601 two identical calls return different values: output 0 is 1, then 2 in a second call`
- `` pkg/state.py:11:9: ADC101 `self.a` writes an attribute of module-level instance `ACC`, which outlives the call ``

</details>"""


NOTHING_CHECKED_MARKDOWN = """\
### adcheck: 1 of 1 case failed

| case | backend | status | max abs err | err/tol | worst entry | likely causes |
|---|---|---|---|---|---|---|
| `pkg/model.py:h` | autograd | ➖ unavailable | - | - | - | - |
| `pkg/model.py:h` | torch-fwd | ➖ not applicable | - | - | - | - |
| `pkg/model.py:h` | - | ❌ no AD backend could run the function | - | - | - | - |

<details><summary><code>pkg/model.py:h</code>: nothing checked</summary>

no AD backend could run the function:

- autograd: autograd is not installed (pip install autograd)
- torch-fwd: torch-fwd cannot run numpy code (it runs torch, array-api)

</details>"""


NAN_MARKDOWN = """\
### adcheck: 1 of 1 case failed

| case | backend | status | max abs err | err/tol | worst entry | likely causes |
|---|---|---|---|---|---|---|
| `pkg/where.py:safe_sqrt` | jax-fwd | ✅ agree | 0 | 0 | d safe_sqrt[0] / d x[0] | - |
| `pkg/where.py:safe_sqrt` | jax-rev | ❌ disagree | nan | inf | d safe_sqrt[0] / d x[0] | `ADC604`, `ADC302` |

<details><summary><code>pkg/where.py:safe_sqrt</code>: jax-rev disagree</summary>

```
entry                    jax-rev (actual)    reference (desired)    error bar    err/tol    jax-fwd
-----------------------  ------------------  ---------------------  -----------  ---------  ---------
d safe_sqrt[0] / d x[0]  nan                 0                      ±1.0e-12     inf        0
d safe_sqrt[1] / d x[0]  nan                 0                      ±1.0e-14     inf        0
```

Likely causes:

- `pkg/where.py:6:1: ADC604 jax-rev: 2 of 4 Jacobian entries are NaN/inf (first: entry (0, 0) is NaN, fd 0) where finite differences are finite`
- `` pkg/where.py:7:12: ADC302 `jnp.where` also differentiates the branch it masks out, and `jnp.sqrt(x)` is NaN there ``

</details>"""


SECOND_ORDER_MARKDOWN = """\
### adcheck: 1 of 1 case failed

| case | backend | status | max abs err | err/tol | worst entry | likely causes |
|---|---|---|---|---|---|---|
| `pkg/rules.py:loss` | jax-fwd | ✅ agree | 0 | 0 | d loss / d x[0] | - |
| `pkg/rules.py:loss` | jax-rev | ✅ agree | 0 | 0 | d loss / d x[0] | - |
| `pkg/rules.py:loss` | jax-fwd (second order) | ❌ disagree | 0.75 | 3 | d2 loss / d x[1] d x[1] | `ADC501` |
| `pkg/rules.py:loss` | jax-rev (second order) | ❌ error | - | - | - | - |

<details><summary><code>pkg/rules.py:loss</code>: jax-fwd (second order) disagree</summary>

jax-fwd second derivative differs from FD of its own first derivative: 1 of 4 entries outside tolerance

```
entry                    jax-fwd (actual)    FD of its derivative (desired)    fd error
-----------------------  ------------------  --------------------------------  ----------
d2 loss / d x[1] d x[1]  1                   0.25                              ±1.0e-11
```

Likely causes:

- `` pkg/rules.py:11:2: ADC501 `frozen_sin` has a user-defined derivative rule (jax.custom_jvp): jax-fwd, jax-rev use the rule instead of differentiating the code ``

</details>

<details><summary><code>pkg/rules.py:loss</code>: jax-rev (second order) error</summary>

jax-rev second derivative failed: TypeError: can't apply forward-mode autodiff (jvp) to a custom_vjp function.

</details>"""


@pytest.mark.parametrize("name", list(samples.ALL_REPORTS))
def test_every_sample_report_has_a_well_formed_table_and_balanced_details(name):
    text = markdown.render([samples.ALL_REPORTS[name]()], timings=False)
    assert table_rows(text)
    assert text.count("<details>") == text.count("</details>")
    assert text.count("```") % 2 == 0


def test_markdown_disagreement_error_and_a_backend_that_cannot_run_the_code():
    assert markdown.render([samples.mixed_report()], timings=False) == MIXED_MARKDOWN


def test_markdown_kinks_pass_with_their_one_sided_derivatives():
    assert markdown.render([samples.kink_report()], timings=False) == KINK_MARKDOWN


def test_markdown_inconclusive_lists_unverified_entries_with_their_evidence():
    assert markdown.render([samples.inconclusive_report()], timings=False) == INCONCLUSIVE_MARKDOWN


def test_markdown_unusable_reference_fails_with_adc601():
    assert markdown.render([samples.unusable_report()], timings=False) == UNUSABLE_MARKDOWN


def test_markdown_nothing_checked_fails_and_gives_each_reason():
    assert markdown.render([samples.nothing_checked_report()], timings=False) == NOTHING_CHECKED_MARKDOWN


def test_markdown_nan_disagreement_shows_nan_as_the_max_abs_error():
    text = markdown.render([samples.nan_report()], timings=False)
    assert text == NAN_MARKDOWN
    assert table_rows(text)[1][3:5] == ["nan", "inf"]


def test_markdown_second_order_failures_have_rows_and_details():
    assert markdown.render([samples.second_order_report()], timings=False) == SECOND_ORDER_MARKDOWN


def test_markdown_timings_add_a_seconds_column():
    text = markdown.render([samples.mixed_report()], timings=True)
    assert f"{HEADER[:-1]}| seconds |" in text.splitlines()
    assert table_rows(text) == [
        ["`pkg/model.py:f`", "autograd", "❌ disagree", "2", "4", "d f[0] / d x[1]", "`ADC501`", "1.25"],
        ["`pkg/model.py:f`", "jax-fwd", "✅ agree", "0", "0", "d f[0] / d x[0]", "-", "2.50"],
        ["`pkg/model.py:f`", "jax-rev", "❌ error", "-", "-", "-", "-", "0.50"],
        ["`pkg/model.py:f`", "torch-fwd", "➖ not applicable", "-", "-", "-", "-", "-"],
    ]
    assert "seconds" not in markdown.render([samples.mixed_report()], timings=False)


def test_markdown_counts_failed_cases():
    text = markdown.render([samples.passing_report(), samples.mixed_report(), samples.nothing_checked_report()],
                           timings=False)
    assert text.splitlines()[0] == "### adcheck: 2 of 3 cases failed"
    assert markdown.render([samples.passing_report()], timings=False).splitlines()[0] == \
        "### adcheck: all 1 case passed"
    assert markdown.render([samples.passing_report(), samples.kink_report()], timings=False).splitlines()[0] == \
        "### adcheck: all 2 cases passed"


def test_markdown_two_failing_cases_of_one_function():
    # Reports of one function on two inputs compare equal up to their numpy arrays: looking one up in
    # a list of reports (``report in failed``) raised "truth value of an array is ambiguous".
    first, second = samples.mixed_report(), samples.mixed_report()
    text = markdown.render([first, second], timings=False)
    assert text.splitlines()[0] == "### adcheck: 2 of 2 cases failed"
    assert text.count("<summary><code>pkg/model.py:f</code>: autograd disagree</summary>") == 2


def test_markdown_escapes_pipes_in_cells_and_html_in_messages():
    report = samples.mixed_report()
    verdicts = tuple(replace(v, message="TypeError: unsupported operand for <class 'float'> | x")
                     if v.name == "jax-rev" else v for v in report.comparison.verdicts)
    report = replace(report, target="pkg/model.py:f|g", comparison=replace(report.comparison, verdicts=verdicts))
    text = markdown.render([report], timings=False)
    assert table_rows(text)[0][0] == "`pkg/model.py:f\\|g`"
    assert ("jax-rev failed at `pkg/model.py:13`: TypeError: unsupported operand for &lt;class 'float'&gt; | x"
            in text.splitlines())
    assert "<code>pkg/model.py:f|g</code>: jax-rev error" in text


def test_markdown_error_without_a_location():
    report = samples.mixed_report()
    verdicts = tuple(replace(v, location=None) if v.name == "jax-rev" else v for v in report.comparison.verdicts)
    text = markdown.render([replace(report, comparison=replace(report.comparison, verdicts=verdicts))], timings=False)
    assert "jax-rev failed: TypeError: bad, with: punctuation" in text.splitlines()
    assert "at `pkg/model.py:13`" not in text


# --- end to end ---------------------------------------------------------------------------------------


def test_check_markdown_of_the_sample_project():
    result = samples.check_sample("markdown", "--no-timings")
    assert result.exit_code == ExitCode.FAILED, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:4] == ["### adcheck: 1 of 2 cases failed", "", HEADER, "|---|---|---|---|---|---|---|"]
    rows = table_rows(result.stdout)
    assert [row[:3] for row in rows] == [["`funcs.py:good`", "autograd", "✅ agree"],
                                         ["`funcs.py:bad`", "autograd", "❌ disagree"]]
    assert rows[1][6] == "`ADC501`"
    assert "<details><summary><code>funcs.py:bad</code>: autograd disagree</summary>" in lines
    assert "seconds" not in result.stdout


def test_run_markdown_of_a_function_that_keeps_state():
    result = samples.run_stateful("markdown", "--no-timings")
    assert result.exit_code == ExitCode.FAILED, result.stderr
    rows = table_rows(result.stdout)
    assert result.stdout.splitlines()[0] == "### adcheck: 1 of 1 case failed"
    (fd,) = [row for row in rows if row[1] == "fd"]
    assert fd[2] == "❌ unusable reference"
    assert "`ADC601`" in fd[6].split(", ")


def test_run_markdown_when_no_ad_backend_can_run_the_function():
    result = samples.run_nothing_checked("markdown", "--no-timings")
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert result.stdout.splitlines()[0] == "### adcheck: 1 of 1 case failed"
    assert [row[1:3] for row in table_rows(result.stdout)] == [
        ["autograd", "➖ not applicable"], ["-", "❌ no AD backend could run the function"]]
    assert "- autograd: autograd cannot run torch code (it runs numpy, autograd)" in result.stdout.splitlines()


def test_markdown_title_counts_what_fails_under_the_policy():
    inconclusive = samples.inconclusive_report()
    assert markdown.render([inconclusive], timings=False).startswith("### adcheck: all 1 case passed (1 inconclusive)")
    assert markdown.render([inconclusive], timings=False, fail_on="inconclusive").startswith(
        "### adcheck: 1 of 1 case failed")
    mixed = samples.mixed_report()
    assert markdown.render([mixed], timings=False).startswith("### adcheck: 1 of 1 case failed")
    # Under --fail-on error only the backend error fails: still one failing case, for that reason.
    assert markdown.render([replace(mixed, comparison=replace(mixed.comparison, verdicts=tuple(
        v for v in mixed.comparison.verdicts if v.status.value != "error")))], timings=False,
        fail_on="error").startswith("### adcheck: all 1 case passed")
