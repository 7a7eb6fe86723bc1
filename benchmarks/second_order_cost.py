"""``--order 2`` at 5000 inputs: adcheck against ``jax.test_util.check_grads(f, (x,), order=2)``.

Each measurement is a fresh process, imports included (what a user pays), on the same function
and input: ``good_loss`` of ``fixtures/second_order.py`` (``sum(sin(x) * x)``, written for JAX)
at the array ``--random 5000 --seed 0`` gives adcheck, saved to .npy for the peer.

- adcheck: ``adcheck run fixtures/second_order.py:good_loss --random 5000 --order 2 --format json``
  with its defaults (auto mode takes fast mode at this size: first-order products and second
  directional derivatives on jax-fwd and jax-rev, the FD reference, the lint and probes, the report);
- peer: ``check_grads(f, (x,), order=2, modes=("fwd", "rev"))`` in float64 (JVPs and VJPs of f
  and of its first derivatives along one random direction each).

The two alternate in every repetition (who goes first rotates); the medians and the median of
the per-repetition ratios are printed:

    python benchmarks/second_order_cost.py [--repeat 3] [--function good_loss|loss]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from bench import adcheck_command, byte_compile_adcheck, machine_info, timed  # noqa: E402

N_INPUTS = 5000
FIXTURE = REPO / "fixtures" / "second_order.py"
PEER = (
    "import sys, numpy, jax; jax.config.update('jax_enable_x64', True); import jax.numpy as jnp; "
    "from jax.test_util import check_grads; sys.path.insert(0, {fixtures!r}); import second_order; "
    "x = jnp.asarray(numpy.load({path!r})); check_grads(second_order.{name}, (x,), order=2, modes=('fwd', 'rev'))"
)


def run_adcheck(name: str, timeout: float) -> tuple[float, str]:
    command = [*adcheck_command(), "run", f"{FIXTURE}:{name}", "--random", str(N_INPUTS), "--order", "2",
               "--format", "json"]
    seconds, completed = timed(command, timeout)
    if completed is None:
        return seconds, f"killed after {timeout:g} s"
    try:
        report = json.loads(completed.stdout)
    except json.JSONDecodeError:
        return seconds, f"exit {completed.returncode}: {completed.stderr.strip()[-200:]}"
    second = {row["name"]: row["status"] for row in report.get("second_order", {}).get("backends", [])}
    fast = any("fast mode" in note for note in report["notes"])
    return seconds, f"verdict {report['verdict']}, {'fast' if fast else 'full'} mode, second order {second}"


def run_peer(name: str, path: Path, timeout: float) -> tuple[float, str]:
    code = PEER.format(fixtures=str(FIXTURE.parent), path=str(path), name=name)
    seconds, completed = timed([sys.executable, "-c", code], timeout)
    if completed is None:
        return seconds, f"killed after {timeout:g} s"
    if completed.returncode != 0:
        return seconds, "failed: " + (completed.stderr.strip().splitlines() or ["?"])[-1][:160]
    return seconds, "passed"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--function", default="good_loss", choices=("good_loss", "loss"))
    parser.add_argument("--timeout", type=float, default=900.0)
    options = parser.parse_args(argv)

    from adcheck.inputs import build_arguments

    for label, value in [*machine_info(), ("adcheck", byte_compile_adcheck())]:
        print(f"{label:22s} {value}")
    samples: dict[str, list[float]] = {"adcheck --order 2": [], "jax check_grads order=2": []}
    outcomes: dict[str, set[str]] = {tool: set() for tool in samples}
    with tempfile.TemporaryDirectory(prefix="adcheck-order2-") as directory:
        path = Path(directory) / "x.npy"
        np.save(path, build_arguments((), (str(N_INPUTS),), 0, None).values[0])
        for rep in range(options.repeat):
            tools = list(samples) if rep % 2 == 0 else list(samples)[::-1]
            for tool in tools:
                if tool.startswith("adcheck"):
                    seconds, outcome = run_adcheck(options.function, options.timeout)
                else:
                    seconds, outcome = run_peer(options.function, path, options.timeout)
                samples[tool].append(seconds)
                outcomes[tool].add(outcome)
                print(f"  rep {rep + 1}/{options.repeat} {tool:26s} {seconds:7.2f} s  {outcome}", file=sys.stderr,
                      flush=True)
    ratios = [a / b for a, b in zip(*samples.values())]
    print(f"\n{options.function}, {N_INPUTS} inputs, {options.repeat} repetitions")
    print("| tool | median s | outcome |\n|---|---|---|")
    for tool, times in samples.items():
        print(f"| {tool} | {statistics.median(times):.2f} | {'; '.join(sorted(outcomes[tool]))} |")
    print(f"\nadcheck / check_grads (median of per-repetition ratios): {statistics.median(ratios):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
