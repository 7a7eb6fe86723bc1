"""Run adcheck over correct functions and count the false alarms.

Every case is a correct function, so ``adcheck run`` should exit 0 on it (or 2 where no AD backend
can run the code at all): each exit 1 is a false alarm. This runs ``adcheck run TARGET ... --format
json --no-timings`` in a subprocess per case and prints the count by exit code, then one line per
non-zero case with the reason (each non-agreeing backend's status and message from the JSON
report, or adcheck's stderr line).

    python benchmarks/false_alarms/run.py                      # both sets
    python benchmarks/false_alarms/run.py --set corpus -j 2    # corpus.toml only, two at once
    python benchmarks/false_alarms/run.py --set autograd --list
    python benchmarks/false_alarms/run.py --json results.json
    python benchmarks/false_alarms/run.py --adcheck-src /tmp/adcheck-head   # another adcheck source tree
    python benchmarks/false_alarms/run.py --set corpus --search 100         # and 100 searched inputs each
    python benchmarks/false_alarms/run.py --set autograd --batch 300 -j 2   # 300 cases per `adcheck check`

With ``--search``, each failure the search finds is marked true where ``search_findings.toml``
lists the case (a real wrong or NaN derivative, with why) and a false accusation otherwise.

With ``--batch N``, the cases whose inputs are arrays in ``.npz``/``.npy`` files (every case of the
``autograd`` set) are written N at a time as ``[[tool.adcheck.case]]`` tables of a ``pyproject.toml``
under ``work/batch/`` and run by one ``adcheck check --format json`` each: warm workers shared by the
cases, a fresh import of the case's module for each. Each case's report in the check's JSON gives
the same exit classification as ``adcheck run`` (broken: 2; a failure under the default
``--fail-on``: 1; else 0). A case the check cannot express, or did not finish (an internal error
ends the whole check; a chunk without a finished case for ``--timeout`` seconds is stopped), runs
on its own as without ``--batch``.

The ``autograd`` set comes from ``harvest_autograd.py`` (run it first).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CORPUS_MANIFEST = HERE / "corpus.toml"
# The search failures on the corpus known to be real derivative bugs, each with why.
SEARCH_FINDINGS = HERE / "search_findings.toml"
AUTOGRAD_MANIFEST = HERE / "work" / "autograd" / "cases.json"
# --batch: where each chunk's pyproject.toml is written (kept, to rerun a chunk by hand).
BATCH_DIRECTORY = HERE / "work" / "batch"
# adcheck's own default is 120 s per backend, the backends running side by side; a case that
# takes longer than this in all is hung or starved, and counted as a timeout.
DEFAULT_CASE_TIMEOUT_S = 600.0
# Statuses that are not a failure of that backend.
QUIET_STATUSES = {"reference", "agree", "kink"}

EXIT_MEANINGS = {
    0: "pass",
    1: "FAIL (on correct code: a false alarm)",
    2: "nothing checked / usage or input error",
    3: "internal error in adcheck",
}


@dataclass(frozen=True)
class Case:
    """One ``adcheck run`` invocation: what to check and with which inputs."""

    set: str  # "corpus" or "autograd"
    name: str
    target: str  # as passed to adcheck, relative to the repository root
    arguments: tuple[str, ...]  # --input / --random / --seed / extra options
    note: str

    def command(self, adcheck: list[str]) -> list[str]:
        return [*adcheck, "run", self.target, *self.arguments, "--format", "json", "--no-timings"]


@dataclass
class Result:
    set: str
    name: str
    target: str
    command: str
    exit_code: int | None  # None: killed at the case timeout
    seconds: float
    verdict: str | None = None
    consensus: str = ""
    odd_one_out: list = field(default_factory=list)
    backends: list = field(default_factory=list)  # {name, status, message, max_abs_error, ...}
    notes: list = field(default_factory=list)
    stderr_tail: str = ""
    reason: str = ""
    findings: list = field(default_factory=list)  # "CODE severity path:line message" of each error/warning
    search: dict | None = None  # --search: the report's search object, less the failure's full report


# --- the sets ------------------------------------------------------------------------------------


def _relative_to_repo(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path.resolve())


def _resolve_target(text: str, base: Path) -> str:
    location, _, attribute = text.rpartition(":")
    if location.endswith(".py") or "/" in location:
        return f"{_relative_to_repo(base / location)}:{attribute}"
    return text  # package.module:func, an installed module


def _resolve_input(text: str, base: Path) -> str:
    return "@" + _relative_to_repo(base / text[1:]) if text.startswith("@") else text


def load_corpus(manifest: Path = CORPUS_MANIFEST) -> list[Case]:
    data = tomllib.loads(manifest.read_text(encoding="utf-8"))
    base = manifest.parent
    cases, names = [], set()
    for entry in data.get("case", []):
        name = entry["name"]
        if name in names:
            sys.exit(f"{manifest}: case {name!r} appears twice")
        names.add(name)
        if ("input" in entry) == ("random" in entry):
            sys.exit(f"{manifest}: case {name!r} needs exactly one of input = [...] and random = [...]")
        arguments: list[str] = []
        for text in entry.get("input", []):
            arguments += ["--input", _resolve_input(text, base)]
        for shape in entry.get("random", []):
            arguments += ["--random", str(shape)]
        if "random" in entry:
            arguments += ["--seed", str(entry.get("seed", 0))]
        arguments += [str(a) for a in entry.get("args", [])]
        cases.append(Case("corpus", name, _resolve_target(entry["target"], base), tuple(arguments),
                          entry.get("note", "")))
    return cases


def load_autograd(manifest: Path = AUTOGRAD_MANIFEST, via: str = "all") -> list[Case]:
    if not manifest.is_file():
        sys.exit(f"{_relative_to_repo(manifest)} does not exist: run "
                 f"python {_relative_to_repo(HERE / 'harvest_autograd.py')} first")
    data = json.loads(manifest.read_text(encoding="utf-8"))
    base = manifest.parent
    cases = []
    for entry in data["cases"]:
        if via != "all" and entry["via"] != via:
            continue
        arguments: list[str] = []
        for text in entry["inputs"]:
            arguments += ["--input", _resolve_input(text, base)]
        cases.append(Case("autograd", entry["id"], _resolve_target(entry["target"], base), tuple(arguments),
                          entry["note"]))
    return cases


# --- running -------------------------------------------------------------------------------------


def _number(value, spec: str) -> str:
    """A JSON number as ``spec`` formats it; NaN and inf arrive as strings ("nan", "inf")."""
    return format(value, spec) if isinstance(value, (int, float)) else str(value)


def _worst_mismatch_text(backend: dict) -> str:
    """The first listed mismatch as "at (i, j): V vs reference R +- E", or the summary errors."""
    mismatches = backend.get("mismatches") or []
    if mismatches and isinstance(mismatches[0], dict) and "value" in mismatches[0]:
        m = mismatches[0]
        text = (f"at {tuple(m.get('entry', ()))}: {_number(m['value'], '.6g')} vs reference "
                f"{_number(m.get('reference', float('nan')), '.6g')}")
        if m.get("reference_error") is not None:
            text += f" +- {_number(m['reference_error'], '.2g')}"
        return text
    if backend.get("max_rel_error") is not None:  # the schema before issue 10
        return (f"max rel err {backend['max_rel_error']:.2g}, abs {backend['max_abs_error']:.2g} "
                f"at {backend.get('worst_entry')}")
    return ""


def _read_report(result: Result, report: dict) -> None:
    """What a case's JSON report says, into its result: the verdict, the consensus, the notes, the
    findings of severity error or warning, and each backend's status with a one-line reason."""
    result.verdict = report.get("verdict")
    result.consensus = report.get("consensus", "")
    result.odd_one_out = report.get("odd_one_out", [])
    result.notes = report.get("notes", [])
    result.findings = [f"{f['code']} {f['severity']} {f['path']}:{f['line']} {f['message']}"
                       for f in report.get("findings", []) if f.get("severity") in ("error", "warning")]
    try:
        result.reason, result.backends = _reason_from_report(report)
    except (KeyError, TypeError, ValueError) as exc:  # a report this script cannot summarise: keep the count
        result.reason = f"(could not summarise the report: {type(exc).__name__}: {exc})"


