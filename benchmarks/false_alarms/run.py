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

With ``--search``, each failure the search finds is marked true where ``search_findings.toml``
lists the case (a real wrong or NaN derivative, with why) and a false accusation otherwise.

The ``autograd`` set comes from ``harvest_autograd.py`` (run it first).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import os
import shlex
import signal
import subprocess
import sys
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
    results: list[Result | None] = [None] * len(cases)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(run_case, case, adcheck, env, args.timeout): i for i, case in enumerate(cases)}
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            index = futures[future]
            results[index] = result = future.result()
            print(f"[{done}/{len(cases)}] exit {_code_label(result.exit_code)} {result.seconds:6.1f} s  "
                  f"{result.set}/{result.name}", file=sys.stderr, flush=True)
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
