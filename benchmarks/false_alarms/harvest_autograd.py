"""Harvest the ``check_grads`` calls of autograd's own test suite as adcheck cases.

Every function autograd's tests hand to ``autograd.test_util.check_grads`` has a correct
derivative by construction (autograd's CI checks it), so each one is a case on which adcheck
must not fail. This script

1. downloads the sdist of the *installed* autograd version into a cache directory
   (``pip download --no-deps --no-binary :all: autograd==<version>``; the wheel has no tests),
   or, with ``--source-git GIT_DIR``, reads the tests from a git clone of HIPS/autograd at the
   tag of that version (``v<version>``), where a package index cannot be reached,
2. copies its ``tests/*.py`` and ``autograd_replay.py`` into one work directory,
3. in a fresh process per test module, replaces ``check_grads`` with a recorder, runs every test
   function (each ``parametrize`` set) with autograd's conftest seed and records each call,
4. writes, per call on float (real or complex) arguments, ``case_<id>.py`` (which at import reruns that test
   with the recorder and binds its k-th call, as a function of the differentiated arguments only,
   to the module-level name ``case``) and ``case_<id>.npz`` (those arguments, in order),
5. imports every generated module in a fresh process of its own and checks that ``case`` at the
   stored arrays gives the value recorded in step 3 (else the call is skipped as not
   reproducible), and writes ``cases.json``: the cases, and each skipped call with its reason.

The generated modules, the copied test modules and ``autograd_replay.py`` share one directory on
purpose: adcheck rebinds ``numpy``/``autograd.numpy`` in the modules under the target's directory,
and the test modules are where the functions (and their ``np``) live.

    python benchmarks/false_alarms/harvest_autograd.py            # -> work/autograd/cases.json
    python benchmarks/false_alarms/harvest_autograd.py --source-git autograd/.git   # no index
    python benchmarks/false_alarms/run.py --set autograd           # check them
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib.metadata
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CACHE = HERE / ".cache"
DEFAULT_WORK = HERE / "work" / "autograd"
REPLAY_MODULE = "autograd_replay"
# A replay imports autograd (and, for test_scipy, scipy.stats): seconds, not minutes.
VERIFY_TIMEOUT_S = 120
RECORD_TIMEOUT_S = 600


# --- step 1: the sdist ---------------------------------------------------------------------------


def autograd_version() -> str:
    return importlib.metadata.version("autograd")


def fetch_sdist(version: str, cache: Path) -> Path:
    """The sdist ``autograd-<version>.tar.gz`` in ``cache``, downloaded with pip when missing."""
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob(f"autograd-{version}.tar.gz"))
    if found:
        return found[0]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               f"autograd=={version}", "--dest", str(cache), "--quiet"]
    print("+", " ".join(command), file=sys.stderr)
    subprocess.run(command, check=True)
    found = sorted(cache.glob(f"autograd-{version}.tar.gz"))
    if not found:
        sys.exit(f"pip did not leave autograd-{version}.tar.gz in {cache}")
    return found[0]


# --- step 2: the work directory ------------------------------------------------------------------


def tests_from_sdist(sdist: Path) -> dict[str, bytes]:
    """The sdist's ``tests/*.py``, by file name."""
    files = {}
    with tarfile.open(sdist) as archive:
        for member in archive.getmembers():
            parts = Path(member.name).parts
            if len(parts) == 3 and parts[1] == "tests" and parts[2].endswith(".py") and member.isfile():
                files[parts[2]] = archive.extractfile(member).read()
    return files


def tests_from_git(git_dir: Path, version: str) -> dict[str, bytes]:
    """``tests/*.py`` of a HIPS/autograd git directory at the tag ``v<version>`` (the sources the
    sdist of that version was built from), by file name."""
    tag = f"v{version}"

    def git(*arguments: str) -> bytes:
        done = subprocess.run(["git", f"--git-dir={git_dir}", *arguments], capture_output=True, check=False)
        if done.returncode != 0:
            sys.exit(f"git {' '.join(arguments)} in {git_dir}: {done.stderr.decode(errors='replace').strip()}")
        return done.stdout

    listing = git("ls-tree", "--name-only", f"{tag}:tests").decode().split()
    return {name: git("show", f"{tag}:tests/{name}") for name in listing if name.endswith(".py")}


