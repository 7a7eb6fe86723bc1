"""Runtime probes (filled in by the explain issue)."""


def run_probes(task, value):
    return []
