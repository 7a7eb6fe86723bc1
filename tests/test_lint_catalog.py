"""The rule catalog: every ADC code adcheck emits, one severity each."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from adcheck.lint import RULES, Rule, Severity, Stage, make_finding
from adcheck.model import Finding

PACKAGE = Path(__file__).resolve().parents[1] / "adcheck"
_CODE = re.compile(r"""["'](ADC\d{3})["']""")
# A code next to a severity typed inline: Finding("ADC601", "error", ...), site.finding("ADC602", "error", ...).
_INLINE_SEVERITY = re.compile(r"""["'](ADC\d{3})["'],\s*["'](error|warning|info)["']""")


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_code_emitted_anywhere_in_adcheck_is_in_the_catalog():
    emitted = {code: path for path in sources() for code in _CODE.findall(path.read_text(encoding="utf-8"))}
    assert emitted, "the scan found no codes at all"
    missing = {code: str(path.relative_to(PACKAGE)) for code, path in emitted.items() if code not in RULES}
    assert missing == {}


def test_the_runtime_and_new_codes_are_in_the_catalog():
    for code in ("ADC502", "ADC601", "ADC602", "ADC603", "ADC604", "ADC605", "ADC606", "ADC607"):
        assert code in RULES and RULES[code].found_by == (Stage.RUN,), code
    assert RULES["ADC403"].found_by == (Stage.LINT, Stage.RUN)
    assert RULES["ADC502"].severity == RULES["ADC607"].severity == Severity.ERROR


def test_severities_typed_inline_anywhere_agree_with_the_catalog():
    # One severity per code: a caller that still types one (the probes do) must type the catalog's.
    seen: dict[str, set[str]] = {code: {rule.severity.value} for code, rule in RULES.items()}
    for path in sources():
        for code, severity in _INLINE_SEVERITY.findall(path.read_text(encoding="utf-8")):
            seen.setdefault(code, set()).add(severity)
    assert {code: severities for code, severities in seen.items() if len(severities) > 1} == {}


def test_rules_are_ordered_frozen_and_documented():
    assert list(RULES) == sorted(RULES)
    with pytest.raises(TypeError):
        RULES["ADC999"] = RULES["ADC101"]
    for code, rule in RULES.items():
        assert isinstance(rule, Rule) and rule.code == code
        assert re.fullmatch(r"ADC[1-6]\d{2}", code)
        assert isinstance(rule.severity, Severity)
        assert rule.found_by and all(isinstance(stage, Stage) for stage in rule.found_by)
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name), rule.name
        for text in (rule.summary, rule.what_it_does, rule.why_bad, rule.example, rule.use_instead):
            assert text.strip()
        ast.parse(rule.example)
        ast.parse(rule.use_instead)
        with pytest.raises(dataclasses.FrozenInstanceError):
            rule.severity = Severity.INFO
    assert len({rule.name for rule in RULES.values()}) == len(RULES)


def test_severities_of_the_rules_people_rely_on():
    assert RULES["ADC301"].severity == "info"
    assert RULES["ADC501"].severity == "info"  # the static notice; a rule measured wrong is an error
    assert {RULES[c].severity for c in ("ADC101", "ADC102", "ADC103", "ADC302")} == {"error"}
    assert {RULES[c].severity for c in ("ADC601", "ADC602", "ADC603", "ADC604")} == {"error"}
    assert {RULES[c].severity for c in ("ADC605", "ADC606")} == {"info"}


def test_stale_jit_is_a_warning_as_a_pattern_and_an_error_once_a_run_measures_it():
    assert RULES["ADC403"].severity == "warning"
    assert make_finding("ADC403", "m.py", 3, 5, "reads SCALE").severity == "warning"
    assert make_finding("ADC403", "m.py", 3, 5, "jitted value differs", proven=True).severity == "error"
    assert {code for code, rule in RULES.items() if rule.severity_of(proven=True) != rule.severity} == {"ADC403", "ADC501"}


def test_make_finding_takes_the_severity_from_the_catalog():
    finding = make_finding("ADC403", "m.py", 3, 5, "stale global", explains=("jax-rev",), executed=True)
    assert finding == Finding("ADC403", "warning", "m.py", 3, 5, "stale global", explains=("jax-rev",), executed=True)
    assert type(finding.severity) is str
    for code, rule in RULES.items():
        assert make_finding(code, "m.py", 1, 1, "x").severity == rule.severity.value


def test_make_finding_refuses_a_code_the_catalog_does_not_have():
    with pytest.raises(ValueError, match="ADC999"):
        make_finding("ADC999", "m.py", 1, 1, "x")
    with pytest.raises(TypeError):
        make_finding("ADC101", "m.py", 1, 1, "x", severity="info")  # the catalog decides
