"""The GPU checks of --device and --contexts, in one short command for a machine with an NVIDIA GPU.

    timeout 600 python benchmarks/gpu_checks.py            # everything, within a 540 s budget
    timeout 300 python benchmarks/gpu_checks.py --quick    # the README example and the contexts only

What it runs, each as ``adcheck ... --format json`` in a fresh process, while a sampler reads
``nvidia-smi`` every 0.2 s:

1. the README's example with ``--device gpu``: both JAX workers must start, each on the GPU (their
   rows agree: a JAX worker that cannot reach the GPU is an error row), without preallocating
   75% of it each (the per-process memory nvidia-smi reports stays under half the GPU);
2. a torch function with ``--device gpu`` (the torch rows on CUDA);
3. ``--contexts eager,gpu`` on a few correct functions of fixtures/contexts.py: the GPU derivative
   must agree with the CPU one (no ADC607, no context left uncomputed);
4. the 10^6-input fast-mode workload of benchmarks/scale.py on the CPU and with ``--device gpu``:
   wall seconds, peak resident memory of all processes, peak GPU memory, and the outcome;
5. (unless --quick) the GPU tests of tests/test_contexts.py.

It prints one table and exits 0 when every check is met. Steps that the budget leaves no time
for are listed as skipped, never dropped silently.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ADCHECK = str(Path(sys.executable).with_name("adcheck"))
sys.path.insert(0, str(HERE))

from scale import tree_rss  # the same memory sampler as the scale targets

CONTEXT_FIXTURES = ("dense_tanh", "matrix_inverse", "scan_running")
CONTEXT_INPUT = "[0.3, -1.2, 0.7, 2.1]"
TORCH_TARGET = "fixtures/torch_funcs.py:sin_times_sum"
SCALE_TARGET = "benchmarks/scale_workloads.py:big_loss"
MEMORY_SHARE_LIMIT = 0.5  # each JAX worker must stay under half the GPU (adcheck lets it grow to 45%)


def descendants(pid: int) -> set[int]:
    """``pid`` and every process below it (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parent = int(handle.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    found, stack = set(), [pid]
    while stack:
        current = stack.pop()
        found.add(current)
        stack.extend(children.get(current, []))
    return found


def gpu_state() -> tuple[dict[int, int], int, int]:
    """({pid: MiB} of the processes on the GPU, MiB used, MiB total) from nvidia-smi."""
    apps = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                          capture_output=True, text=True, timeout=10, check=False).stdout
    processes = {}
    for line in apps.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            processes[int(parts[0])] = int(parts[1])
    memory = subprocess.run(["nvidia-smi", "--query-gpu=memory.used,memory.total", "--format=csv,noheader,nounits"],
                            capture_output=True, text=True, timeout=10, check=False).stdout.splitlines()
    used, total = (int(v) for v in memory[0].split(","))  # the first GPU: where adcheck's workers go
    return processes, used, total


class Sampled:
    """One adcheck run with its peaks: host memory of all its processes, GPU memory, GPU processes."""

    def __init__(self, command: list[str], timeout: float):
        self.command = command
        self.seconds = 0.0
        self.peak_rss_gb = 0.0
        self.peak_gpu_mib = 0
        self.baseline_gpu_mib = gpu_state()[1]
        self.total_gpu_mib = gpu_state()[2]
        self.gpu_processes: dict[int, int] = {}  # adcheck's processes seen on the GPU: pid -> peak MiB
        self.foreign_gpu_processes = 0  # processes nvidia-smi lists that are not ours (or another PID namespace)
        self.report: dict | None = None
        self.exit_code: int | None = None
        self.stderr = ""
        self._run(timeout)

    def _run(self, timeout: float) -> None:
        start = time.perf_counter()
        process = subprocess.Popen(self.command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   stdin=subprocess.DEVNULL, text=True)
        done = threading.Event()
        foreign: set[int] = set()

        def sample():
            while not done.is_set():
                self.peak_rss_gb = max(self.peak_rss_gb, tree_rss(process.pid) / 2**30)
                try:
                    processes, used, _ = gpu_state()
                except (OSError, subprocess.SubprocessError, ValueError, IndexError):
                    processes, used = {}, 0
                self.peak_gpu_mib = max(self.peak_gpu_mib, used - self.baseline_gpu_mib)
                ours = descendants(process.pid)
                for pid, mib in processes.items():
                    if pid in ours:
                        self.gpu_processes[pid] = max(self.gpu_processes.get(pid, 0), mib)
                    else:
                        foreign.add(pid)
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            out, self.stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            out, self.stderr = process.communicate()
            self.stderr = f"timed out after {timeout:.0f} s; {self.stderr}"
        self.seconds = time.perf_counter() - start
        done.set()
        sampler.join()
        self.exit_code = process.returncode
        self.foreign_gpu_processes = len(foreign)
        try:
            self.report = json.loads(out)
        except json.JSONDecodeError:
            self.report = None

    def statuses(self) -> dict[str, str]:
        if self.report is None:
            return {}
        return {b["name"]: b["status"] for b in self.report["backends"] if b["status"] != "not-applicable"}

    def messages(self) -> dict[str, str]:
        if self.report is None:
            return {}
        return {b["name"]: b["message"] for b in self.report["backends"] if b["message"]}

    def problem(self) -> str:
        """Why the run itself failed (no report), or ""."""
        if self.report is None:
            return f"no report (exit {self.exit_code}): {self.stderr.strip()[-600:]}"
        return ""


def adcheck(*arguments: str) -> list[str]:
    return [ADCHECK, "run", *arguments, "--format", "json", "--no-timings"]


class Checks:
    def __init__(self, budget: float):
        self.deadline = time.monotonic() + budget
        self.rows: list[list[str]] = []
        self.ok = True

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def record(self, name: str, met: bool, found: str) -> None:
        self.ok &= met
        self.rows.append([name, "met" if met else "NOT met", found])

    def skip(self, name: str, why: str) -> None:
        self.ok = False
        self.rows.append([name, "skipped", why])

    def has_time(self, name: str, needed: float) -> bool:
        if self.left() < needed:
            self.skip(name, f"the budget left {max(0.0, self.left()):.0f} s, the step needs about {needed:.0f} s")
            return False
        return True


def readme_example(checks: Checks) -> None:
    name = "README example, --device gpu"
    if not checks.has_time(name, 60):
        return
    run = Sampled(adcheck("fixtures/cumprod.py:ac_cumprod", "--input", "[1,2,3]", "--device", "gpu"),
                  min(180, checks.left()))
    if run.problem():
        checks.record(name, False, run.problem())
        return
    statuses = run.statuses()
    jax_ok = statuses.get("jax-fwd") == "agree" and statuses.get("jax-rev") == "agree"
    shares = {pid: mib / run.total_gpu_mib for pid, mib in run.gpu_processes.items()}
    on_gpu = len(run.gpu_processes)
    small = all(share < MEMORY_SHARE_LIMIT for share in shares.values())
    found = (f"exit {run.exit_code}; rows {statuses}; {on_gpu} adcheck process(es) on the GPU "
             f"(peak MiB {sorted(run.gpu_processes.values())}, {run.foreign_gpu_processes} other pid(s) listed); "
             f"GPU memory +{run.peak_gpu_mib} MiB of {run.total_gpu_mib} MiB; {run.seconds:.1f} s")
    if on_gpu < 2:
        found += ("; fewer than 2 of our pids on the GPU: nvidia-smi may list another PID namespace (a container), "
                  "the agreeing jax rows are the confirmation then")
    checks.record(name, run.exit_code == 0 and jax_ok and small, found)
    notes = run.messages()
    if notes:
        checks.rows.append(["  messages", "", json.dumps(notes)[:600]])


def torch_on_gpu(checks: Checks) -> None:
    name = "torch rows, --device gpu"
    if not checks.has_time(name, 60):
        return
    run = Sampled(adcheck(TORCH_TARGET, "--input", "[1,2,3]", "--device", "gpu"), min(180, checks.left()))
    if run.problem():
        checks.record(name, False, run.problem())
        return
    statuses = run.statuses()
    met = run.exit_code == 0 and statuses.get("torch-fwd") == "agree" and statuses.get("torch-rev") == "agree"
    checks.record(name, met, f"exit {run.exit_code}; rows {statuses}; {run.messages() or ''}; "
                             f"GPU memory +{run.peak_gpu_mib} MiB; {run.seconds:.1f} s")


def gpu_contexts(checks: Checks) -> None:
    for func in CONTEXT_FIXTURES:
        name = f"--contexts eager,gpu: {func}"
        if not checks.has_time(name, 45):
            continue
        run = Sampled(adcheck(f"fixtures/contexts.py:{func}", "--input", CONTEXT_INPUT, "--contexts", "eager,gpu"),
                      min(180, checks.left()))
        if run.problem():
            checks.record(name, False, run.problem())
            continue
        findings = [f["message"] for f in run.report["findings"] if f["code"] == "ADC607"]
        notes = [n for n in run.report["notes"] if n.startswith("--contexts")]
        met = run.exit_code == 0 and not findings and not notes
        checks.record(name, met, f"exit {run.exit_code}; rows {run.statuses()}; ADC607 {findings or 'none'}; "
                                 f"context notes {notes or 'none'}; {run.seconds:.1f} s")


def scale_workload(checks: Checks) -> None:
    figures = {}
    for device in ("cpu", "gpu"):
        name = f"10^6-input fast mode, --device {device}"
        if not checks.has_time(name, 90):
            continue
        run = Sampled(adcheck(SCALE_TARGET, "--random", "1000000", "--device", device), min(400, checks.left()))
        if run.problem():
            checks.record(name, False, run.problem())
            continue
        statuses = run.statuses()
        figures[device] = run.seconds
        checks.record(name, run.exit_code == 0, f"exit {run.exit_code}; {run.seconds:.1f} s wall; peak RSS "
                                                f"{run.peak_rss_gb:.2f} GB (all processes); GPU memory "
                                                f"+{run.peak_gpu_mib} MiB; rows {statuses}")
    if len(figures) == 2:
        checks.rows.append(["  GPU / CPU wall time", "", f"{figures['gpu'] / figures['cpu']:.2f}"])


def gpu_tests(checks: Checks) -> None:
    name = "pytest tests/test_contexts.py -k gpu"
    if not checks.has_time(name, 120):
        return
    command = [sys.executable, "-m", "pytest", "tests/test_contexts.py", "-q", "-p", "no:cacheprovider", "-k", "gpu",
               "-rs"]
    try:
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=max(30.0, checks.left() - 5),
                              check=False)
        tail = " | ".join(done.stdout.strip().splitlines()[-4:])
        checks.record(name, done.returncode == 0, tail)
    except subprocess.TimeoutExpired:
        checks.record(name, False, "timed out")


