"""Where an adcheck worker's wall time goes, phase by phase, for one workload.

Each backend is profiled in a fresh interpreter, as a spawned worker would be::

    python benchmarks/profile_workers.py                     # loop_cumprod_100, every backend
    python benchmarks/profile_workers.py --workload mlp_loss --backend fd --top 25

Phases per backend: interpreter start, importing adcheck's worker modules (what a spawned
worker would pay; a worker forked from adcheck's fork server has them already), importing the backend's library, loading the user's module with
the backend's rebinding, then ``REGISTRY[name].compute(task)`` under cProfile (which loads the
module once more, as a real worker does). The fd backend also counts calls of the user's function;
the jax backends report JAX's own tracing and compile durations. Finally the cost of one
``run_tasks`` round trip whose worker does nothing is measured: the fixed price of a process.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKLOADS = HERE / "workloads.py"
BACKEND_LIBRARIES = {
    "fd": "scipy.differentiate",
    "autograd": "autograd",
    "jax-fwd": "jax",
    "jax-rev": "jax",
}


def child(backend: str, workload: str, top: int) -> None:
    started = time.perf_counter()
    import importlib

    from adcheck.backends import REGISTRY
    from adcheck.backends.calling import load_user_function
    from adcheck.inputs import build_arguments
    from adcheck.loader import parse_target
    from adcheck.source import summarize
    from adcheck.task import Task

    phases = {"import adcheck worker modules": time.perf_counter() - started}

    sys.path.insert(0, str(HERE))
    from workloads import INPUT_SIZES

    mark = time.perf_counter()
    importlib.import_module(BACKEND_LIBRARIES[backend])
    if backend.startswith("jax"):
        import jax

        jax.config.update("jax_enable_x64", True)
        jax.config.update("jax_platforms", "cpu")
        from adcheck.compile_cache import enable_jax_persistent_cache

        enable_jax_persistent_cache()  # as a worker does: a rerun loads what the first run compiled
    phases[f"import {BACKEND_LIBRARIES[backend]}"] = time.perf_counter() - mark

    target = parse_target(f"{WORKLOADS}:{workload}")
    arguments = build_arguments((), (str(INPUT_SIZES[workload]),), 0, None)
    framework = summarize(target).framework
    rebinding = REGISTRY[backend].rebinding(framework, False)
    task = Task(backend, target, arguments, str(framework), flavour=rebinding.flavour if rebinding else "numpy",
                rebound=rebinding.description if rebinding else "")

    mark = time.perf_counter()
    load_user_function(task)
    phases["load user module (rebinding table + exec)"] = time.perf_counter() - mark

    counters = {}
    if backend == "fd":
        from adcheck.backends import fd

        original = fd.plain_flat_function

        def counting(*args, **kwargs):
            flat = original(*args, **kwargs)

            def counted(x):
                counters["function evaluations"] = counters.get("function evaluations", 0) + 1
                return flat(x)

            def counted_batch(points):
                counters["batched calls"] = counters.get("batched calls", 0) + 1
                counters["points in batched calls"] = counters.get("points in batched calls", 0) + points.shape[1]
                return flat.try_batch(points)

            counted.raw, counted.batch, counted.try_batch = flat.raw, None, counted_batch
            return counted

        fd.plain_flat_function = counting
    jax_durations: dict[str, float] = {}
    if backend.startswith("jax"):
        import jax.monitoring

        def listener(event, duration, **kwargs):
            jax_durations[event] = jax_durations.get(event, 0.0) + duration

        jax.monitoring.register_event_duration_secs_listener(listener)

    profiler = cProfile.Profile()
    mark = time.perf_counter()
    profiler.enable()
    result = REGISTRY[backend].compute(task)
    profiler.disable()
    phases["compute (incl. a second module load)"] = time.perf_counter() - mark
    phases["total in process"] = time.perf_counter() - started

    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(top)
    print(json.dumps({
        "backend": backend,
        "status": str(result.status),
        "phases": phases,
        "counters": counters,
        "jax": {k: v for k, v in jax_durations.items() if "compil" in k or "trac" in k or "lower" in k},
        "profile": text.getvalue(),
    }))


def spawn_round_trip(repeat: int) -> list[float]:
    """Seconds for ``run_tasks`` to start a worker that fails at once (an unknown backend)."""
    from adcheck.inputs import build_arguments
    from adcheck.loader import parse_target
    from adcheck.task import Task
    from adcheck.workers import run_tasks

    task = Task("no-such-backend", parse_target(f"{WORKLOADS}:loop_cumprod_100"),
                build_arguments((), ("100",), 0, None), "numpy")
    times = []
    for _ in range(repeat):
        mark = time.perf_counter()
        run_tasks([task], timeout=60)
        times.append(time.perf_counter() - mark)
    return times


def wall(command: list[str]) -> float:
    mark = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - mark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="loop_cumprod_100")
    parser.add_argument("--backend", action="append", choices=sorted(BACKEND_LIBRARIES))
    parser.add_argument("--top", type=int, default=18, help="profile lines per backend")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(options.child, options.workload, options.top)
        return

    import statistics

    python = sys.executable
    print(f"python -c pass: {statistics.median(wall([python, '-c', 'pass']) for _ in range(3)):.3f} s")
    print(f"python -c 'import adcheck.workers': "
          f"{statistics.median(wall([python, '-c', 'import adcheck.workers']) for _ in range(3)):.3f} s")
    print(f"run_tasks round trip, no-op worker: {statistics.median(spawn_round_trip(3)):.3f} s (median of 3)")
    for backend in options.backend or list(BACKEND_LIBRARIES):
        mark = time.perf_counter()
        completed = subprocess.run(
            [python, __file__, "--child", backend, "--workload", options.workload, "--top", str(options.top)],
            capture_output=True, text=True)
        seconds = time.perf_counter() - mark
        if completed.returncode != 0:
            print(f"\n== {backend}: failed\n{completed.stderr[-2000:]}")
            continue
        report = json.loads(completed.stdout.strip().splitlines()[-1])
        print(f"\n== {backend} on {options.workload}: {seconds:.2f} s wall for the child process, "
              f"status {report['status']}")
        for phase, value in report["phases"].items():
            print(f"  {phase:45s} {value:8.3f} s")
        for name, value in report["counters"].items():
            print(f"  {name:45s} {value:8d}")
        for name, value in sorted(report["jax"].items()):
            print(f"  jax {name:41s} {value:8.3f} s")
        print(report["profile"])


if __name__ == "__main__":
    main()
