"""docs/rules.md is generated from the catalog and must be up to date."""

from pathlib import Path

from adcheck.lint import RULES
from adcheck.lint.docs import render_rules_markdown, severity_text

DOCS = Path(__file__).resolve().parents[1] / "docs" / "rules.md"


def test_rules_md_is_up_to_date():
    assert DOCS.read_text(encoding="utf-8") == render_rules_markdown(), (
        "docs/rules.md is stale: run `python -m adcheck.lint.docs > docs/rules.md`")


def test_every_rule_has_the_four_sections():
    text = render_rules_markdown()
    for code in RULES:
        section = text.split(f"## {code}\n", 1)[1].split("\n## ", 1)[0]
        for heading in ("### What it does", "### Why is this bad?", "### Example", "### Use instead"):
            assert heading in section, (code, heading)


def test_every_code_has_a_table_row_and_a_section_including_the_runtime_codes():
    text = render_rules_markdown()
    for code in RULES:
        assert f"| [{code}](#{code.lower()}) | {RULES[code].name} | {severity_text(RULES[code])} |" in text
        assert text.count(f"\n## {code}\n") == 1
    for code in ("ADC502", "ADC601", "ADC604", "ADC606", "ADC607"):
        assert f"\n## {code}\n" in text


def test_a_rule_a_run_ranks_higher_says_both_severities():
    assert "| jit-reads-mutable-global | warning; error when a run proves it |" in render_rules_markdown()
