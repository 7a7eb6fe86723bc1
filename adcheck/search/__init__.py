"""``--search N``: look for the input where a derivative is wrong, and shrink it to the simplest.

adcheck checks the input it is given; a wrong derivative often lives elsewhere (``jnp.sinc``'s
near 0, a custom rule for negative inputs only, a ``where``-guarded ``sqrt`` at exactly 0).
The search draws up to N more inputs with hypothesis (``strategies``), checks each cheaply, and
lets hypothesis shrink the first failure to the simplest input that still fails.

What each input costs, and why (a search must not cost N whole runs):

1. **Draw.** Hypothesis draws the N inputs first, deterministically from the seed (and replays
   the failures its example database kept from earlier searches first), answering "passes" to
   each so that nothing is computed yet.
2. **Screen.** Every backend's worker, kept warm in a ``WorkerPool`` across the whole search,
   computes its run at a chunk of the inputs in one task (``screen.compute_batch``); the parent
   compares them with the ordinary verdict code. The screen is fast mode's products (random
   JVPs and the dot-product test against FD directional derivatives) where the function has
   more inputs than fast mode has directions, and the whole Jacobian, which is then cheaper, where
   it has fewer. Inputs where the value is NaN/inf or the function raises are the function's
   domain (Stan's rule): skipped and counted, with the edges found (``domain``). Inputs where
   nothing could verify the derivative are skipped and counted too.
3. **Second look.** The inputs of a chunk that fail the screen are judged again, all at once in
   the warm reference worker (``second_look``): the ordinary run's adaptive reference there, and
   where FD alone still accuses, its second witness, compared with the screen's AD runs by the
   ordinary verdict code. What this clears, an ordinary run would clear too.
4. **Confirm.** An input the second look still convicts is checked again as an ordinary run
   (full comparison, the reference's second witnesses, the backends' own rounding noise), without
   the lint and blame; only a failure that run confirms counts. FD alone never accuses.
5. **Shrink.** Hypothesis runs again from the same seed: the inputs it already checked are
   answered from memory, so it reaches the same failure at once and then shrinks it, every
   candidate screened and confirmed as above.
6. **Report.** The shrunk input is checked as an ordinary run, with the lint, the probes and
   blame, and reported in full under the search's summary.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AdcheckError
from ..model import FAILING, Mode, RunReport, SearchFailure, SearchSummary, Status
from .domain import DomainPoint, domain_edges, what_value_is
from .strategies import KINDS, input_strategy, special_values_seen

# Inputs per screen task: a timeout (``--timeout``, per task) then covers a chunk, and a failure
# found in the first chunk spares screening the rest.
SCREEN_CHUNK = 50
# New inputs hypothesis may try while shrinking a failure; past it every new candidate counts as
# passing, so hypothesis stops with the simplest failure found so far.
SHRINK_BUDGET = 150
# Screen failures confirmed by a full comparison before the search gives up on finding a real
# one among them (a function FD cannot settle anywhere would otherwise cost N full runs).
MAX_CONFIRMATIONS = 10


@dataclass(frozen=True)
class Outcome:
    """What one searched input gave."""

    verdict: str  # "pass", "fail", "domain", "unverifiable" or "flagged" (by the screen, not confirmed)
    screen_failed: bool = False
    what: str = ""  # domain: "NaN", "inf" or "raises"
    report: RunReport | None = None  # "fail": the confirming ordinary run
    settled_by: str = "screen"  # "screen", "second look" or "run" (a whole ordinary run); "" while flagged


def database_directory() -> Path | None:
    """Where hypothesis keeps the failing inputs of earlier searches (replayed first): beside
    JAX's compilation cache (``~/.cache/adcheck/hypothesis``; with ``ADCHECK_CACHE_DIR=DIR``,
    ``DIR-hypothesis``; an empty value turns both off). Off under CI (the ``CI`` environment
    variable set), unless ``ADCHECK_SEARCH_DATABASE`` names a directory (empty: off everywhere)."""
    configured = os.environ.get("ADCHECK_SEARCH_DATABASE")
    if configured is not None:
        return Path(configured).expanduser() if configured.strip() else None
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false"):
        return None
    from ..compile_cache import cache_directory

    jax_cache = cache_directory()
    if jax_cache is None:
        return None
    if os.environ.get("ADCHECK_CACHE_DIR"):
        return jax_cache.with_name(jax_cache.name + "-hypothesis")
    return jax_cache.parent / "hypothesis"


class Searcher:
    """One search: the warm workers, the memory of every input checked, the counts."""

    def __init__(self, prepared, settings, pool, seed: int):
        from ..fast import probe_vectors
        from ..run import plan
        from ..settings import choose_mode

        self.prepared, self.settings, self.pool = prepared, settings, pool
        target, arguments = prepared.target, prepared.arguments
        self.target, self.arguments = target, arguments
        self.seed = seed
        self.given = arguments.flat()
        # The screen: fast mode's products where they are fewer than the Jacobian's columns.
        n_directions = probe_vectors(arguments.n_inputs, 1, complex_columns=arguments.complex_columns).directions.shape[1]
        self.mode = Mode.FAST if arguments.n_inputs > n_directions else Mode.FULL
        if choose_mode(settings.mode, arguments.n_inputs) == Mode.FAST:
            self.mode = Mode.FAST
        from ..loader import module_layout

        self.work = plan(target, arguments, prepared.summary.framework,
                         dataclasses.replace(settings, contexts=(), order=1), self.mode,
                         module_layout(target).installed)
        self.memo: dict[bytes, Outcome] = {}
        self.kinds: Counter = Counter()
        self.order: list[np.ndarray] = []
        self.specials: set[str] = set()
        self.screen_failures = 0
        self.second_looks = 0  # flagged inputs the second look asked a witness about
        self.confirmations = 0  # whole ordinary runs, for inputs the second look still convicted
        self.first_failure: int | None = None
        self.shrink_calls = 0
        self.shrinking = False
        self.internal_error: BaseException | None = None
        self.searched = 0  # inputs checked before shrinking (shrinking's own are ``shrink_calls``)
        self.searched_kinds: Counter = Counter()

    # --- checking inputs ------------------------------------------------------------------------

    def check(self, inputs: list[tuple[frozenset, np.ndarray]]) -> list[Outcome]:
        """The outcome of each (kinds, flat input), screening the new ones in one task per backend."""
        from ..run import worker_lanes
        from ..task import Batch
        from ..workers import run_tasks

        fresh, seen = [], set()
        for kinds, flat in inputs:
            key = flat.tobytes()
            if key not in self.memo and key not in seen:
                seen.add(key)
                fresh.append((kinds, flat))
        if fresh:
            batch = tuple(flat for _, flat in fresh)
            tasks = [dataclasses.replace(task, job=Batch(batch), probes=False) for task in self.work.tasks]
            results = {run.name: run for run in run_tasks(tasks, self.settings.timeout, pool=self.pool,
                                                          lane=worker_lanes(tasks, pooled=True))}
            screened = []
            for index, (kinds, flat) in enumerate(fresh):
                runs = [self._run_at(results.get(name), name, index) for name in self.work.order]
                self.kinds.update(kinds)
                self.order.append(flat)
                self.specials |= special_values_seen(flat, self.given)
                screened.append((flat, runs, len(self.order), *self._screen(flat, runs)))
            flagged = [(flat, runs, witness) for flat, runs, _, outcome, witness in screened
                       if outcome.verdict == "flagged"]
            looked = iter(self._second_look(flagged))
            for flat, _, position, outcome, _ in screened:  # in order: the first failure is the first confirmed
                if outcome.verdict == "flagged":
                    outcome = next(looked)
                    if outcome.verdict == "flagged":  # the second look still convicts: a whole run decides
                        outcome = self._confirm(flat)
                self.memo[flat.tobytes()] = outcome
                if outcome.verdict == "fail" and self.first_failure is None:
                    self.first_failure = position
        return [self.memo[flat.tobytes()] for _, flat in inputs]

    def _run_at(self, result, name: str, index: int):
        """Backend ``name``'s run at the batch's input ``index``: its own row, the row of the whole
        task when that failed (a timeout, a crash: for the reference, nothing is known there), or
        the planned row of a backend that does not run."""
        if result is None:
            return self.work.skipped[name]
        if result.batch:
            return result.batch[index]
        if name == "fd":
            return dataclasses.replace(result.as_row(), status=Status.NOT_APPLICABLE)
        return result.as_row()

    def _screen(self, flat: np.ndarray, runs) -> tuple[Outcome, object]:
        """The screen's outcome at ``flat``, and for a "flagged" one (an AD backend outside the
        quick reference's error bar, or failing) the second witness the second look asks for
        (None where no witness can clear it)."""
        from .second_look import PASS, SUSPECT, compared, verdict

        reference = next(run for run in runs if run.name == "fd")
        if reference.status == Status.ERROR:
            return Outcome("domain", what="raises"), None  # the plain function raises here
        if reference.status != Status.REFERENCE:
            return Outcome("unverifiable"), None
        what = what_value_is(reference.value)
        if what:
            return Outcome("domain", what=what), None
        if reference.reference is not None and reference.reference.impure:
            return Outcome("unverifiable"), None
        comparison, witness = compared(runs, flat, self.mode, self.settings, self.arguments)
        said = verdict(comparison)
        if said == SUSPECT:
            self.screen_failures += 1
            return Outcome("flagged", screen_failed=True, settled_by=""), witness
        return Outcome("pass" if said == PASS else "unverifiable"), None

    def _second_look(self, flagged: list[tuple[np.ndarray, list, object]]) -> list[Outcome]:
        """The outcome of each input the screen flagged, by the second witness along what FD alone
        accused, in the warm reference worker (``second_look``): settled, or still "flagged"."""
        from .second_look import PASS, SUSPECT, second_look

        self.second_looks += sum(witness is not None for _, _, witness in flagged)
        verdicts = second_look(self.work, flagged, self.mode, self.settings, self.arguments, self.pool)
        return [Outcome("flagged", screen_failed=True, settled_by="") if said == SUSPECT
                else Outcome("pass" if said == PASS else "unverifiable", screen_failed=True,
                             settled_by="second look")
                for said in verdicts]

    def _confirm(self, flat: np.ndarray) -> Outcome:
        """An ordinary run at ``flat`` (no lint, no blame), for an input the second look still
        convicts: a failure only when it confirms one."""
        from ..run import check_target

        if not self.shrinking and (self.first_failure is not None or self.confirmations >= MAX_CONFIRMATIONS):
            # The search has its failure, or has tried enough.
            return Outcome("flagged", screen_failed=True, settled_by="")
        self.confirmations += 1
        quiet = dataclasses.replace(self.settings, lint=False, blame=False, contexts=())
        try:
            report = check_target(self.prepared.at(flat), quiet, pool=self.pool)
        except AdcheckError:  # the function cannot be called there after all: its domain
            return Outcome("domain", screen_failed=True, what="raises", settled_by="run")
        if _failing_backends(report):
            return Outcome("fail", screen_failed=True, report=report, settled_by="run")
        if report.run("fd") is not None and what_value_is(report.run("fd").value):
            return Outcome("domain", screen_failed=True, what=what_value_is(report.run("fd").value),
                           settled_by="run")
        checked = any(v.status in (Status.AGREE, Status.KINK) for v in report.comparison.verdicts)
        return Outcome("pass" if checked else "unverifiable", screen_failed=True, settled_by="run")

    # --- the hypothesis side ----------------------------------------------------------------------

    def _flat(self, drawn) -> tuple[frozenset, np.ndarray]:
        kinds, leaves = drawn
        flat = np.concatenate([np.asarray(leaf, dtype=self.given.dtype).ravel() for leaf in leaves])
        return kinds, flat

    def _hypothesis(self, condition, count: int, shrink: bool, database) -> object | None:
        """``hypothesis.find`` over this search's strategy from the seed: the simplest draw for
        which ``condition`` holds, or None."""
        import random

        from hypothesis import HealthCheck, Phase, Verbosity, find, settings
        from hypothesis.errors import NoSuchExample

        phases = (Phase.explicit, Phase.reuse, Phase.generate) + ((Phase.shrink,) if shrink else ())
        options = settings(max_examples=count, deadline=None, database=database, phases=phases,
                           suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet)
        strategy = input_strategy(self.arguments.differentiated)
        try:
            return find(strategy, condition, settings=options, random=random.Random(self.seed),
                        database_key=self._database_key())
        except NoSuchExample:
            return None

    def _database_key(self) -> bytes:
        """The function, the shapes and dtypes searched, and the given input: a database entry
        replays only into the search it was found by."""
        info = [(leaf.value.shape, leaf.value.dtype.str) for leaf in self.arguments.differentiated]
        text = json.dumps([self.target.text, repr(info), self.given.tobytes().hex(), list(KINDS)])
        return hashlib.sha256(text.encode()).digest()

    def run(self, count: int, database) -> tuple[np.ndarray | None, int]:
        """Search ``count`` inputs; the shrunk failing input (or None) and the shrink's calls."""
        if not self.find_first(count, database):
            return None, 0
        return self.shrink(count, database)

    def find_first(self, count: int, database) -> bool:
        """Draw ``count`` inputs and screen them a chunk at a time, up to the first confirmed failure."""
        drawn: list[tuple[frozenset, np.ndarray]] = []
        distinct = _Distinct()

        def record(value) -> bool:
            kinds, flat = self._flat(value)
            distinct.require(flat)
            drawn.append((kinds, flat))
            return False  # nothing is computed while drawing: every draw "passes"

        self._hypothesis(record, count, False, database)
        for start in range(0, len(drawn), SCREEN_CHUNK):
            self.check(drawn[start:start + SCREEN_CHUNK])
            if self.first_failure is not None:
                break
        self.searched, self.searched_kinds = len(self.order), Counter(self.kinds)  # before shrinking adds any
        return self.first_failure is not None

    def shrink(self, count: int, database) -> tuple[np.ndarray, int]:
        """Hypothesis again from the seed, to the first failure (the inputs checked are answered
        from memory) and on to the simplest input that still fails; the shrink's new inputs."""
        self.shrinking = True
        distinct = _Distinct()

        def fails(value) -> bool:
            kind, flat = self._flat(value)
            if not distinct.failed:
                distinct.require(flat)  # as while drawing, so that the same draws come in the same order
            known = self.memo.get(flat.tobytes())
            if known is None or known.verdict == "flagged":  # new, or flagged and never confirmed
                if self.internal_error is not None or self.shrink_calls >= SHRINK_BUDGET:
                    return False
                self.shrink_calls += 1
                try:
                    if known is None:
                        self.check([(kind, flat)])
                    else:
                        self.memo[flat.tobytes()] = self._confirm(flat)
                except (AdcheckError, OSError) as exc:  # ours, not the input's: stop, and say so after
                    self.internal_error = exc
                    return False
            failed = self.memo[flat.tobytes()].verdict == "fail"
            distinct.failed = distinct.failed or failed  # from here on hypothesis shrinks: repeats are its own
            return failed

        found = self._hypothesis(fails, count, True, database)
        if self.internal_error is not None:
            raise self.internal_error
        if found is not None:
            return self._flat(found)[1], self.shrink_calls
        first = next(flat for flat in self.order if self.memo[flat.tobytes()].verdict == "fail")
        return first, self.shrink_calls