def environment() -> str:
    probe = ("import json, jax, torch; print(json.dumps({'jax': jax.__version__, 'jax devices': "
             "[str(d) for d in jax.devices()], 'torch': torch.__version__, 'torch cuda': torch.cuda.is_available(), "
             "'torch device': torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}))")
    try:
        found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                               check=False)
        return found.stdout.strip() or found.stderr.strip()[-400:]
    except subprocess.TimeoutExpired:
        return "the framework probe timed out"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=540.0, help="seconds for everything (default 540)")
    parser.add_argument("--quick", action="store_true", help="the README example and the contexts only")
    options = parser.parse_args()
    if shutil.which("nvidia-smi") is None:
        print("gpu_checks: nvidia-smi is not on PATH: this machine has no NVIDIA GPU (nothing to check)")
        return 2
    listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30,
                             check=False).stdout.strip()
    print(f"date {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}; {platform.node()}; "
          f"{os.cpu_count()} CPUs; python {platform.python_version()}")
    print(f"nvidia-smi -L: {listing}")
    print(f"frameworks: {environment()}")
    checks = Checks(options.budget)
    readme_example(checks)
    gpu_contexts(checks)
    if not options.quick:
        torch_on_gpu(checks)
        scale_workload(checks)
        gpu_tests(checks)
    width = max(len(row[0]) for row in checks.rows) if checks.rows else 10
    print()
    for name, verdict, found in checks.rows:
        print(f"{name.ljust(width)}  {verdict:8}  {found}")
    print()
    print("ALL MET" if checks.ok else "SOME CHECKS NOT MET (see above)")
    return 0 if checks.ok else 1


if __name__ == "__main__":
    sys.exit(main())
