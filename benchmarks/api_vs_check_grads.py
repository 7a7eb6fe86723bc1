"""One pytest file of 20 derivative checks: ``assert_derivatives`` against ``check_grads``.

Each variant is a fresh ``python -m pytest benchmarks/api_checks.py`` process (imports,
collection and the checks: what a user's test run pays), the variants interleaved in each round
so that a busy machine slows them alike; the medians of ``--repeat`` rounds (3) and their
ratios to ``check_grads`` are printed:

    python benchmarks/api_vs_check_grads.py [--repeat 3]

Variants: ``check_grads`` (jax.test_util), ``adcheck`` with the default isolation ("process":
warm worker processes), and ``adcheck`` with isolation "none" (in this process).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

FILE = Path(__file__).with_name("api_checks.py")
VARIANTS = {
    "check_grads": {"ADCHECK_BENCH_TOOL": "check_grads"},
    "adcheck (isolation=process, the default)": {"ADCHECK_BENCH_TOOL": "adcheck", "ADCHECK_BENCH_ISOLATION": "process"},
    "adcheck (isolation=none)": {"ADCHECK_BENCH_TOOL": "adcheck", "ADCHECK_BENCH_ISOLATION": "none"},
}


def run_once(environment: dict) -> float:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
                             str(FILE)], env={**os.environ, **environment}, capture_output=True, text=True,
                            check=False, timeout=1800)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{environment}: pytest failed\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for round_ in range(options.repeat):
        for name, environment in VARIANTS.items():
            times[name].append(run_once(environment))
            print(f"round {round_ + 1}: {name}: {times[name][-1]:.2f} s", file=sys.stderr)
    base = statistics.median(times["check_grads"])
    print(f"{'variant':<42} {'median s':>9} {'ratio':>6}   (20 checks, one pytest process, {options.repeat} rounds)")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<42} {median:>9.2f} {median / base:>6.2f}")


if __name__ == "__main__":
    main()