def _reason_from_report(report: dict) -> tuple[str, list]:
    """One line of why, and the backends that were not quiet, from adcheck's JSON report."""
    loud = []
    for backend in report.get("backends", []):
        if backend.get("status") in QUIET_STATUSES:
            continue
        loud.append({key: backend.get(key) for key in
                     ("name", "status", "message", "max_abs_error", "max_rel_error", "max_error_over_tolerance",
                      "worst_entry", "location", "mismatches")})
        loud[-1]["mismatches"] = (loud[-1]["mismatches"] or [])[:3]
    passed = report.get("verdict") == "pass"
    parts = []
    for backend in loud:
        detail = (backend.get("message") or "").strip().splitlines()
        text = detail[0] if detail else ""
        if backend["status"] in ("not-applicable", "unavailable"):
            # These do not fail a run on their own: shown only when the run did not pass, and
            # without the boilerplate of a backend that never runs this kind of code.
            if passed:
                continue
            if " cannot run " in text and "(it runs " in text:
                parts.append(f"{backend['name']}={backend['status']}")
                continue
        if backend["status"] == "disagree":
            worst = _worst_mismatch_text(backend)
            text = f"{text}; {worst}" if text and worst else (text or worst)
        parts.append(f"{backend['name']}={backend['status']}" + (f" ({text[:240]})" if text else ""))
    if report.get("consensus"):
        parts.append(f"consensus: {report['consensus'][:200]}")
    return "; ".join(parts), loud


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_case(case: Case, adcheck: list[str], env: dict, timeout: float) -> Result:
    command = case.command(adcheck)
    started = time.monotonic()
    # A session of its own, so that a timeout ends adcheck's worker processes too.
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
        code = process.returncode
    except subprocess.TimeoutExpired:
        _kill_group(process)
        stdout, stderr = process.communicate()
        code = None
    seconds = time.monotonic() - started
    result = Result(case.set, case.name, case.target, shlex.join(command), code, round(seconds, 2))
    stderr_lines = [line for line in stderr.strip().splitlines() if line.strip()]
    result.stderr_tail = "\n".join(stderr_lines[-5:])
    if code is None:
        result.reason = f"timed out after {timeout:.0f} s"
        return result
    report = None
    if stdout.strip():
        try:
            report = json.loads(stdout)
        except json.JSONDecodeError:
            report = None
    if isinstance(report, dict):
        if isinstance(report.get("search"), dict):
            result.search = {key: value for key, value in report["search"].items() if key != "failure"}
            failure = report["search"].get("failure")
            result.search["failure"] = None if failure is None else {
                key: failure.get(key) for key in ("input_line", "backends", "status", "entry")}
        _read_report(result, report)
    if not result.reason and code != 0:
        adcheck_lines = [line for line in stderr_lines if line.startswith("adcheck")]
        result.reason = (adcheck_lines or stderr_lines or ["(no output)"])[-1][:400]
    return result


