"""``--format github``: workflow commands (annotations), compared with literal expected lines.

Hand-made reports (``report_samples``) carry exact numbers, so each is compared whole; the CLI
checks at the end run fixtures and assert levels, locations and exit codes.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

import report_samples as samples
from adcheck.errors import ExitCode
from adcheck.report import github

# One annotation per line: level, the file and line (and column for a finding), a title, a message
# with no raw newline (escaped as %0A) and no unescaped property separator in the properties.
ANNOTATION = re.compile(r"^::(error|warning|notice) file=[^,:]+,line=[1-9]\d*(,col=[1-9]\d*)?,title=[^,:]+"
                        r"::\S[^\r\n]*$")


def annotations(text: str) -> list[str]:
    lines = text.splitlines()
    bad = [line for line in lines if not ANNOTATION.match(line)]
    assert not bad, bad
    return lines


MIXED_GITHUB = [
    "::error file=pkg/model.py,line=12,title=adcheck%3A autograd disagrees::pkg/model.py:f: autograd disagrees "
    "with finite differences: 1 of 4 entries outside tolerance; worst entry d f[0] / d x[1]: autograd (actual) "
    "2.5, fd (desired) 0.5 ± 1.0e-12; likely causes: ADC501",
    "::error file=pkg/model.py,line=12,title=adcheck%3A jax-rev error::pkg/model.py:f: jax-rev failed at "
    "pkg/model.py:13: TypeError: bad, with: punctuation",
    "::warning file=pkg/model.py,line=20,col=5,title=adcheck ADC501::ADC501 `softplus` has a user-defined "
    "derivative rule (autograd defvjp): autograd uses the rule",
    "::error file=pkg/model.py,line=14,col=9,title=adcheck ADC105::ADC105 in-place update of an argument: x[0] += "
    "1",
]


KINK_GITHUB = [
    "::notice file=pkg/kinks.py,line=6,title=adcheck%3A autograd at a kink::pkg/kinks.py:absolute: autograd: 1 "
    "entry at a kink, where the value lies between the one-sided derivatives (a valid subgradient)",
    "::notice file=pkg/kinks.py,line=6,title=adcheck%3A jax-fwd at a kink::pkg/kinks.py:absolute: jax-fwd: 1 entry "
    "at a kink, where the value lies between the one-sided derivatives (a valid subgradient)",
    "::notice file=pkg/kinks.py,line=7,col=12,title=adcheck ADC301::ADC301 `np.abs` is not differentiable at 0",
]


INCONCLUSIVE_GITHUB = [
    "::warning file=pkg/model.py,line=40,title=adcheck%3A autograd inconclusive::pkg/model.py:g: autograd: 2 of 4 "
    "entries could not be verified: finite differences cannot settle them and no other AD backend could confirm "
    "them%0Aunverified entry d g[0] / d x[0]: autograd 0.75; fd 0.5 ± 5.0e-01 (too wide to decide); complex step: "
    "the function returns real values for complex inputs; Taylor: no clean h or h**2 slope above rounding "
    "noise%0Aunverified entry d g[1] / d x[0]: autograd 3; fd 2 ± 2.0e+00 (too wide to decide); complex step: not "
    "tried; Taylor: no clean slope",
]


UNUSABLE_GITHUB = [
    "::error file=pkg/state.py,line=18,title=adcheck%3A the function is not a "
    "function::pkg/state.py:shared_cumprod: the function's value changes between identical calls (two identical "
    "calls return different values: output 0 is 1, then 2 in a second call): finite differences of it verify "
    "nothing; likely causes: ADC601, ADC101",
    "::warning file=pkg/state.py,line=18,title=adcheck%3A autograd inconclusive::pkg/state.py:shared_cumprod: "
    "autograd: no usable reference: the function's value changes between identical calls",
    "::warning file=pkg/state.py,line=18,title=adcheck%3A jax-fwd inconclusive::pkg/state.py:shared_cumprod: "
    "jax-fwd: no usable reference: the function's value changes between identical calls",
    "::error file=pkg/state.py,line=18,col=1,title=adcheck ADC601::ADC601 two identical calls return different "
    "values: output 0 is 1, then 2 in a second call",
    "::error file=pkg/state.py,line=11,col=9,title=adcheck ADC101::ADC101 `self.a` writes an attribute of "
    "module-level instance `ACC`, which outlives the call",
]


NOTHING_CHECKED_GITHUB = [
    "::error file=pkg/model.py,line=50,title=adcheck%3A no AD backend could run the function::pkg/model.py:h: no "
    "AD backend could run the function, so nothing was checked (autograd: autograd is not installed (pip install "
    "autograd); torch-fwd: torch-fwd cannot run numpy code (it runs torch, array-api))",
]


NAN_GITHUB = [
    "::error file=pkg/where.py,line=6,title=adcheck%3A jax-rev disagrees::pkg/where.py:safe_sqrt: jax-rev "
    "disagrees with finite differences: 2 of 4 entries outside tolerance (2 NaN/inf where finite differences are "
    "finite); worst entry d safe_sqrt[0] / d x[0]: jax-rev (actual) nan, fd (desired) 0 ± 1.0e-12; likely causes: "
    "ADC604, ADC302",
    "::error file=pkg/where.py,line=6,col=1,title=adcheck ADC604::ADC604 jax-rev: 2 of 4 Jacobian entries are "
    "NaN/inf (first: entry (0, 0) is NaN, fd 0) where finite differences are finite",
    "::error file=pkg/where.py,line=7,col=12,title=adcheck ADC302::ADC302 `jnp.where` also differentiates the "
    "branch it masks out, and `jnp.sqrt(x)` is NaN there",
]


SECOND_ORDER_GITHUB = [
    "::error file=pkg/rules.py,line=23,title=adcheck%3A jax-fwd second derivative disagrees::pkg/rules.py:loss: "
    "jax-fwd second derivative differs from FD of its own first derivative: 1 of 4 entries outside tolerance; "
    "worst entry d2 loss / d x[1] d x[1]: jax-fwd (actual) 1, fd (desired) 0.25 ± 1.0e-11; likely causes: ADC501",
    "::error file=pkg/rules.py,line=23,title=adcheck%3A jax-rev second derivative error::pkg/rules.py:loss: "
    "jax-rev second derivative failed: TypeError: can't apply forward-mode autodiff (jvp) to a custom_vjp "
    "function.",
    "::warning file=pkg/rules.py,line=11,col=2,title=adcheck ADC501::ADC501 `frozen_sin` has a user-defined "
    "derivative rule (jax.custom_jvp): jax-fwd, jax-rev use the rule instead of differentiating the code",
]


@pytest.mark.parametrize("name", list(samples.ALL_REPORTS))
def test_every_sample_report_is_one_well_formed_annotation_per_line(name):
    report = samples.ALL_REPORTS[name]()
    text = github.render([report], timings=False)
    assert github.render([report], timings=True) == text  # annotations carry no timings
    annotations(text)


def test_github_disagreement_error_and_findings():
    assert github.render([samples.mixed_report()], timings=False).splitlines() == MIXED_GITHUB


def test_github_kinks_are_notices():
    assert github.render([samples.kink_report()], timings=False).splitlines() == KINK_GITHUB


def test_github_inconclusive_is_a_warning_listing_each_unverified_entry_with_its_evidence():
    lines = github.render([samples.inconclusive_report()], timings=False).splitlines()
    assert lines == INCONCLUSIVE_GITHUB
    message = lines[0].split("::", 2)[2].replace("%0A", "\n")
    assert message.splitlines()[1:] == [
        f"unverified entry d g[0] / d x[0]: autograd 0.75; {samples.EVIDENCE_00}",
        f"unverified entry d g[1] / d x[0]: autograd 3; {samples.EVIDENCE_10}",
    ]


def test_github_inconclusive_says_how_many_unverified_entries_are_not_listed():
    report = samples.inconclusive_report()
    verdicts = tuple(replace(v, n_inconclusive=5) if v.name == "autograd" else v for v in report.comparison.verdicts)
    report = replace(report, comparison=replace(report.comparison, verdicts=verdicts))
    (line,) = github.render([report], timings=False).splitlines()
    assert line.endswith("%0A... and 3 more unverified entries")


def test_github_unusable_reference_is_an_error_naming_adc601():
    assert github.render([samples.unusable_report()], timings=False).splitlines() == UNUSABLE_GITHUB


def test_github_nothing_checked_is_an_error_with_each_reason():
    assert github.render([samples.nothing_checked_report()], timings=False).splitlines() == NOTHING_CHECKED_GITHUB


def test_github_nan_disagreement_shows_the_nan_entry():
    assert github.render([samples.nan_report()], timings=False).splitlines() == NAN_GITHUB


def test_github_second_order_failures_are_errors():
    assert github.render([samples.second_order_report()], timings=False).splitlines() == SECOND_ORDER_GITHUB


def test_github_passing_report_prints_nothing():
    assert github.render([samples.passing_report()], timings=False) == ""


def test_github_escapes_newlines_and_property_separators():
    assert github.command("error", "50% done\r\nnext", file="a,b:c.py", line=3, title="t: x, y") == \
        "::error file=a%2Cb%3Ac.py,line=3,title=t%3A x%2C y::50%25 done%0D%0Anext"


def test_github_annotation_without_a_location():
    assert github.command("warning", "no source") == "::warning::no source"


# --- end to end ---------------------------------------------------------------------------------------


def test_check_github_of_the_sample_project_annotates_the_bad_function():
    result = samples.check_sample("github", "--no-timings")
    assert result.exit_code == ExitCode.FAILED, result.stderr
    lines = annotations(result.stdout)
    assert lines[0].startswith(f"::error file=funcs.py,line={samples.BAD_DEF_LINE},title=adcheck%3A autograd "
                               "disagrees::funcs.py:bad: autograd disagrees with finite differences: ")
    assert "; likely causes: ADC501" in lines[0]
    assert not any("funcs.py:good" in line for line in lines)
    # The rule measured wrong is an error; the static "has a rule of its own" notice is info, not annotated.
    assert all(line.startswith("::error file=funcs.py,") and "title=adcheck ADC501::" in line
               and "is wrong at the inputs it gets here" in line for line in lines[1:])
    assert len(lines) >= 2  # the rule's finding, on its own line


def test_run_github_of_a_function_that_keeps_state():
    result = samples.run_stateful("github", "--no-timings")
    assert result.exit_code == ExitCode.FAILED, result.stderr
    lines = annotations(result.stdout)
    # The path is as the user would write it from the working directory: relative or absolute.
    assert re.match(rf"::error file=[^,]*stateful\.py,line={samples.STATEFUL_DEF_LINE},"
                    "title=adcheck%3A the function is not a function::", lines[0])
    assert re.search(r"; likely causes: .*ADC601", lines[0])
    assert any(re.match(r"::error file=[^,]*stateful\.py,line=\d+,col=\d+,title=adcheck ADC601::", line)
               for line in lines)


def test_run_github_when_no_ad_backend_can_run_the_function():
    result = samples.run_nothing_checked("github", "--no-timings")
    assert result.exit_code == ExitCode.USAGE, result.stderr
    (line,) = [line for line in annotations(result.stdout) if "title=adcheck%3A no AD backend" in line]
    assert line.startswith("::error ")
    assert "autograd: autograd cannot run torch code" in line
