"""adcheck against its peers, end to end, on the same functions and inputs in one run.

Every measurement is a fresh process, imports included — that is what a user pays:

- adcheck: ``adcheck run benchmarks/workloads.py:NAME --random N --format json`` (every default
  backend, the full Jacobian, the report), and on the torch builds
  ``adcheck run benchmarks/workloads_torch.py:NAME`` (torch-fwd and torch-rev against the reference);
- ``jax.test_util.check_grads(f, (x,), order=1, modes=("fwd", "rev"))`` on the jax.numpy build;
- ``autograd.test_util.check_grads(f)(x)`` on the autograd.numpy build, with its defaults
  (modes fwd and rev, order 2);
- ``torch.autograd.gradcheck(f, (x,))`` in float64 on the torch build (when torch is installed).

Every tool gets the same input: the array ``--random N --seed 0`` gives adcheck, saved to .npy.
Repetitions interleave the tools (and rotate their order), so a load spike on a busy machine hits
all of them; ratios are taken within each repetition and the median is reported.

    python benchmarks/bench.py              # every workload, 5 repetitions
    python benchmarks/bench.py --quick      # one repetition of the smallest workloads
    python benchmarks/bench.py --workload loop_cumprod_100 --repeat 3 --json results.json
    python benchmarks/bench.py --torch-only --repeat 3   # the torch builds against gradcheck only
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tabulate import tabulate

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from workloads import INPUT_SIZES, QUICK  # noqa: E402

# Kill a measurement that runs longer than this (adcheck's own per-backend --timeout is 120 s).
DEFAULT_TIMEOUT = 900.0
PACKAGES = ("adcheck", "numpy", "scipy", "autograd", "jax", "jaxlib", "torch", "tabulate")
# The targets: on the seed workload (the Python-loop cumulative product at n = 100) adcheck takes
# at most a fifth of JAX's and autograd's check_grads together; on every workload at most half of
# JAX's check_grads, and on the torch builds at most half of torch's gradcheck.
TARGET_WORKLOAD = "loop_cumprod_100"
TARGET_RATIO_OF_SUM = 0.2
TARGET_RATIO_TO_JAX = 0.5
TARGET_RATIO_TO_TORCH = 0.5
TARGET_CLI_SECONDS = 0.3

_PEER_PRELUDE = "import sys, numpy; sys.path.insert(0, {here!r}); from workloads import make, make_torch; "
PEER_CODE = {
    "jax check_grads": (
        "import jax; jax.config.update('jax_enable_x64', True); import jax.numpy as jnp; "
        "from jax.test_util import check_grads; "
        "f = make(jnp)[{name!r}]; x = jnp.asarray(numpy.load({path!r})); "
        "check_grads(f, (x,), order=1, modes=('fwd', 'rev'))"
    ),
    "autograd check_grads": (
        "import autograd.numpy as anp; from autograd.test_util import check_grads; "
        "f = make(anp)[{name!r}]; x = numpy.load({path!r}); "
        "check_grads(f)(x)"
    ),
    "torch gradcheck": (
        "import torch; from torch.autograd import gradcheck; "
        "f = make_torch(torch)[{name!r}]; x = torch.from_numpy(numpy.load({path!r})).requires_grad_(); "
        "assert gradcheck(f, (x,))"
    ),
    # gradcheck checks reverse mode only by default; adcheck's torch build checks both modes.
    "torch gradcheck, forward AD too": (
        "import torch; from torch.autograd import gradcheck; "
        "f = make_torch(torch)[{name!r}]; x = torch.from_numpy(numpy.load({path!r})).requires_grad_(); "
        "assert gradcheck(f, (x,), check_forward_ad=True)"
    ),
}
PEER_PACKAGE = {"jax check_grads": "jax", "autograd check_grads": "autograd", "torch gradcheck": "torch",
                "torch gradcheck, forward AD too": "torch"}
# What any tool that runs the function pays before it computes anything: a fresh interpreter
# importing the framework (and, for JAX, starting its CPU backend in float64). A target ratio below
# floor / peer cannot be met in a fresh process; the table says so next to the ratio.
FLOOR_CODE = {
    "jax": "import jax; jax.config.update('jax_enable_x64', True); import jax.numpy as jnp; jnp.ones(3) + 1",
    "torch": "import torch; torch.ones(3) + 1",
    # Any forward-mode derivative in torch of code with a constant: a binary operation between a
    # dual tensor and a tensor or number without a tangent takes the constant's tangent as a
    # ZeroTensor, whose shape torch computes on meta tensors with its Python reference
    # implementations, and their first call imports torch._dynamo. gradcheck (reverse mode, one
    # backward pass per output) never pays it; a check of forward-mode rules always does.
    "torch forward mode": "import torch; from torch.autograd import forward_ad as fw; "
                          "exec('with fw.dual_level(): fw.make_dual(torch.ones(3), torch.ones(3)) * 2.0')",
}
FLOOR_PACKAGE = {"jax": "jax", "torch": "torch", "torch forward mode": "torch"}


@dataclass
class Sample:
    seconds: float
    ok: bool
    note: str = ""
    backend_seconds: dict = field(default_factory=dict)  # adcheck only: seconds per backend, from the JSON


def installed(package: str) -> bool:
    try:
        importlib.metadata.version(package)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def adcheck_command() -> list[str]:
    script = Path(sys.executable).with_name("adcheck")
    if script.exists():
        return [str(script)]
    found = shutil.which("adcheck")
    return [found] if found else [sys.executable, "-m", "adcheck"]


def timed(command: list[str], timeout: float) -> tuple[float, subprocess.CompletedProcess | None]:
    # A session of its own, so a timeout kills adcheck's worker processes too, not just adcheck.
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                               start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return time.perf_counter() - start, None
    seconds = time.perf_counter() - start
    return seconds, subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def run_adcheck(name: str, timeout: float, torch_build: bool = False) -> Sample:
    module = "workloads_torch" if torch_build else "workloads"
    command = [*adcheck_command(), "run", f"benchmarks/{module}.py:{name}", "--random", str(INPUT_SIZES[name]),
               "--format", "json"]
    seconds, completed = timed(command, timeout)
    if completed is None:
        return Sample(seconds, False, f"killed after {timeout:g} s")
    try:
        report = json.loads(completed.stdout)
    except json.JSONDecodeError:
        return Sample(seconds, False, f"exit {completed.returncode}: {completed.stderr.strip()[-200:]}")
    per_backend = {b["name"]: b["seconds"] for b in report["backends"] if b["seconds"] is not None}
    statuses = {b["name"]: b["status"] for b in report["backends"]}
    bad = [f"{n} {s}" for n, s in statuses.items() if s not in ("reference", "agree", "not-applicable")]
    return Sample(seconds, report["verdict"] == "pass", ", ".join(bad), per_backend)


def run_peer(peer: str, name: str, input_path: Path, timeout: float) -> Sample:
    code = _PEER_PRELUDE.format(here=str(HERE)) + PEER_CODE[peer].format(name=name, path=str(input_path))
    seconds, completed = timed([sys.executable, "-c", code], timeout)
    if completed is None:
        return Sample(seconds, False, f"killed after {timeout:g} s")
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["?"])[-1]
        return Sample(seconds, False, last[:160])
    return Sample(seconds, True)


def save_inputs(names: list[str], directory: Path) -> dict[str, Path]:
    """Exactly the array ``adcheck run --random N --seed 0`` differentiates at, as .npy."""
    from adcheck.inputs import build_arguments

    paths = {}
    for name in names:
        values = build_arguments((), (str(INPUT_SIZES[name]),), 0, None).values[0]
        paths[name] = directory / f"{name}.npy"
        np.save(paths[name], values)
    return paths


def machine_info() -> list[tuple[str, str]]:
    versions = []
    for package in PACKAGES:
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{package} -")
    try:
        load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        load = "?"
    return [
        ("date", datetime.datetime.now().astimezone().isoformat(timespec="seconds")),
        ("machine", f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}"),
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("packages", ", ".join(versions)),
        ("load average at start", load),
    ]


def byte_compile_adcheck() -> str:
    """Byte-compile adcheck's own modules first, as pip does for every package it installs (the
    peers' among them); a line saying so for the header.

    From an editable install with ``PYTHONDONTWRITEBYTECODE`` set (some sandboxes and CI images
    set it), Python never caches adcheck's bytecode, and every adcheck process, its fork server
    included, would compile its modules afresh: about 0.1 s of a 1.5 s run, which no user of an
    installed adcheck pays.
    """
    import compileall

    import adcheck

    package = Path(adcheck.__file__).resolve().parent
    compileall.compile_dir(str(package), quiet=1)
    setting = "set" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "not set"
    return f"{package} byte-compiled (PYTHONDONTWRITEBYTECODE {setting})"


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def measure_cli(repeat: int, timeout: float) -> dict[str, list[float]]:
    # "python -c pass" is the floor on this machine under its current load: read the others against it.
    commands = {"adcheck --help": [*adcheck_command(), "--help"], "adcheck --version": [*adcheck_command(), "--version"],
                "python -c pass (baseline)": [sys.executable, "-c", "pass"]}
    results = {label: [] for label in commands}
    for _ in range(repeat):
        for label, command in commands.items():
            seconds, completed = timed(command, timeout)
            if completed is not None and completed.returncode == 0:
                results[label].append(seconds)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="repetitions per measurement (default 5)")
    parser.add_argument("--quick", action="store_true", help="one repetition of the smallest workloads")
    parser.add_argument("--workload", action="append", choices=sorted(INPUT_SIZES),
                        help="run only this workload (repeatable)")
    parser.add_argument("--no-peers", action="store_true", help="time adcheck only")
    parser.add_argument("--torch-only", action="store_true",
                        help="time only adcheck's torch build and torch's gradcheck (and torch's floors)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"kill any one measurement after this many seconds (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--json", type=Path, help="also write every sample here")
    options = parser.parse_args(argv)

    repeat = 1 if options.quick else options.repeat
    names = options.workload or (list(QUICK) if options.quick else list(INPUT_SIZES))
    peers = [] if options.no_peers else [p for p in PEER_CODE if installed(PEER_PACKAGE[p])]
    tools = ["adcheck", *(["adcheck (torch build)"] if installed("torch") else []), *peers]
    if options.torch_only:
        tools = [t for t in tools if t.startswith(("adcheck (torch build)", "torch gradcheck"))]

    info = [*machine_info(), ("adcheck", byte_compile_adcheck())]
    print(tabulate(info, tablefmt="plain"))
    print(f"repetitions: {repeat}; workloads: {', '.join(names)}\n", flush=True)

    samples: dict[str, dict[str, list[Sample]]] = {n: {t: [] for t in tools} for n in names}
    floors: dict[str, list[float]] = {f: [] for f in FLOOR_CODE if installed(FLOOR_PACKAGE[f])
                                      and (not options.torch_only or FLOOR_PACKAGE[f] == "torch")}
    with tempfile.TemporaryDirectory(prefix="adcheck-bench-") as directory:
        inputs = save_inputs(names, Path(directory))
        for rep in range(repeat):
            for framework in floors:
                seconds, completed = timed([sys.executable, "-c", FLOOR_CODE[framework]], options.timeout)
                floors[framework].append(seconds if completed is not None and completed.returncode == 0 else None)
            for name in names:
                order = tools[rep % len(tools):] + tools[:rep % len(tools)]  # rotate who goes first
                for tool in order:
                    if tool.startswith("adcheck"):
                        sample = run_adcheck(name, options.timeout, torch_build=tool != "adcheck")
                    else:
                        sample = run_peer(tool, name, inputs[name], options.timeout)
                    samples[name][tool].append(sample)
                    flag = "" if sample.ok else f"  [{sample.note or 'failed'}]"
                    print(f"  rep {rep + 1}/{repeat} {name:18s} {tool:22s} {sample.seconds:8.2f} s{flag}",
                          file=sys.stderr, flush=True)
    cli = measure_cli(max(repeat, 5), options.timeout)

    rows, backend_rows = [], []
    summary: dict[str, dict] = {}
    for name in names:
        per_tool = samples[name]
        medians = {t: median([s.seconds for s in per_tool[t]]) for t in tools}
        ratio_sum, ratio_jax, ratio_torch, ratio_torch_forward = [], [], [], []
        floor_sum, floor_jax, floor_torch, floor_forward = [], [], [], []
        for rep in range(repeat):
            a = per_tool["adcheck"][rep].seconds if "adcheck" in per_tool else None
            j = per_tool["jax check_grads"][rep].seconds if "jax check_grads" in per_tool else None
            g = per_tool["autograd check_grads"][rep].seconds if "autograd check_grads" in per_tool else None
            jax_floor = floors.get("jax", [None] * repeat)[rep]
            if a is not None and j is not None and g is not None:
                ratio_sum.append(a / (j + g))
                if jax_floor is not None:
                    floor_sum.append(jax_floor / (j + g))
            if a is not None and j is not None:
                ratio_jax.append(a / j)
                if jax_floor is not None:
                    floor_jax.append(jax_floor / j)
            if "adcheck (torch build)" in per_tool and "torch gradcheck" in per_tool:
                gradcheck = per_tool["torch gradcheck"][rep].seconds
                ratio_torch.append(per_tool["adcheck (torch build)"][rep].seconds / gradcheck)
                if floors.get("torch", [None] * repeat)[rep] is not None:
                    floor_torch.append(floors["torch"][rep] / gradcheck)
                if floors.get("torch forward mode", [None] * repeat)[rep] is not None:
                    floor_forward.append(floors["torch forward mode"][rep] / gradcheck)
            if "adcheck (torch build)" in per_tool and "torch gradcheck, forward AD too" in per_tool:
                ratio_torch_forward.append(per_tool["adcheck (torch build)"][rep].seconds
                                           / per_tool["torch gradcheck, forward AD too"][rep].seconds)
        failed = {t: sum(not s.ok for s in per_tool[t]) for t in tools}
        row = [name, INPUT_SIZES[name]]
        for tool in tools:
            row.append(fmt(medians[tool]) + (f" ({failed[tool]} failed)" if failed[tool] else ""))
        row += [fmt(median(ratio_sum)), fmt(median(ratio_jax)), fmt(median(ratio_torch)),
                fmt(median(ratio_torch_forward))]
        rows.append(row)
        first = per_tool[next(t for t in tools if t.startswith("adcheck"))]
        backends = sorted({b for s in first for b in s.backend_seconds})
        backend_rows.append([name, *(f"{b} {fmt(median([s.backend_seconds[b] for s in first if b in s.backend_seconds]))}"
                                     for b in backends)])
        summary[name] = {"median_seconds": medians, "ratio_adcheck_to_jax_plus_autograd": median(ratio_sum),
                         "ratio_adcheck_to_jax": median(ratio_jax), "ratio_torch_build_to_gradcheck": median(ratio_torch),
                         "floor_to_jax_plus_autograd": median(floor_sum), "floor_to_jax": median(floor_jax),
                         "floor_to_gradcheck": median(floor_torch),
                         "forward_mode_floor_to_gradcheck": median(floor_forward),
                         "ratio_torch_build_to_gradcheck_forward_ad": median(ratio_torch_forward), "failures": failed}

    headers = ["workload", "n", *(f"{t} s" for t in tools), "adcheck / (jax+autograd)", "adcheck / jax",
               "adcheck torch / gradcheck", "adcheck torch / gradcheck (fwd AD too)"]
    print(tabulate(rows, headers=headers, tablefmt="github"))
    print("\nmedian seconds per adcheck backend, as adcheck's JSON report gives them (workers run side by side):")
    print(tabulate(backend_rows, tablefmt="plain"))
    notes = sorted({f"{name} / {tool}: {s.note}" for name in names for tool in tools for s in samples[name][tool] if s.note})
    if notes:
        print("\nnotes:\n  " + "\n  ".join(notes))

    print()
    cli_rows = [[label, fmt(median(times), 3), f"< {TARGET_CLI_SECONDS}" if label.startswith("adcheck") else "",
                 ("met" if times and median(times) < TARGET_CLI_SECONDS else "NOT met") if label.startswith("adcheck") else ""]
                for label, times in cli.items()]
    print(tabulate(cli_rows, headers=["command", "median s", "target", ""], tablefmt="github"))
    if floors:
        print("\n" + tabulate([[f"python -c '{FLOOR_CODE[f]}'", fmt(median([t for t in times if t is not None]), 3)]
                               for f, times in floors.items()], headers=["the floor: importing the framework", "median s"],
                              tablefmt="github"))
    if peers:
        def verdict(ratio, target, floor):
            if ratio is None:
                return "-"
            if ratio <= target:
                return "met"
            return "NOT met" + (" (target below the import floor)" if floor is not None and floor > target else "")

        target_rows = []
        if TARGET_WORKLOAD in summary:
            ratio, floor = (summary[TARGET_WORKLOAD][k] for k in ("ratio_adcheck_to_jax_plus_autograd",
                                                                  "floor_to_jax_plus_autograd"))
            target_rows.append([f"{TARGET_WORKLOAD}: adcheck / (jax + autograd check_grads)", fmt(ratio), fmt(floor),
                                f"<= {TARGET_RATIO_OF_SUM}", verdict(ratio, TARGET_RATIO_OF_SUM, floor)])
        for name, result in summary.items():
            ratio, floor = result["ratio_adcheck_to_jax"], result["floor_to_jax"]
            if ratio is not None:
                target_rows.append([f"{name}: adcheck / jax check_grads", fmt(ratio), fmt(floor),
                                    f"<= {TARGET_RATIO_TO_JAX}", verdict(ratio, TARGET_RATIO_TO_JAX, floor)])
            # adcheck's torch build checks forward mode too: its floor is forward mode's.
            ratio = result["ratio_torch_build_to_gradcheck"]
            floor = result["forward_mode_floor_to_gradcheck"] or result["floor_to_gradcheck"]
            if ratio is not None:
                target_rows.append([f"{name} (torch build): adcheck / torch gradcheck", fmt(ratio), fmt(floor),
                                    f"<= {TARGET_RATIO_TO_TORCH}", verdict(ratio, TARGET_RATIO_TO_TORCH, floor)])
        print()
        print(tabulate(target_rows, headers=["ratio (median over repetitions)", "value", "import floor", "target", ""],
                       tablefmt="github"))

    if options.json:
        options.json.write_text(json.dumps({
            "machine": dict(info),
            "repetitions": repeat,
            "summary": summary,
            "cli_seconds": cli,
            "floor_seconds": floors,
            "samples": {n: {t: [s.__dict__ for s in samples[n][t]] for t in tools} for n in names},
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
