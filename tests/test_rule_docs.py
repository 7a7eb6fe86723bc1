"""docs/rules.md is generated from RULES and must be up to date."""

from pathlib import Path

from adcheck.explain.rule_docs import render_rules_markdown
from adcheck.explain.rules import RULES

DOCS = Path(__file__).resolve().parents[1] / "docs" / "rules.md"


def test_rules_md_is_up_to_date():
    assert DOCS.read_text(encoding="utf-8") == render_rules_markdown(), (
        "docs/rules.md is stale: run `python -m adcheck.explain.rule_docs > docs/rules.md`")


def test_every_rule_has_the_four_sections():
    text = render_rules_markdown()
    for code in RULES:
        section = text.split(f"## {code}\n", 1)[1].split("\n## ", 1)[0]
        for heading in ("### What it does", "### Why is this bad?", "### Example", "### Use instead"):
            assert heading in section, (code, heading)