def prepare_work_directory(tests: dict[str, bytes], work: Path) -> list[str]:
    """A clean ``work`` holding autograd's ``tests/*.py`` and the replay module; the test modules."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for name, text in tests.items():
        (work / name).write_bytes(text)
    shutil.copy(HERE / f"{REPLAY_MODULE}.py", work / f"{REPLAY_MODULE}.py")
    return sorted(p.stem for p in work.glob("test_*.py"))


# --- step 3 and 4: record in a fresh process per test module (``--record MODULE``) ----------------


def _kind_of_argument(value) -> tuple[str | None, object]:
    """(skip reason or None, the value as a numpy array) for one differentiated argument."""
    import numpy as np

    if isinstance(value, (list, tuple, dict)):
        return f"container argument ({type(value).__name__})", None
    if isinstance(value, (bool, np.bool_)):
        return "integer or boolean input", None
    if isinstance(value, (int, float, complex, np.number, np.ndarray)):
        array = np.asarray(value)
        if array.dtype.kind in "biu":
            return "integer or boolean input", None
        if array.dtype.kind not in "fc":  # complex ones are checked as their real and imaginary parts
            return f"not a float array (dtype {array.dtype})", None
        return None, array
    return f"not an array ({type(value).__name__})", None


def _output_arrays(value) -> tuple[str | None, list]:
    """(skip reason or None, the output as a list of arrays): what adcheck takes as an output."""
    import numpy as np

    if isinstance(value, (list, tuple)):
        arrays = []
        for item in value:
            if isinstance(item, (list, tuple, dict)):
                return "output is a nested container", []
            arrays.append(np.asarray(item))
    elif isinstance(value, dict):
        return "output is a dict", []
    else:
        arrays = [np.asarray(value)]
    for array in arrays:
        if array.dtype.kind not in "fciub":
            return f"output is not numeric (dtype {array.dtype})", []
    return None, arrays


def _same_arrays(first: list, second: list) -> bool:
    import numpy as np

    return len(first) == len(second) and all(
        a.shape == b.shape and np.array_equal(a, b, equal_nan=True) for a, b in zip(first, second))


CASE_TEMPLATE = '''"""autograd {version} tests/{module}.py::{test}{params_text}: check_grads call {index} ({via}).

