"""The scale targets: a 10^6-input loss in fast mode and a 2000x2000 Jacobian in full mode.

Each run is ``adcheck run ... --format json`` in a fresh process; a sampler adds up the resident
memory of that process and all its workers every 50 ms and keeps the peak, which is what the
machine must have (the per-process maxima would understate it).

    python benchmarks/scale.py
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from tabulate import tabulate

HERE = Path(__file__).resolve().parent
ADCHECK = str(Path(sys.executable).with_name("adcheck"))
SECONDS_TARGET = 60.0
MEMORY_TARGET_GB = 4.0

RUNS = [
    # (label, target, random shape, extra options, what must hold)
    ("10^6-input loss, fast mode", "scale_workloads.py:big_loss", "1000000", [], "pass"),
    ("10^6-input loss, one wrong entry", "scale_workloads.py:big_loss_one_wrong_entry", "1000000", [],
     "autograd localised to entry 654321"),
    ("2000x2000 Jacobian, full mode", "scale_workloads.py:dense_layer", "2000", ["--mode", "full"], "pass"),
]


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and every descendant (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += rss.get(current, 0)
        stack.extend(children.get(current, []))
    return total


def measure(target: str, shape: str, options: list[str]) -> tuple[float, float, dict]:
    command = [ADCHECK, "run", str(HERE / target), "--random", shape, "--format", "json", *options]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                               text=True)
    peak = 0
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(process.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = process.communicate()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    if not out.strip():
        raise SystemExit(f"adcheck printed no report (exit {process.returncode}): {err.strip()[-2000:]}")
    return seconds, peak / 2**30, json.loads(out)


def outcome(report: dict) -> str:
    failing = [b for b in report["backends"] if b["status"] in ("disagree", "error")]
    if not failing:
        return "pass"
    parts = []
    for backend in failing:
        entries = [m["entry"][1] for m in backend["mismatches"]]
        parts.append(f"{backend['name']} " + (f"localised to entry {', '.join(map(str, entries))}" if entries
                                              else backend["status"]))
    return "; ".join(parts)


def main() -> int:
    print(f"date {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}; "
          f"{os.cpu_count()} CPUs; load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    rows, ok = [], True
    for label, target, shape, options, expected in RUNS:
        seconds, peak_gb, report = measure(target, shape, options)
        got = outcome(report)
        met = seconds <= SECONDS_TARGET and peak_gb <= MEMORY_TARGET_GB and got == expected
        ok &= met
        rows.append([label, f"{seconds:.1f}", f"{peak_gb:.2f}", got, "met" if met else "NOT met"])
    print(tabulate(rows, headers=["run", "wall s", "peak GB (all processes)", "outcome", f"<= {SECONDS_TARGET:g} s, "
                                  f"<= {MEMORY_TARGET_GB:g} GB, expected outcome"], tablefmt="github"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
