"""``--format junit``: JUnit XML, validated for structure and compared with literal expected text.

Hand-made reports (``report_samples``) carry exact numbers, so each is compared whole; the CLI
checks at the end run fixtures and assert test cases, statuses and exit codes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

import report_samples as samples
from adcheck.errors import ExitCode
from adcheck.report import junit

OUTCOMES = ("failure", "error", "skipped")


def assert_valid_junit(text: str) -> ET.Element:
    """The JUnit XML shape CI viewers read: one suite whose counts match its test cases."""
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?>\n<testsuites ')
    root = ET.fromstring(text)
    assert root.tag == "testsuites" and root.get("name") == "adcheck"
    (suite,) = list(root)
    assert suite.tag == "testsuite" and suite.get("name") == "adcheck"
    cases = list(suite)
    assert all(case.tag == "testcase" and case.get("classname") and case.get("name") for case in cases)
    for case in cases:
        outcomes = [child.tag for child in case if child.tag in OUTCOMES]
        assert len(outcomes) <= 1, outcomes
        assert {child.tag for child in case} <= {*OUTCOMES, "system-out"}
        for child in case:
            if child.tag in ("failure", "error"):
                assert child.get("type") and child.get("message"), ET.tostring(child)
        assert float(case.get("time", "0")) >= 0
    counts = {"tests": str(len(cases))}
    counts.update({f"{tag}s" if tag != "skipped" else tag: str(sum(case.find(tag) is not None for case in cases))
                   for tag in OUTCOMES})
    for node in (root, suite):
        assert {key: node.get(key) for key in counts} == counts
        if node.get("time") is not None:
            assert node.get("time") == f"{sum(float(case.get('time', 0)) for case in cases):.3f}"
    return suite


def cases_by_name(text: str) -> dict[str, ET.Element]:
    return {case.get("name"): case for case in assert_valid_junit(text)}


MIXED_JUNIT = """\
<?xml version="1.0" encoding="utf-8"?>
<testsuites name="adcheck" tests="4" failures="1" errors="1" skipped="1" time="4.250">
  <testsuite name="adcheck" tests="4" failures="1" errors="1" skipped="1" time="4.250">
    <testcase classname="pkg/model.py:f" name="autograd" time="1.250">
      <failure type="disagree" message="autograd: 1 of 4 entries outside tolerance">autograd disagrees with finite differences: 1 of 4 entries outside tolerance

entry            autograd (actual)    reference (desired)    error bar    err/tol    jax-fwd
---------------  -------------------  ---------------------  -----------  ---------  ---------
d f[0] / d x[1]  2.5                  0.5                    ±1.0e-12     4          0.5

Likely causes:
  pkg/model.py:20:5: ADC501 `softplus` has a user-defined derivative rule (autograd defvjp): autograd uses the rule

autograd is the odd one out.</failure>
    </testcase>
    <testcase classname="pkg/model.py:f" name="jax-fwd" time="2.500" />
    <testcase classname="pkg/model.py:f" name="jax-rev" time="0.500">
      <error type="error" message="TypeError: bad, with: punctuation">jax-rev: error (pkg/model.py:13)
TypeError: bad, with: punctuation</error>
    </testcase>
    <testcase classname="pkg/model.py:f" name="torch-fwd" time="0.000">
      <skipped message="torch-fwd cannot run numpy code (it runs torch, array-api)" />
    </testcase>
  </testsuite>
</testsuites>"""


KINK_JUNIT = """\
<?xml version="1.0" encoding="utf-8"?>
<testsuites name="adcheck" tests="2" failures="0" errors="0" skipped="0">
  <testsuite name="adcheck" tests="2" failures="0" errors="0" skipped="0">
    <testcase classname="pkg/kinks.py:absolute" name="autograd">
      <system-out>autograd: 1 entry at a kink, where the value lies between the one-sided derivatives (a valid subgradient)
pkg/kinks.py:7:12: ADC301 `np.abs` is not differentiable at 0</system-out>
    </testcase>
    <testcase classname="pkg/kinks.py:absolute" name="jax-fwd">
      <system-out>jax-fwd: 1 entry at a kink, where the value lies between the one-sided derivatives (a valid subgradient)
pkg/kinks.py:7:12: ADC301 `np.abs` is not differentiable at 0</system-out>
    </testcase>
  </testsuite>