def adcheck_command(args) -> tuple[list[str], dict]:
    env = dict(os.environ, NO_COLOR="1")
    if args.adcheck_src:
        source = Path(args.adcheck_src).resolve()
        if not (source / "adcheck" / "__init__.py").is_file():
            sys.exit(f"--adcheck-src {source}: no adcheck/__init__.py there")
        # First on the path: ahead of the editable install of the working tree.
        env["PYTHONPATH"] = os.pathsep.join([str(source), *filter(None, [env.get("PYTHONPATH")])])
        # -P: without it `python -m` puts the working directory (the repository root, whose own
        # adcheck/ would win) first on sys.path.
        return [sys.executable, "-P", "-m", "adcheck"], env
    if args.adcheck:
        return shlex.split(args.adcheck), env
    beside = Path(sys.executable).with_name("adcheck")
    return ([str(beside)] if beside.exists() else ["adcheck"]), env


# --- --batch: many cases per `adcheck check` -----------------------------------------------------

# The dtypes whose arrays a TOML number (float64) or a {"$complex" = [re, im]} leaf (complex128)
# gives back exactly; a case with any other input runs on its own.
BATCHABLE_DTYPES = ("float64", "complex128")
# A chunk that stopped without its JSON report (an internal error, or stopped for want of
# progress) is split: cases this few or fewer run on their own, a larger part is batched again.
SMALLEST_BATCH = 4
# After SIGTERM adcheck stops every worker and writes what finished; past this, SIGKILL.
STOP_GRACE_S = 60.0
_PROGRESS_LINE = re.compile(r"^adcheck: \[\d+/\d+\] (?P<target>.*): (?P<state>pass|FAIL|broken) "
                            r"\((?P<seconds>[0-9.]+) s\)$")


