"""``adcheck check`` over many small cases, against pytest running JAX's check_grads on the same ones.

A CI gate runs hundreds of small functions, so the fixed cost per case is what users feel. This
writes one file of 20 small numpy functions of 20 inputs, each checked at 10 seeds
(``@adcheck.case(random=[20], seed=k)``, 200 cases), and the same 200 checks as a pytest file
calling ``jax.test_util.check_grads(f, (x,), order=1, modes=("fwd", "rev"))`` on the jax.numpy
build of each function at the same inputs. It times, as whole processes, interleaved and rotated
over the repetitions:

- ``adcheck check funcs.py -j J`` for each J asked (default: the number of CPUs);
- ``adcheck check --shard 1/2`` and ``--shard 2/2`` run side by side (two CI jobs on one machine);
- ``pytest -q test_peer.py`` (the peer, which imports JAX once per session);

and prints the medians, the ratios to the peer within each repetition (medians of those), and
the cost per case.

    python benchmarks/many_cases.py                       # 200 cases, 3 repetitions
    python benchmarks/many_cases.py --functions 20 --seeds 1 --repeat 3   # the 20-case workload
    python benchmarks/many_cases.py --jobs 1 --jobs 2 --shards 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from tabulate import tabulate

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from bench import byte_compile_adcheck  # noqa: E402
TARGET_RATIO = 0.5  # issue: adcheck check over 200 small cases <= 0.5 x pytest + jax check_grads

# Twenty small, smooth numpy functions of one vector: elementwise maps, reductions, products,
# normalisations — what a project's helper functions look like. Each is right: every case passes.
FUNCTIONS = {
    "sin_cos": "np.sin(x) * np.cos(2 * x)",
    "exp_decay": "np.exp(-0.5 * x**2) * x",
    "softplus": "np.log1p(np.exp(x))",
    "logistic": "1 / (1 + np.exp(-x))",
    "tanh_sum": "np.tanh(x) + np.sum(x) * 0.1",
    "cubic": "x**3 - 2 * x**2 + x",
    "norm_scaled": "x / np.sqrt(np.sum(x**2) + 1.0)",
    "softmax": "np.exp(x - np.max(x)) / np.sum(np.exp(x - np.max(x)))",
    "logsumexp": "np.log(np.sum(np.exp(x)))",
    "cumsum_sq": "np.cumsum(x) ** 2",
    "pairwise": "x[1:] * x[:-1]",
    "poly_roll": "x * np.roll(x, 1) + 0.5 * x",
    "outer_diag": "np.diag(np.outer(x, x)) + x",
    "matvec": "np.dot(np.cos(np.arange(20.0)[:, None] * np.arange(20.0)[None, :] * 0.1), x)",
    "rational": "x / (1 + x**2)",
    "arctan_mix": "np.arctan(x) * np.sinh(0.1 * x)",
    "mean_center": "(x - np.mean(x)) ** 2",
    "sqrt_shift": "np.sqrt(x**2 + 1.0)",
    "log_cosh": "np.log(np.cosh(x))",
    "gauss_mix": "np.exp(-(x - 1) ** 2) + np.exp(-(x + 1) ** 2)",
}


def write_project(directory: Path, n_functions: int, n_seeds: int) -> None:
    names = list(FUNCTIONS)[:n_functions]
    lines = ['"""Small numpy functions, each checked at several seeds."""', "", "import numpy as np", "",
             "import adcheck", ""]
    for name in names:
        lines += ["", *(f"@adcheck.case(random=[20], seed={seed})" for seed in range(n_seeds)),
                  f"def {name}(x):", f"    return {FUNCTIONS[name]}", ""]
    (directory / "funcs.py").write_text("\n".join(lines))
    (directory / "pyproject.toml").write_text("[tool.adcheck]\n")
    peer = textwrap.dedent(f'''\
        """The same checks as funcs.py's cases, with JAX's check_grads (fwd and rev), under pytest."""
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as np
        import numpy
        import pytest
        from jax.test_util import check_grads

        FUNCTIONS = {dict((name, FUNCTIONS[name]) for name in names)!r}
        SEEDS = {n_seeds}

        def build(body):
            return eval("lambda x: " + body, {{"np": np}})

        @pytest.mark.parametrize("name", FUNCTIONS)
        @pytest.mark.parametrize("seed", range(SEEDS))
        def test_check_grads(name, seed):
            # adcheck's --random / random=[20] draws: numpy's default_rng(seed).standard_normal
            x = np.asarray(numpy.random.default_rng(seed).standard_normal(20))
            check_grads(build(FUNCTIONS[name]), (x,), order=1, modes=("fwd", "rev"))
        ''')
    (directory / "test_peer.py").write_text(peer)


def adcheck_command() -> list[str]:
    script = Path(sys.executable).with_name("adcheck")
    return [str(script)] if script.exists() else [sys.executable, "-m", "adcheck"]


def timed(commands: list[list[str]], cwd: Path) -> tuple[float, list[int]]:
    """Run the commands side by side; seconds until the last one ends, and their exit codes."""
    start = time.perf_counter()
    processes = [subprocess.Popen(c, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for c in commands]
    codes = []
    for process in processes:
        _, stderr = process.communicate()
        codes.append(process.returncode)
        if process.returncode not in (0,):
            print(f"    exit {process.returncode}: {stderr.strip()[-300:]}", file=sys.stderr)
    return time.perf_counter() - start, codes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, action="append", help="adcheck check -j J (repeatable)")
    parser.add_argument("--shards", type=int, default=0, help="also N shards run side by side (0: no)")
    options = parser.parse_args(argv)
    jobs = options.jobs or [os.cpu_count() or 1]
    n_cases = options.functions * options.seeds
    print(f"{n_cases} cases ({options.functions} functions x {options.seeds} seeds, 20 inputs each), "
          f"{os.cpu_count()} CPUs, {options.repeat} repetitions; load average {os.getloadavg()[0]:.2f}; "
          f"{byte_compile_adcheck()}")

    tools: dict[str, list[list[str]]] = {}
    for j in jobs:
        tools[f"adcheck check -j {j}"] = [[*adcheck_command(), "check", "funcs.py", "-j", str(j), "-q",
                                           "--no-timings", "--format", "json"]]
    if options.shards:
        tools[f"adcheck check, {options.shards} shards side by side"] = [
            [*adcheck_command(), "check", "funcs.py", "--shard", f"{k}/{options.shards}", "-j", "1", "-q",
             "--no-timings", "--format", "json"] for k in range(1, options.shards + 1)]
    tools["pytest + jax check_grads (peer)"] = [[sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                                 "-p", "no:randomly", "test_peer.py"]]
    peer = "pytest + jax check_grads (peer)"
    seconds: dict[str, list[float]] = {t: [] for t in tools}
    with tempfile.TemporaryDirectory(prefix="adcheck-many-") as work:
        directory = Path(work)
        write_project(directory, options.functions, options.seeds)
        names = list(tools)
        for rep in range(options.repeat):
            order = names[rep % len(names):] + names[:rep % len(names)]
            for tool in order:
                took, codes = timed(tools[tool], directory)
                ok = all(c == 0 for c in codes)
                seconds[tool].append(took)
                print(f"  rep {rep + 1}/{options.repeat} {tool:45s} {took:7.2f} s{'' if ok else '  [failed]'}",
                      file=sys.stderr, flush=True)
    rows = []
    for tool in names:
        ratios = [a / p for a, p in zip(seconds[tool], seconds[peer])]
        median = statistics.median(seconds[tool])
        rows.append([tool, f"{median:.2f}", f"{1000 * median / n_cases:.0f}",
                     f"{statistics.median(ratios):.2f}" if tool != peer else "1"])
    print(tabulate(rows, headers=["command", "median s", "ms per case", "ratio to peer (median)"], tablefmt="github"))
    best = min((statistics.median([a / p for a, p in zip(seconds[t], seconds[peer])]) for t in names if t != peer))
    print(f"\ntarget: adcheck check <= {TARGET_RATIO} x the peer -> best ratio {best:.2f}: "
          f"{'met' if best <= TARGET_RATIO else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