Generated by benchmarks/false_alarms/harvest_autograd.py; rerun it to regenerate. At import this
reruns the test with the recorder in place of check_grads (seeded as autograd's conftest does)
and binds the recorded function, as a function of the differentiated arguments only, to ``case``{fixed_text}.
autograd checked it with {check_kwargs}.
"""

from pathlib import Path

import {replay} as replay

replay.install()

import {module} as tests  # noqa: E402 - after the recorder is in place

call = replay.recorded_call(tests.{test}, {params_index}, {index})
case = call.bind({fixed})
'''


def case_id(module: str, test: str, params_index: int | None, index: int) -> str:
    params = f"__p{params_index}" if params_index is not None else ""
    return f"{module.removeprefix('test_')}__{test.removeprefix('test_')}{params}__c{index}"


def record_module(module_name: str, work: Path, version: str) -> list[dict]:
    """Run one test module's tests with the recorder; write each usable call's case files."""
    import numpy as np

    sys.path.insert(0, str(work))
    os.chdir(work)
    replay = __import__(REPLAY_MODULE)
    replay.install()
    entries: list[dict] = []
    try:
        module = __import__(module_name)
    except BaseException as exc:  # noqa: BLE001 - a module that needs a missing package
        return [{"id": module_name, "skip": f"test module does not import: {type(exc).__name__}: {exc}",
                 "calls": 0}]
    tests = [(name, obj) for name, obj in vars(module).items()
             if name.startswith("test") and callable(obj) and getattr(obj, "__module__", None) == module_name]
    for test_name, test in tests:
        mark_reason = replay.skipped_by_mark(test)
        if mark_reason:
            entries.append({"id": f"{module_name}.{test_name}", "skip_test": f"skipped by a mark: {mark_reason}"})
            continue
        parameter_sets = replay.parameter_sets(test)
        for params_index, params in enumerate(parameter_sets):
            calls, error = replay.record(test, params, evaluate=True)
            label_index = params_index if len(parameter_sets) > 1 else None
            # A test that wraps check_grads in pytest.raises expects the check to *fail*: its
            # function has a deliberately wrong derivative (tests/test_tests.py).
            expects_failure = error is not None and "DID NOT RAISE" in str(error)
            for index, call in enumerate(calls):
                ident = case_id(module_name, test_name, label_index, index)
                entry = {"id": ident, "module": module_name, "test": test_name,
                         "params_index": params_index, "params": repr(params), "index": index,
                         "via": call.via, "argnums": list(call.argnums),
                         "check_kwargs": repr(call.check_kwargs)}
                entries.append(entry)
                if expects_failure:
                    entry["skip"] = "the test expects check_grads to fail (a deliberately wrong derivative)"
                    continue
                arrays = []
                for value in call.differentiated():
                    reason, array = _kind_of_argument(value)
                    if reason:
                        entry["skip"] = reason
                        break
                    arrays.append(array)
                if "skip" in entry:
                    continue
                entry["shapes"] = [list(a.shape) for a in arrays]
                entry["dtypes"] = [str(a.dtype) for a in arrays]
                entry["complex_input"] = any(np.iscomplexobj(a) for a in arrays)
                if call.value_error is not None:
                    exc = call.value_error
                    entry["skip"] = f"the recorded function raises on its arguments: {type(exc).__name__}: {exc}"
                    continue
                reason, first_arrays = _output_arrays(call.value)
                if reason:
                    entry["skip"] = reason
                    continue
                if not _same_arrays(first_arrays, _output_arrays(call.value_again)[1]):
                    entry["skip"] = "not reproducible: a second call in the same process differs"
                    continue
                entry["output_shapes"] = [list(a.shape) for a in first_arrays]
                entry["complex_output"] = any(np.iscomplexobj(a) for a in first_arrays)
                np.savez(work / f"case_{ident}.npz", *arrays)
                np.savez(work / f"expected_{ident}.npz", *first_arrays)
                has_fixed = replay.save_fixed(work / f"fixed_{ident}.npz", call.fixed())
                params_text = f"[{params}]" if len(parameter_sets) > 1 else ""
                (work / f"case_{ident}.py").write_text(CASE_TEMPLATE.format(
                    version=version, module=module_name, test=test_name, params_text=params_text,
                    index=index, via=call.via, check_kwargs=entry["check_kwargs"], replay=REPLAY_MODULE,
                    params_index=params_index,
                    fixed=f'replay.load_fixed(Path(__file__).with_name("fixed_{ident}.npz"))' if has_fixed else "",
                    fixed_text="; its other numeric arguments are\nthe recorded ones (fixed_<id>.npz)" if has_fixed else ""),
                    encoding="utf-8")
            if error is not None and not expects_failure:
                entries.append({"id": f"{module_name}.{test_name}[{params_index}]",
                                "note": f"the test stopped early under the recorder: {type(error).__name__}: {error}"[:300],
                                "calls": len(calls)})
    return entries


# --- step 5: replay each case in a fresh process (``--verify ID``) --------------------------------


def verify_case(ident: str, work: Path) -> str | None:
    """None when ``case_<ident>.py`` reproduces the recorded call in this (fresh) process."""
    import numpy as np

    sys.path.insert(0, str(work))
    os.chdir(work)
    try:
        generated = __import__(f"case_{ident}")
    except BaseException as exc:  # noqa: BLE001
        return f"not reproducible: the case module does not import in a fresh process: {type(exc).__name__}: {exc}"
    with np.load(work / f"case_{ident}.npz") as archive:
        arrays = [archive[k] for k in archive.files]
    with np.load(work / f"expected_{ident}.npz") as archive:
        expected = [archive[k] for k in archive.files]
    # The differentiated arguments of the replayed call may differ (drawn from a module-level
    # RandomState that other tests advanced first): adcheck passes the stored ones. What must
    # match is the function: its value at the stored arrays.
    try:
        value = generated.case(*arrays)
    except BaseException as exc:  # noqa: BLE001
        return f"not reproducible: the replayed function raises: {type(exc).__name__}: {exc}"
    if not _same_arrays(_output_arrays(value)[1], expected):
        return "not reproducible: the replayed function's value differs in a fresh process"
    return None


def _run_self(*arguments: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(Path(__file__).resolve()), *arguments],
                          capture_output=True, text=True, timeout=timeout)


def _worker_record(module: str, work: Path, version: str) -> list[dict]:
    try:
        done = _run_self("--record", module, "--work", str(work), "--version", version, timeout=RECORD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return [{"id": module, "skip": f"recording timed out after {RECORD_TIMEOUT_S} s", "calls": 0}]
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return [{"id": module, "skip": f"recording crashed (exit {done.returncode}): {tail}", "calls": 0}]
    return json.loads(done.stdout.strip().splitlines()[-1])


def verify_all(idents: list[str], work: Path, jobs: int, results: Path) -> None:
    """``verify_case`` for each case, each in a child forked from this process, ``jobs`` at once.

    numpy, scipy and autograd are imported once here, before forking; every child imports the
    test module and the case module afresh, as an adcheck worker does, at a fraction of the cost
    of starting a new interpreter per case. Each child writes its verdict to ``results/<id>.json``.
    """
    import numpy  # noqa: F401 - imported before forking, for every child
    import scipy.signal, scipy.special, scipy.stats  # noqa: E401, F401
    import autograd, autograd.numpy, autograd.scipy.special, autograd.scipy.stats  # noqa: E401, F401

    results.mkdir(parents=True, exist_ok=True)
    running: dict[int, tuple[str, float]] = {}

    def reap_one() -> None:
        """Wait until one child has finished (or has been killed at the timeout)."""
        while True:
            for pid, (ident, started) in list(running.items()):
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done:
                    del running[pid]
                    return
                if time.monotonic() - started > VERIFY_TIMEOUT_S:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    del running[pid]
                    (results / f"{ident}.json").write_text(json.dumps(
                        f"not reproducible: the replay timed out after {VERIFY_TIMEOUT_S} s"))
                    return
            time.sleep(0.01)

    for ident in idents:
        while len(running) >= jobs:
            reap_one()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: verify one case, write its verdict, never return
            code = 0
            try:
                sys.stdout = sys.stderr
                verdict = verify_case(ident, work)
                (results / f"{ident}.json").write_text(json.dumps(verdict))
            except BaseException:  # noqa: BLE001 - a missing file below says "crashed"
                code = 1
            finally:
                os._exit(code)
        running[pid] = (ident, time.monotonic())
    while running:
        reap_one()


def _verify_in_children(idents: list[str], work: Path, jobs: int) -> list[str | None]:
    results = work / ".verify"
    listing = work / ".verify.json"
    listing.write_text(json.dumps(idents))
    command = ["--verify-all", str(listing), "--work", str(work), "-j", str(jobs)]
    done = _run_self(*command, timeout=VERIFY_TIMEOUT_S * max(1, len(idents)))
    if done.returncode != 0:
        sys.exit(f"the replay driver failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    verdicts = []
    for ident in idents:
        path = results / f"{ident}.json"
        verdicts.append(json.loads(path.read_text()) if path.is_file()
                        else "not reproducible: the replay crashed (no verdict)")
    shutil.rmtree(results, ignore_errors=True)
    listing.unlink()
    return verdicts


def _remove_case_files(work: Path, ident: str) -> None:
    for name in (f"case_{ident}.py", f"case_{ident}.npz", f"expected_{ident}.npz", f"fixed_{ident}.npz"):
        (work / name).unlink(missing_ok=True)


def harvest(cache: Path, work: Path, jobs: int, complex_only: bool = False, source_git: Path | None = None) -> dict:
    started = time.monotonic()
    version = autograd_version()
    if source_git is not None:
        source = f"git tag v{version} of {source_git}"
        modules = prepare_work_directory(tests_from_git(source_git, version), work)
    else:
        sdist = fetch_sdist(version, cache)
        source = sdist.name
        modules = prepare_work_directory(tests_from_sdist(sdist), work)
    print(f"autograd {version}: {len(modules)} test modules from {source} into {work}", file=sys.stderr)

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        recorded = list(pool.map(lambda m: _worker_record(m, work, version), modules))
    entries = [entry for per_module in recorded for entry in per_module]
    calls = [e for e in entries if "index" in e]
    if complex_only:  # replay only the calls on complex numbers (a shorter harvest)
        for entry in calls:
            if "skip" not in entry and not (entry["complex_input"] or entry["complex_output"]):
                entry["skip"] = "real inputs and outputs (--complex-only)"
                _remove_case_files(work, entry["id"])
    candidates = [e for e in calls if "skip" not in e]
    print(f"{len(calls)} check_grads calls recorded; replaying {len(candidates)}, each in a process of its own",
          file=sys.stderr)

    verdicts = _verify_in_children([e["id"] for e in candidates], work, jobs)
    for entry, verdict in zip(candidates, verdicts):
        if verdict is not None:
            entry["skip"] = verdict
            _remove_case_files(work, entry["id"])

    cases, skipped = [], []
    for entry in calls:
        if "skip" in entry:
            skipped.append({"id": entry["id"], "via": entry["via"], "reason": entry["skip"]})
            continue
        note = (f"autograd {version} tests/{entry['module']}.py::{entry['test']}"
                f"{'' if entry['params'] == '{}' else entry['params']} call {entry['index']} "
                f"via {entry['via']} {entry['check_kwargs']}; inputs {entry['shapes']}"
                + ("; complex input" if entry["complex_input"] else "")
                + ("; complex output" if entry["complex_output"] else ""))
        cases.append({"id": entry["id"], "target": f"case_{entry['id']}.py:case",
                      "inputs": [f"@case_{entry['id']}.npz"], "via": entry["via"], "note": note})
    reasons: dict[str, int] = {}
    for item in skipped:
        key = item["reason"].split(":")[0] if item["reason"].startswith("not reproducible") else item["reason"]
        reasons[key] = reasons.get(key, 0) + 1
    manifest = {
        "autograd_version": version,
        "sdist": source,
        "recorded_calls": len(calls),
        "recorded_by": {via: sum(1 for e in calls if e["via"] == via) for via in ("check_grads", "combo_check")},
        "cases": cases,
        "skipped": skipped,
        "skipped_by_reason": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
        "test_notes": [e for e in entries if "index" not in e],
        "seconds": round(time.monotonic() - started, 1),
    }
    (work / "cases.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the sdist is kept")
    parser.add_argument("--source-git", type=Path, metavar="GIT_DIR",
                        help="read autograd's tests from this git directory of HIPS/autograd at the tag "
                             "v<installed version> instead of downloading the sdist")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK,
                        help="the directory of generated cases (emptied first)")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="processes at once")
    parser.add_argument("--complex-only", action="store_true",
                        help="keep only the calls with complex inputs or outputs (replays far fewer)")
    parser.add_argument("--record", metavar="MODULE", help=argparse.SUPPRESS)
    parser.add_argument("--verify", metavar="ID", help=argparse.SUPPRESS)
    parser.add_argument("--verify-all", metavar="LISTING", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--version", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    work = args.work.resolve()
    if args.record:
        # The child's stdout carries one JSON line; the tests' own prints go to stderr.
        real_stdout, sys.stdout = sys.stdout, sys.stderr
        entries = record_module(args.record, work, args.version)
        print(json.dumps(entries), file=real_stdout)
        return 0
    if args.verify:  # one case, in this process (for debugging a skip)
        real_stdout, sys.stdout = sys.stdout, sys.stderr
        print(json.dumps(verify_case(args.verify, work)), file=real_stdout)
        return 0
    if args.verify_all:
        verify_all(json.loads(args.verify_all.read_text()), work, max(1, args.jobs), work / ".verify")
        return 0
    manifest = harvest(args.cache.resolve(), work, max(1, args.jobs), args.complex_only,
                       args.source_git.resolve() if args.source_git else None)
    print(f"autograd {manifest['autograd_version']}: {manifest['recorded_calls']} check_grads calls "
          f"({manifest['recorded_by']['check_grads']} direct, {manifest['recorded_by']['combo_check']} "
          f"through combo_check); {len(manifest['cases'])} cases, {len(manifest['skipped'])} skipped:")
    for reason, count in manifest["skipped_by_reason"].items():
        print(f"  {count:4d}  {reason}")
    print(f"written {work / 'cases.json'} in {manifest['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
