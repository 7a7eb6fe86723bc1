"""The 2762-parameter MLP in auto mode, end to end, against JAX's ``check_grads`` on the same loss.

Each measurement is a fresh process (imports included: what a user pays), the tools interleaved in
each round so that a busy machine slows them alike; the medians of ``--repeat`` rounds (3), their
spread (max - min) and the ratio are printed, with the load average at start and end::

    python benchmarks/mlp_auto.py [--repeat 3] [--baseline /path/to/other/checkout]

``--baseline``: also time the adcheck of another checkout (``python -m adcheck`` with that
directory first on ``PYTHONPATH``), interleaved with the rest: a before/after at the same load.

- adcheck: ``adcheck run benchmarks/mlp_2762.py:loss --inputs-from benchmarks/mlp_2762.py:make_inputs
  --wrt params --format json`` (auto mode: fd, jax-fwd, jax-rev; lint and report);
- check_grads: ``jax.test_util.check_grads(lambda p: loss(p, batch), (params,), order=1,
  modes=("fwd", "rev"))`` in float64 on the same inputs.

The target (issue 31): adcheck under 10 s on a loaded 2-core machine.

adcheck's modules (and the baseline's) are byte-compiled first, as pip does for an installed
package, into a cache directory of the benchmark's own (``PYTHONPYCACHEPREFIX``): with
``PYTHONDONTWRITEBYTECODE`` set, every process would otherwise compile them afresh, and no checkout
gets a file written into it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKLOAD = HERE / "mlp_2762.py"
TARGET_SECONDS = 10.0
ADCHECK = [str(Path(sys.executable).with_name("adcheck")), "run", f"{WORKLOAD}:loss", "--inputs-from",
           f"{WORKLOAD}:make_inputs", "--wrt", "params", "--format", "json"]
CHECK_GRADS = f"""
import sys
sys.path.insert(0, {str(HERE)!r})
import jax
jax.config.update("jax_enable_x64", True)
from jax.test_util import check_grads
from mlp_2762 import loss, make_inputs
params, batch = make_inputs()
check_grads(lambda p: loss(p, batch), (params,), order=1, modes=("fwd", "rev"))
"""


PYCACHE = Path(tempfile.gettempdir()) / "adcheck-bench-pycache"


def byte_compile(package: Path) -> None:
    """``package``'s bytecode, into ``PYCACHE`` (which every timed process reads)."""
    import compileall

    saved, sys.pycache_prefix = sys.pycache_prefix, str(PYCACHE)
    try:
        compileall.compile_dir(str(package), quiet=1)
    finally:
        sys.pycache_prefix = saved


def timed(command: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])}: exit {result.returncode}\n{result.stdout[-2000:]}"
                         f"{result.stderr[-2000:]}")
    return seconds, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another adcheck checkout to time the same way")
    options = parser.parse_args()
    import adcheck

    byte_compile(Path(adcheck.__file__).resolve().parent)
    if options.baseline:
        byte_compile(options.baseline.resolve() / "adcheck")
    os.environ["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    load_start = os.getloadavg()
    times: dict[str, list[float]] = {"adcheck (auto mode)": [], "jax check_grads": []}
    if options.baseline:
        times[f"adcheck at {options.baseline}"] = []
    notes = set()
    for _ in range(options.repeat):
        seconds, out = timed(ADCHECK)
        times["adcheck (auto mode)"].append(seconds)
        report = json.loads(out)
        notes.update(n for n in report["notes"] if n.startswith("--mode auto"))
        if report["verdict"] != "pass":
            raise SystemExit(f"adcheck: verdict {report['verdict']}, expected pass")
        times["jax check_grads"].append(timed([sys.executable, "-c", CHECK_GRADS])[0])
        if options.baseline:
            os.environ["PYTHONPATH"] = f"{options.baseline.resolve()}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
            try:
                times[f"adcheck at {options.baseline}"].append(timed([sys.executable, "-m", "adcheck", *ADCHECK[1:]])[0])
            finally:
                os.environ["PYTHONPATH"] = os.environ["PYTHONPATH"].split(os.pathsep, 1)[1]
    load_end = os.getloadavg()
    print(f"{os.cpu_count()} CPUs; load average at start {load_start[0]:.2f}, at end {load_end[0]:.2f}; "
          f"{options.repeat} rounds")
    for note in sorted(notes):
        print(note)
    print("| tool | median s | spread s | runs |")
    print("|---|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.2f} | {max(values) - min(values):.2f} | "
              f"{' '.join(f'{v:.2f}' for v in values)} |")
    adcheck, peer = (statistics.median(times[name]) for name in ("adcheck (auto mode)", "jax check_grads"))
    met = "met" if adcheck < TARGET_SECONDS else "NOT met"
    print(f"adcheck / check_grads: {adcheck / peer:.2f}; target adcheck < {TARGET_SECONDS:g} s: {met}")


if __name__ == "__main__":
    main()
