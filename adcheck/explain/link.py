"""Link findings to the disagreements they may explain (filled in by the explain issue)."""


def explain(target, runs, comparison, findings):
    return tuple(findings)