def _toml_number(value) -> str:
    # repr is the shortest decimal that reads back as the same float64, and TOML reads it so.
    return repr(float(value))


def _toml_array(array) -> str:
    """An array as a TOML value ``adcheck check`` reads back bit for bit (complex entries as
    ``{ "$complex" = [re, im] }`` leaves, README "Inputs")."""
    if array.ndim == 0:
        value = array[()]
        if array.dtype.kind == "c":
            return f'{{ "$complex" = [{_toml_number(value.real)}, {_toml_number(value.imag)}] }}'
        return _toml_number(value)
    return "[" + ", ".join(_toml_array(row) for row in array) + "]"


def batch_inputs(case: Case) -> list | None:
    """The case's arguments as arrays when all it passes is ``--input @file.npz``/``.npy`` (arrays
    by position) with arrays that TOML carries exactly; else None (the case runs on its own)."""
    import numpy as np

    options = list(case.arguments)
    if not options or len(options) % 2:
        return None
    arrays = []
    for option, value in zip(options[::2], options[1::2]):
        if option != "--input" or not value.startswith("@"):
            return None
        path = REPO / value[1:]
        if path.suffix == ".npy":
            arrays.append(np.load(path, allow_pickle=False))
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                positional = [f"arr_{i}" for i in range(len(archive.files))]
                if sorted(archive.files) != sorted(positional):
                    return None  # one dict argument: [[tool.adcheck.case]] inputs are arrays
                arrays += [archive[key] for key in positional]
        else:
            return None
    # A non-finite or empty input is a configuration error, which would stop the whole chunk.
    if any(a.dtype.name not in BATCHABLE_DTYPES or a.size == 0 or not np.all(np.isfinite(a)) for a in arrays):
        return None
    return arrays


def _case_file(target: str) -> str:
    """The file name of a ``path/case_x.py:case`` target: how a check's report is matched to its case."""
    return Path(target.rpartition(":")[0]).name


def write_chunk(chunk: list[tuple[Case, list]], config: Path) -> None:
    """A ``pyproject.toml`` whose ``[[tool.adcheck.case]]`` tables are the chunk's cases."""
    lines = ["# run.py --batch: one [[tool.adcheck.case]] per case, its inputs as its --input files hold them.",
             "[tool.adcheck]", ""]
    for case, arrays in chunk:
        location, _, attribute = case.target.rpartition(":")
        lines += ["[[tool.adcheck.case]]",
                  f"target = {json.dumps(str((REPO / location).resolve()) + ':' + attribute)}",
                  "inputs = [" + ", ".join(_toml_array(a) for a in arrays) + "]", ""]
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("\n".join(lines), encoding="utf-8")


def _result_from_check(case: Case, report: dict, check: dict, command: str, seconds: float) -> Result:
    """The case's Result, classified as ``adcheck run`` exits on it: 2 when the check calls the case
    broken (nothing checked, nothing verified, or the function cannot run), 1 when it lists a
    failure of it (under the default ``--fail-on``), else 0."""
    name = report.get("target", "")
    broken = [b for b in check.get("broken", []) if b.get("case") == name]
    failed = any(f.get("case") == name and not f.get("baselined") for f in check.get("failures", []))
    code = 2 if broken else 1 if failed else 0
    result = Result(case.set, case.name, case.target, command, code, round(seconds, 2))
    if broken and not report.get("inputs"):
        # The function could not be called: the check's report is a placeholder row, where
        # ``adcheck run`` writes one line on stderr and no report.
        result.reason = f"adcheck check: broken: {broken[0].get('message', '')}"[:400]
        return result
    _read_report(result, report)
    if broken and not result.reason:
        result.reason = f"adcheck check: broken: {broken[0].get('message', '')}"[:400]
    return result


