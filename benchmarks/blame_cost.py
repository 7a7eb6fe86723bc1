"""What the per-primitive check (blame) adds to a disagreeing run.

Each workload is a composite of 50+ primitives with one wrong rule planted in the middle
(``fixtures/blame/*_planted.py:sign_error``), so its AD backends disagree and blame runs for each
of them. Every repetition runs ``adcheck run TARGET --format json`` twice in fresh processes, once
as it is and once with ``--no-blame``, in alternating order, and the ratio is taken within the
repetition (a load spike affects both sides). Printed: medians of both wall times, of the seconds
blame adds, and of the ratio, per workload; and whether each blame run named the planted rule.

    python benchmarks/blame_cost.py                 # every framework, 3 repetitions
    python benchmarks/blame_cost.py --repeat 5 --workload jax
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tabulate import tabulate

REPO = Path(__file__).resolve().parents[1]
ADCHECK = str(Path(sys.executable).with_name("adcheck"))
INPUT = "[-1.0, -0.6, -0.2, 0.2, 0.6, 1.0]"
WORKLOADS = {
    # name: (target, the line of the planted rule's call)
    "jax": ("fixtures/blame/jax_planted.py:sign_error", 54),
    "autograd": ("fixtures/blame/autograd_planted.py:sign_error", 48),
    "torch": ("fixtures/blame/torch_planted.py:sign_error", 56),
}


def run_once(target: str, blame: bool, timeout: float) -> tuple[float, dict]:
    command = [ADCHECK, "run", str(REPO / target), "--input", INPUT, "--format", "json"]
    if not blame:
        command.append("--no-blame")
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO,
                               check=False)
    seconds = time.perf_counter() - start
    try:
        report = json.loads(completed.stdout)
    except json.JSONDecodeError:
        report = {}
    return seconds, report


def blamed_lines(report: dict) -> list[int]:
    return sorted({f["line"] for f in report.get("findings", []) if f["code"] in ("ADC501", "ADC502", "ADC604")
                   and "is wrong at the inputs" in f["message"]})


def disagreeing(report: dict) -> list[str]:
    return [b["name"] for b in report.get("backends", []) if b["status"] == "disagree"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workload", choices=sorted(WORKLOADS), action="append")
    parser.add_argument("--timeout", type=float, default=600.0)
    options = parser.parse_args(argv)
    names = options.workload or list(WORKLOADS)

    print(f"{datetime.datetime.now().isoformat(timespec='seconds')}  {platform.platform()}  "
          f"{os.cpu_count()} CPUs  Python {platform.python_version()}  load {os.getloadavg()[0]:.2f}")
    rows = []
    for name in names:
        target, planted_line = WORKLOADS[name]
        with_blame, without, added, ratios, found, backends = [], [], [], [], set(), set()
        for repetition in range(options.repeat):
            order = (True, False) if repetition % 2 == 0 else (False, True)
            times = {}
            for blame in order:
                seconds, report = run_once(target, blame, options.timeout)
                times[blame] = seconds
                if blame:
                    found.update(blamed_lines(report))
                    backends.update(disagreeing(report))
            with_blame.append(times[True])
            without.append(times[False])
            added.append(times[True] - times[False])
            ratios.append(times[True] / times[False])
        rows.append([name, target, ", ".join(sorted(backends)), f"{statistics.median(without):.2f}",
                     f"{statistics.median(with_blame):.2f}", f"{statistics.median(added):+.2f}",
                     f"{statistics.median(ratios):.2f}",
                     "yes" if found == {planted_line} else f"no ({sorted(found)})"])
    print(tabulate(rows, headers=["framework", "workload (50+ primitives)", "blamed backends", "--no-blame s",
                                  "with blame s", "added s", "ratio", "named the planted rule only"]))
    print(f"medians of {options.repeat} repetitions; each run a fresh `adcheck run ... --format json`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