</testsuites>"""


INCONCLUSIVE_JUNIT = """\
<?xml version="1.0" encoding="utf-8"?>
<testsuites name="adcheck" tests="2" failures="0" errors="0" skipped="1">
  <testsuite name="adcheck" tests="2" failures="0" errors="0" skipped="1">
    <testcase classname="pkg/model.py:g" name="autograd">
      <system-out>autograd: inconclusive: 2 of 4 entries could not be verified: finite differences cannot settle them and no other AD backend could confirm them
entry            autograd    fd    fd error
---------------  ----------  ----  ----------
d g[0] / d x[0]  0.75        0.5   ±5.0e-01
d g[1] / d x[0]  3           2     ±2.0e+00
  d g[0] / d x[0]: fd 0.5 ± 5.0e-01 (too wide to decide); complex step: the function returns real values for complex inputs; Taylor: no clean h or h**2 slope above rounding noise
  d g[1] / d x[0]: fd 2 ± 2.0e+00 (too wide to decide); complex step: not tried; Taylor: no clean slope</system-out>
    </testcase>
    <testcase classname="pkg/model.py:g" name="torch-fwd">
      <skipped message="torch-fwd cannot run numpy code (it runs torch, array-api)" />
    </testcase>
  </testsuite>
</testsuites>"""


UNUSABLE_JUNIT = """\
<?xml version="1.0" encoding="utf-8"?>
<testsuites name="adcheck" tests="3" failures="1" errors="0" skipped="0">
  <testsuite name="adcheck" tests="3" failures="1" errors="0" skipped="0">
    <testcase classname="pkg/state.py:shared_cumprod" name="fd">
      <failure type="unusable" message="fd: the function's value changes between identical calls (two identical calls return different values: output 0 is 1, then 2 in a second call): finite differences of it verify nothing">fd: unusable: the function's value changes between identical calls (two identical calls return different values: output 0 is 1, then 2 in a second call): finite differences of it verify nothing

Likely causes:
  pkg/state.py:18:1: ADC601 two identical calls return different values: output 0 is 1, then 2 in a second call
  pkg/state.py:11:9: ADC101 `self.a` writes an attribute of module-level instance `ACC`, which outlives the call

the function's value changes between identical calls (state, randomness or a cache): its derivative is not defined, and no backend can be checked against it; the AD backends agree with each other.</failure>
    </testcase>
    <testcase classname="pkg/state.py:shared_cumprod" name="autograd">
      <system-out>autograd: inconclusive: no usable reference: the function's value changes between identical calls</system-out>
    </testcase>
    <testcase classname="pkg/state.py:shared_cumprod" name="jax-fwd">
      <system-out>jax-fwd: inconclusive: no usable reference: the function's value changes between identical calls</system-out>
    </testcase>
  </testsuite>
</testsuites>"""


NOTHING_CHECKED_JUNIT = """\
<?xml version="1.0" encoding="utf-8"?>
<testsuites name="adcheck" tests="3" failures="1" errors="0" skipped="2">
  <testsuite name="adcheck" tests="3" failures="1" errors="0" skipped="2">
    <testcase classname="pkg/model.py:h" name="autograd">
      <skipped message="autograd is not installed (pip install autograd)" />
    </testcase>
    <testcase classname="pkg/model.py:h" name="torch-fwd">
      <skipped message="torch-fwd cannot run numpy code (it runs torch, array-api)" />
    </testcase>
    <testcase classname="pkg/model.py:h" name="any backend">
      <failure type="nothing-checked" message="no AD backend could run the function">pkg/model.py:h: no AD backend could run the function, so nothing was checked (autograd: autograd is not installed (pip install autograd); torch-fwd: torch-fwd cannot run numpy code (it runs torch, array-api))</failure>
    </testcase>
  </testsuite>
</testsuites>"""


NAN_JUNIT = """\
<?xml version="1.0" encoding="utf-8"?>
<testsuites name="adcheck" tests="2" failures="1" errors="0" skipped="0">
  <testsuite name="adcheck" tests="2" failures="1" errors="0" skipped="0">
    <testcase classname="pkg/where.py:safe_sqrt" name="jax-fwd" />
    <testcase classname="pkg/where.py:safe_sqrt" name="jax-rev">
      <failure type="disagree" message="jax-rev: 2 of 4 entries outside tolerance (2 NaN/inf where finite differences are finite)">jax-rev disagrees with finite differences: 2 of 4 entries outside tolerance (2 NaN/inf where finite differences are finite)

