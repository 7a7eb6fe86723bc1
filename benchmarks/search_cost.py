"""What ``--search 200`` costs next to one ordinary run of the same function (target: at most 3x).

Each measurement is a fresh ``adcheck run`` process, as a user runs it: the ordinary run at the
given input, and the same run with ``--search 200`` (the run at the given input, then 200 searched
inputs, each screened, in the same warm workers). The two are interleaved, ``--repeat`` times, and
the medians compared. The searches use no example database (``ADCHECK_SEARCH_DATABASE=``), so each
repetition searches the same 200 inputs from the seed.

    python benchmarks/search_cost.py --repeat 3
    python benchmarks/search_cost.py --repeat 3 --search 100 --workload mlp
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from search_workloads import parameters_json  # noqa: E402

WORKLOADS = {
    "cumprod": ("fixtures/cumprod.py:ac_cumprod", ["--input", "[1, 2, 3]"]),
    "mlp_loss (50 parameters)": ("benchmarks/search_workloads.py:mlp_loss", ["--input", parameters_json()]),
}
TARGET_RATIO = 3.0


def timed(command: list[str], env: dict) -> tuple[float, int, str]:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    return time.perf_counter() - started, done.returncode, done.stdout


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--search", type=int, default=200)
    parser.add_argument("--workload", action="append", default=[], metavar="TEXT",
                        help="only the workloads whose name contains TEXT (repeatable)")
    args = parser.parse_args(argv)
    adcheck = [str(Path(sys.executable).with_name("adcheck"))]
    env = dict(os.environ, NO_COLOR="1", ADCHECK_SEARCH_DATABASE="")
    print(f"{os.cpu_count()} CPUs; load average at start {' '.join(f'{v:.2f}' for v in os.getloadavg())}; "
          f"{args.repeat} repetitions, --search {args.search}")
    print("| workload | ordinary run s (median) | with --search s (median) | ratio | target <= 3 | inputs searched |")
    print("|---|---|---|---|---|---|")
    for name, (target, inputs) in WORKLOADS.items():
        if args.workload and not any(text in name for text in args.workload):
            continue
        plain, searched, tried = [], [], ""
        for _ in range(args.repeat):
            seconds, code, _ = timed([*adcheck, "run", target, *inputs, "--no-timings"], env)
            assert code == 0, (name, code)
            plain.append(seconds)
            seconds, code, out = timed([*adcheck, "run", target, *inputs, "--no-timings", "--format", "json",
                                        "--search", str(args.search)], env)
            assert code in (0, 1), (name, code)
            searched.append(seconds)
            search = json.loads(out)["search"]
            failure = search["failure"]
            # The functions are correct: a failure is a false alarm (and its shrinking costs more).
            tried = f"{search['tried']}" + (f"; FALSE ALARM at {failure['input_line'][:60]}..." if failure else "")
        ratio = statistics.median(searched) / statistics.median(plain)
        print(f"| {name} | {statistics.median(plain):.2f} | {statistics.median(searched):.2f} | {ratio:.2f} | "
              f"{'met' if ratio <= TARGET_RATIO else 'NOT met'} | {tried} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