def run_chunk(chunk: list[tuple[Case, list]], config: Path, adcheck: list[str], env: dict, jobs: int,
              stall_timeout: float, on_done) -> tuple[list[Result], list[tuple[Case, list]], set[str], str]:
    """One ``adcheck check`` over the chunk: (results, the cases without one, the case files the
    progress lines saw finish, why the check gave no report or "")."""
    write_chunk(chunk, config)
    command = [*adcheck, "check", "--config", str(config), "--format", "json", "--no-timings", "-j", str(jobs)]
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    stdout: list[str] = []
    stderr_lines: list[str] = []
    seconds: dict[str, float] = {}
    last_progress = [time.monotonic()]

    def read_stdout() -> None:
        stdout.append(process.stdout.read())

    def read_stderr() -> None:
        for line in process.stderr:
            stderr_lines.append(line.rstrip("\n"))
            match = _PROGRESS_LINE.match(stderr_lines[-1])
            if match:
                last_progress[0] = time.monotonic()
                seconds[_case_file(match["target"])] = float(match["seconds"])
                on_done(match["target"], match["state"], float(match["seconds"]))

    readers = [threading.Thread(target=read_stdout, daemon=True), threading.Thread(target=read_stderr, daemon=True)]
    for reader in readers:
        reader.start()
    stopped = ""
    while process.poll() is None:
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            if not stopped and time.monotonic() - last_progress[0] > stall_timeout:
                stopped = f"no case finished for {stall_timeout:.0f} s"
                process.send_signal(signal.SIGTERM)  # adcheck stops its workers and reports what finished
                try:
                    process.wait(timeout=STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    _kill_group(process)
    _kill_group(process)  # anything the check left behind
    for reader in readers:
        reader.join(timeout=30)
    try:
        check = json.loads("".join(stdout))
    except json.JSONDecodeError:
        check = None
    if not isinstance(check, dict) or not isinstance(check.get("cases"), list):
        tail = [line for line in stderr_lines if not _PROGRESS_LINE.match(line)][-3:]
        why = stopped or f"adcheck check exited {process.returncode} without a report: " + " | ".join(tail)[:300]
        return [], chunk, set(seconds), why
    reports = {_case_file(report.get("target", "")): report for report in check["cases"]}
    results, missing = [], []
    share = (time.monotonic() - started) / max(1, len(chunk))
    for case, arrays in chunk:
        report = reports.get(_case_file(case.target))
        if report is None:
            missing.append((case, arrays))
            continue
        results.append(_result_from_check(case, report, check, f"{shlex.join(command)}  # {case.target}",
                                          seconds.get(_case_file(case.target), share)))
    return results, missing, set(seconds), stopped


def run_batched(cases: list[Case], batch: int, adcheck: list[str], env: dict, args, report_progress) -> list[Result]:
    """``cases`` through ``adcheck check``, ``batch`` at a time; those it cannot express or did not
    finish, one ``adcheck run`` each. ``report_progress(result)`` for each case as it ends."""
    batchable, alone = [], []
    for case in cases:
        arrays = batch_inputs(case)
        if arrays is None:
            alone.append(case)
        else:
            batchable.append((case, arrays))
    by_file = {_case_file(case.target): case for case, _ in batchable}

    def on_done(target: str, state: str, seconds: float) -> None:
        case = by_file.get(_case_file(target))
        print(f"[batch] {state:6s} {seconds:6.1f} s  {case.set + '/' + case.name if case else target}",
              file=sys.stderr, flush=True)

    results: list[Result] = []
    # (chunk, is it a rerun of cases that finished in a check that then gave no report)
    pending = [(batchable[i:i + batch], False) for i in range(0, len(batchable), batch)]
    number = 0
    while pending:
        chunk, rerun = pending.pop(0)
        config = BATCH_DIRECTORY / f"chunk_{number:03d}" / "pyproject.toml"
        number += 1
        print(f"[batch] {config.parent.name}: {len(chunk)} cases", file=sys.stderr, flush=True)
        done, missing, finished_files, why = run_chunk(chunk, config, adcheck, env, args.jobs, args.timeout, on_done)
        for result in done:
            report_progress(result)
        results += done
        if not missing:
            continue
        print(f"[batch] {config.parent.name}: {len(missing)} cases without a report ({why or 'not in the report'})",
              file=sys.stderr, flush=True)
        if not why or rerun:  # nothing to gain from batching these again
            alone += [case for case, _ in missing]
            continue
        # No report at all: the cases the progress lines saw finish are batched once more, and the
        # rest, among them the case that stopped the check, are split until each runs on its own.
        finished = [item for item in missing if _case_file(item[0].target) in finished_files]
        unfinished = [item for item in missing if _case_file(item[0].target) not in finished_files]
        if finished:
            pending.append((finished, True))
        if len(unfinished) <= SMALLEST_BATCH:
            alone += [case for case, _ in unfinished]
        elif unfinished:
            half = len(unfinished) // 2
            pending += [(unfinished[:half], False), (unfinished[half:], False)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for result in pool.map(lambda case: run_case(case, adcheck, env, args.timeout), alone):
            report_progress(result)
            results.append(result)
    order = {(case.set, case.name): i for i, case in enumerate(cases)}
    return sorted(results, key=lambda r: order[(r.set, r.name)])


# --- reporting -----------------------------------------------------------------------------------


def _code_label(code: int | None) -> str:
    return "timeout" if code is None else str(code)


def load_search_findings(path: Path = SEARCH_FINDINGS) -> dict[str, str]:
    """Case name -> why its search failure is a real derivative bug (``search_findings.toml``)."""
    if not path.is_file():
        return {}
    return {entry["name"]: entry["why"] for entry in tomllib.loads(path.read_text(encoding="utf-8")).get("finding", [])}


def print_summary(results: list[Result], out=sys.stdout) -> None:
    by_set = collections.defaultdict(list)
    for result in results:
        by_set[result.set].append(result)
    for set_name, members in by_set.items():
        counts = collections.Counter(_code_label(r.exit_code) for r in members)
        total_seconds = sum(r.seconds for r in members)
        print(f"{set_name}: {len(members)} cases, {total_seconds:.0f} s of adcheck", file=out)
        for code in sorted(counts, key=lambda c: (c == "timeout", c)):
            meaning = EXIT_MEANINGS.get(int(code), "") if code != "timeout" else "killed at the case timeout"
            print(f"  exit {code:>7}: {counts[code]:5d}  {meaning}", file=out)
        statuses = collections.Counter(
            f"{b['name']} {b['status']}" for r in members if r.exit_code != 0 for b in r.backends
            if b["status"] not in ("not-applicable", "unavailable"))
        if statuses:
            print("  backends behind the non-zero exits: "
                  + ", ".join(f"{k}: {v}" for k, v in statuses.most_common()), file=out)
        # Every case is correct code: a finding of severity error or warning on it is a false finding.
        codes = collections.Counter(f.split()[0] for r in members for f in r.findings)
        print(f"  findings of severity error or warning: {sum(codes.values())}"
              + (" (" + ", ".join(f"{k}: {v}" for k, v in sorted(codes.items())) + ")" if codes else ""), file=out)
    searched = [r for r in results if r.search is not None]
    if searched:
        total = collections.Counter()
        known = load_search_findings()
        for r in searched:
            total["tried"] += r.search["tried"]
            total["outside the domain"] += r.search["skipped"]["outside_domain"]
            total["unverifiable"] += r.search["skipped"]["unverifiable"]
            total["flagged by the screen"] += r.search["screen_failures"]
            total["failures found"] += r.search["failure"] is not None
            total["true"] += r.search["failure"] is not None and r.name in known
        print(f"searched: {len(searched)} cases, {total['tried']} inputs; skipped {total['outside the domain']} "
              f"outside the function's domain and {total['unverifiable']} that nothing could verify; "
              f"{total['flagged by the screen']} flagged by the screen; {total['failures found']} failures found: "
              f"{total['true']} true (search_findings.toml), {total['failures found'] - total['true']} "
              f"false accusations", file=out)
        for r in searched:
            if r.search["failure"] is not None:
                failure = r.search["failure"]
                kind = f"true: {known[r.name]}" if r.name in known else "FALSE ACCUSATION (not in search_findings.toml)"
                print(f"  {r.set}/{r.name}: search: {', '.join(failure['backends'])} {failure['status']} at "
                      f"{failure['entry']} for {failure['input_line']}\n      {kind}", file=out)
    failing = [r for r in results if r.exit_code != 0]
    if failing:
        print(file=out)
    for result in failing:
        print(f"{result.set}/{result.name}  exit {_code_label(result.exit_code)}  {result.target}", file=out)
        print(f"    {result.reason or '(no reason given)'}", file=out)
    flagged = [r for r in results if r.findings]
    if flagged:
        print(file=out)
    for result in flagged:
        print(f"{result.set}/{result.name}  findings on correct code:", file=out)
        for finding in result.findings:
            print(f"    {finding[:300]}", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=("corpus", "autograd", "all"), default="all")
    parser.add_argument("--list", action="store_true", help="print the cases, run nothing")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="cases at once (each runs several workers)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_CASE_TIMEOUT_S, help="seconds per case")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the per-case results here")
    parser.add_argument("--match", action="append", default=[], metavar="TEXT",
                        help="only cases whose name contains TEXT (repeatable: any)")
    parser.add_argument("--complex", action="store_true",
                        help="autograd set: only calls with complex inputs or outputs")
    parser.add_argument("--via", choices=("check_grads", "combo_check", "all"), default="all",
                        help="autograd set: only calls made directly / through combo_check")
    parser.add_argument("--limit", type=int, help="at most this many cases per set (in manifest order)")
    parser.add_argument("--corpus-manifest", type=Path, default=CORPUS_MANIFEST)
    parser.add_argument("--autograd-manifest", type=Path, default=AUTOGRAD_MANIFEST)
    parser.add_argument("--adcheck", help="the adcheck command (default: adcheck beside this Python)")
    parser.add_argument("--adcheck-src", metavar="DIR",
                        help="run `python -m adcheck` with DIR first on PYTHONPATH (e.g. a `git archive` of a commit)")
    parser.add_argument("--batch", type=int, metavar="N",
                        help="run cases N at a time in one `adcheck check` (those with --input files only; "
                             "-j: cases at once within it)")
    parser.add_argument("--search", type=int, metavar="N",
                        help="also search N more inputs of each case (adcheck run --search N)")
    args = parser.parse_args(argv)

    cases: list[Case] = []
    if args.set in ("corpus", "all"):
        cases += load_corpus(args.corpus_manifest)[:args.limit]
    if args.set in ("autograd", "all"):
        cases += load_autograd(args.autograd_manifest, args.via)[:args.limit]
    if args.match:
        cases = [c for c in cases if any(text in c.name for text in args.match)]
    if args.complex:
        cases = [c for c in cases if "; complex input" in c.note or "; complex output" in c.note]

    if args.search:
        from dataclasses import replace

        cases = [replace(c, arguments=(*c.arguments, "--search", str(args.search))) for c in cases]
        # A search's inputs come from the seed alone: no example database carried over between runs.
        os.environ["ADCHECK_SEARCH_DATABASE"] = ""
    adcheck, env = adcheck_command(args)
    if args.list:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `--list | head` ends quietly
        for case in cases:
            print(f"{case.set}/{case.name}\t{shlex.join(case.command(adcheck)[len(adcheck):])}\t# {case.note}")
        print(f"{len(cases)} cases", file=sys.stderr)
        return 0

    started = time.monotonic()
    done = 0

    def report_progress(result: Result) -> None:
        nonlocal done
        done += 1
        print(f"[{done}/{len(cases)}] exit {_code_label(result.exit_code)} {result.seconds:6.1f} s  "
              f"{result.set}/{result.name}", file=sys.stderr, flush=True)

    if args.batch:
        finished = run_batched(cases, args.batch, adcheck, env, args, report_progress)
    else:
        results: list[Result | None] = [None] * len(cases)
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = {pool.submit(run_case, case, adcheck, env, args.timeout): i for i, case in enumerate(cases)}
            for future in concurrent.futures.as_completed(futures):
                results[futures[future]] = result = future.result()
                report_progress(result)
        finished = [r for r in results if r is not None]
    print(f"{len(finished)} cases in {time.monotonic() - started:.0f} s with {shlex.join(adcheck)}\n",
          file=sys.stderr)
    print_summary(finished)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in finished], indent=1) + "\n", encoding="utf-8")
        print(f"\nper-case results: {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