entry                    jax-rev (actual)    reference (desired)    error bar    err/tol    jax-fwd
-----------------------  ------------------  ---------------------  -----------  ---------  ---------
d safe_sqrt[0] / d x[0]  nan                 0                      ±1.0e-12     inf        0
d safe_sqrt[1] / d x[0]  nan                 0                      ±1.0e-14     inf        0

Likely causes:
  pkg/where.py:6:1: ADC604 jax-rev: 2 of 4 Jacobian entries are NaN/inf (first: entry (0, 0) is NaN, fd 0) where finite differences are finite
  pkg/where.py:7:12: ADC302 `jnp.where` also differentiates the branch it masks out, and `jnp.sqrt(x)` is NaN there

jax-rev disagrees with finite differences and with jax-fwd, which agree.</failure>
    </testcase>
  </testsuite>
</testsuites>"""


SECOND_ORDER_JUNIT = """\
<?xml version="1.0" encoding="utf-8"?>
<testsuites name="adcheck" tests="4" failures="1" errors="1" skipped="0">
  <testsuite name="adcheck" tests="4" failures="1" errors="1" skipped="0">
    <testcase classname="pkg/rules.py:loss" name="jax-fwd" />
    <testcase classname="pkg/rules.py:loss" name="jax-rev" />
    <testcase classname="pkg/rules.py:loss" name="jax-fwd (second order)">
      <failure type="disagree" message="jax-fwd (second order): differs from FD of its own first derivative: 1 of 4 entries outside tolerance">jax-fwd second derivative differs from FD of its own first derivative: 1 of 4 entries outside tolerance

entry                    jax-fwd (actual)    FD of its derivative (desired)    fd error
-----------------------  ------------------  --------------------------------  ----------
d2 loss / d x[1] d x[1]  1                   0.25                              ±1.0e-11

Likely causes:
  pkg/rules.py:11:2: ADC501 `frozen_sin` has a user-defined derivative rule (jax.custom_jvp): jax-fwd, jax-rev use the rule instead of differentiating the code</failure>
    </testcase>
    <testcase classname="pkg/rules.py:loss" name="jax-rev (second order)">
      <error type="error" message="TypeError: can't apply forward-mode autodiff (jvp) to a custom_vjp function.">jax-rev second derivative: error
TypeError: can't apply forward-mode autodiff (jvp) to a custom_vjp function.</error>
    </testcase>
  </testsuite>