class _Distinct:
    """Hypothesis draws the same simple input (all zeros) many times early on; a repeat is
    rejected (``assume``), so it counts neither towards N nor as an input tried."""

    def __init__(self):
        self.seen: set[bytes] = set()
        self.failed = False

    def require(self, flat: np.ndarray) -> None:
        from hypothesis import assume

        key = flat.tobytes()
        assume(key not in self.seen)
        self.seen.add(key)


def _failing_backends(report: RunReport) -> list:
    return [v for v in report.comparison.verdicts if v.name != "fd" and v.status in FAILING]


def search(prepared, settings, pool, *, count: int, seed: int = 0) -> SearchSummary:
    """Check up to ``count`` more inputs of the ``prepare.Prepared`` target (see the module
    docstring); never prints."""
    from ..run import check_target

    start = time.perf_counter()
    settings = settings.resolved()
    directory = database_directory()
    database = None
    if directory is not None:
        from hypothesis.database import DirectoryBasedExampleDatabase

        database = DirectoryBasedExampleDatabase(str(directory))
    arguments = prepared.arguments
    searcher = Searcher(prepared, settings, pool, seed)
    shrunk, shrink_calls = searcher.run(count, database)

    failure = None
    if shrunk is not None:
        report = check_target(prepared.at(shrunk), settings, pool=pool)
        failing = _failing_backends(report) or _failing_backends(searcher.memo[shrunk.tobytes()].report)
        worst = next((v for v in failing if v.worst_entry is not None), None)
        entry = report.entry_name(*worst.worst_entry) if worst is not None else ""
        failure = SearchFailure(
            flat=shrunk, input_args=argument_json(arguments.at(shrunk)), backends=tuple(v.name for v in failing),
            entry=entry, status=str(failing[0].status) if failing else "disagree",
            found_after=searcher.first_failure or 0, shrink_calls=shrink_calls, report=report)

    searched = searcher.order[:searcher.searched]  # the counts: before shrinking; the domain: every input seen
    outcomes = [searcher.memo[flat.tobytes()] for flat in searched]
    every = [(flat, searcher.memo[flat.tobytes()]) for flat in searcher.order]
    outside = [DomainPoint(flat, o.what) for flat, o in every if o.verdict == "domain"]
    inside = [flat for flat, o in every if o.verdict != "domain"]
    magnitudes = np.abs(np.concatenate(searched)) if searched else np.zeros(0)
    magnitudes = magnitudes[magnitudes > 0]
    return SearchSummary(
        requested=count, seed=seed, tried=searcher.searched,
        by_kind=tuple((kind, searcher.searched_kinds[kind]) for kind in KINDS if searcher.searched_kinds[kind]),
        outside_domain=len(outside), unverifiable=sum(o.verdict == "unverifiable" for o in outcomes),
        screen_failures=sum(o.screen_failed for o in outcomes), confirmed=sum(o.verdict == "fail" for o in outcomes),
        magnitudes=(float(magnitudes.min()), float(magnitudes.max())) if magnitudes.size else None,
        specials=tuple(sorted(searcher.specials)),
        domain_edges=domain_edges(outside, inside, arguments.column_name),
        failure=failure, database=str(directory) if directory is not None else "",
        seconds=time.perf_counter() - start)


def argument_json(arguments) -> tuple[str, ...]:
    """One JSON text per positional argument (a torch module's parameters excepted), as
    ``--input`` reads it back: the shortest decimal that gives each value exactly."""

    def tree(value):
        if isinstance(value, dict):
            return {key: tree(child) for key, child in value.items()}
        if isinstance(value, tuple):
            return {"$tuple": [tree(child) for child in value]}
        if isinstance(value, list):
            return {"$list": [tree(child) for child in value]}
        array = np.asarray(value)
        if array.dtype.kind == "c":  # {"$complex": [re, im]} leaves
            from ..complex_numbers import encode_json

            return encode_json(array)
        if array.dtype.kind == "f":
            return _shortest(array)
        return array.tolist()

    values = arguments.values[1:] if arguments.module_target else arguments.values
    return tuple(json.dumps(tree(value)) for value in values)


def _shortest(array: np.ndarray):
    """Nested lists of Python floats that print as the array's own shortest round-trip decimals."""
    if array.ndim == 0:
        return float(str(array.item() if array.dtype == np.float64 else array[()]))
    return [_shortest(row) for row in array]