</testsuites>"""


@pytest.mark.parametrize("name", list(samples.ALL_REPORTS))
@pytest.mark.parametrize("timings", [True, False])
def test_every_sample_report_is_valid_junit(name, timings):
    text = junit.render([samples.ALL_REPORTS[name]()], timings=timings)
    assert_valid_junit(text)
    assert ("time=" in text) == timings


def test_junit_of_a_disagreement_an_error_and_a_backend_that_cannot_run_the_code():
    assert junit.render([samples.mixed_report()], timings=True) == MIXED_JUNIT


def test_junit_kinks_pass_and_say_why():
    assert junit.render([samples.kink_report()], timings=False) == KINK_JUNIT


def test_junit_inconclusive_backend_passes_with_its_unverified_entries_and_evidence():
    assert junit.render([samples.inconclusive_report()], timings=False) == INCONCLUSIVE_JUNIT


def test_junit_unusable_reference_is_a_failure_on_the_fd_row_with_adc601():
    text = junit.render([samples.unusable_report()], timings=False)
    assert text == UNUSABLE_JUNIT
    failure = cases_by_name(text)["fd"].find("failure")
    assert failure.get("type") == "unusable"
    assert "disagrees" not in failure.text  # fd does not disagree with itself


def test_junit_nothing_checked_is_a_failure_that_gives_each_reason():
    text = junit.render([samples.nothing_checked_report()], timings=False)
    assert text == NOTHING_CHECKED_JUNIT
    assert cases_by_name(text)["any backend"].find("failure").get("type") == "nothing-checked"


def test_junit_nan_disagreement_lists_the_nan_entries():
    assert junit.render([samples.nan_report()], timings=False) == NAN_JUNIT


def test_junit_second_derivatives_are_test_cases_of_their_own():
    text = junit.render([samples.second_order_report()], timings=False)
    assert text == SECOND_ORDER_JUNIT
    cases = cases_by_name(text)
    assert cases["jax-fwd (second order)"].find("failure").get("type") == "disagree"
    assert cases["jax-rev (second order)"].find("error") is not None


def test_junit_second_derivatives_do_not_count_the_backend_s_seconds_twice():
    suite = assert_valid_junit(junit.render([samples.second_order_report()], timings=True))
    assert [(c.get("name"), c.get("time")) for c in suite] == [
        ("jax-fwd", "1.500"), ("jax-rev", "1.500"), ("jax-fwd (second order)", None), ("jax-rev (second order)", None)]
    assert suite.get("time") == "3.000"


def test_junit_cases_of_several_reports_share_one_suite():
    suite = assert_valid_junit(junit.render([samples.passing_report(), samples.mixed_report()], timings=False))
    assert [(c.get("classname"), c.get("name")) for c in suite] == [
        ("pkg/model.py:square", "autograd"), ("pkg/model.py:f", "autograd"), ("pkg/model.py:f", "jax-fwd"),
        ("pkg/model.py:f", "jax-rev"), ("pkg/model.py:f", "torch-fwd")]


# --- end to end ---------------------------------------------------------------------------------------


def test_check_junit_of_the_sample_project():
    result = samples.check_sample("junit")
    assert result.exit_code == ExitCode.FAILED, result.stderr
    suite = assert_valid_junit(result.stdout)
    good, bad = list(suite)
    assert (good.get("classname"), good.get("name"), list(good)) == ("funcs.py:good", "autograd", [])
    assert (bad.get("classname"), bad.get("name")) == ("funcs.py:bad", "autograd")
    failure = bad.find("failure")
    assert failure.get("type") == "disagree"
    assert re.search(r"\nentry +autograd \(actual\) +reference \(desired\) ", failure.text)
    assert "\nLikely causes:\n  funcs.py:" in failure.text and " ADC501 " in failure.text
    assert float(good.get("time")) > 0 and float(bad.get("time")) > 0


def test_check_junit_without_timings_has_no_time():
    result = samples.check_sample("junit", "--no-timings")
    assert result.exit_code == ExitCode.FAILED, result.stderr
    assert_valid_junit(result.stdout)
    assert "time=" not in result.stdout


def test_run_junit_of_a_function_that_keeps_state():
    result = samples.run_stateful("junit", "--no-timings")
    assert result.exit_code == ExitCode.FAILED, result.stderr
    cases = cases_by_name(result.stdout)
    failure = cases["fd"].find("failure")
    assert failure.get("type") == "unusable"
    assert " ADC601 " in failure.text


def test_run_junit_when_no_ad_backend_can_run_the_function():
    result = samples.run_nothing_checked("junit", "--no-timings")
    assert result.exit_code == ExitCode.USAGE, result.stderr
    cases = cases_by_name(result.stdout)
    assert list(cases) == ["autograd", "any backend"]
    assert cases["autograd"].find("skipped") is not None
    assert "autograd: autograd cannot run torch code" in cases["any backend"].find("failure").text


def test_junit_failures_follow_the_failure_policy():
    # What is a <failure> matches what fails the run: an inconclusive backend under
    # --fail-on inconclusive, and not a disagreement under --fail-on error.
    def failing(report, fail_on):
        root = ET.fromstring(junit.render([report], timings=False, fail_on=fail_on).split("\n", 1)[1])
        return sorted(case.get("name") for case in root.iter("testcase") if case.find("failure") is not None)

    assert failing(samples.inconclusive_report(), "disagree") == []
    assert failing(samples.inconclusive_report(), "inconclusive") == ["autograd"]
    assert failing(samples.mixed_report(), "disagree") == ["autograd"]
    assert failing(samples.mixed_report(), "error") == []
    out = ET.fromstring(junit.render([samples.mixed_report()], timings=False, fail_on="error").split("\n", 1)[1])
    reported = [c.find("system-out").text for c in out.iter("testcase") if c.get("name") == "autograd"]
    assert "reported, not failing: --fail-on error" in reported[0]
