"""Golden reports: what adcheck says about each fixture, held fixed while the code is reshaped.

Each case runs ``adcheck run ... --format json`` and keeps the parts of the report that are
exact on every machine: the verdict, each backend's status and counts, which entries disagree
or stay inconclusive (by name), the findings (code, line, severity), the sentences. Float values
are left out (their last digits depend on the BLAS and the CPU), except the reference's and the
backends' Jacobians of the cases whose entries are exact small numbers, rounded to 6 digits.

To accept a deliberate change of behaviour: ``ADCHECK_UPDATE_GOLDEN=1 pytest tests/test_golden_reports.py``,
then read the diff of tests/golden/ before committing it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from conftest import FIXTURES, invoke

GOLDEN = Path(__file__).resolve().parent / "golden"

# (name, target relative to fixtures/, --input values, extra options)
CASES = [
    ("cumprod", "cumprod.py:ac_cumprod", ["[1,2,3]"], []),
    ("stateful", "stateful.py:shared_cumprod", ["[1,2,3]"], []),
    ("wrong_rule_jax", "wrong_rules.py:sin_sum", ["[0.3, 1.2, -0.7]"], []),
    ("wrong_rule_autograd", "wrong_rules_autograd.py:exp_sum", ["[0.3, 1.2, -0.7]"], []),
    ("kink_abs", "kinks.py:absolute", ["[0.0, 1.0, -2.0]"], []),
    ("nan_where", "nan_where.py:safe_sqrt", ["[0.0, 4.0]"], []),
    ("own_noise", "own_noise.py:half_angle", ["[1e-5, 1e-3, 0.5]"], []),
    ("hostile_cos_far", "fd_hostile.py:cos_far", ["[1000.5, -2000.25]"], []),
    ("hostile_sqrt_tiny", "fd_hostile.py:sqrt_tiny", ["[1e-12, 4e-12]"], []),
    ("scaled_tiny_wrong", "scaled_rules.py:tiny_wrong", ["[0.5, 1.5]"], []),
    ("scaled_huge_right", "scaled_rules.py:huge_right", ["[0.5, 1.5]"], []),
    ("pytree_wrong_bias", "pytrees.py:loss_with_wrong_bias_rule",
     ['{"w": [[0.5, -0.2], [0.1, 0.3]], "b": [0.1, -0.1]}', '[[1.0, 2.0], [-1.0, 0.5]]'],
     []),
    ("multi_arg", "multi_arg.py:scaled", ["[1.0, 2.0]", "3.0"], []),
    ("torch_module", "torch_modules.py:make_model", [], ["--random", "4x2"]),
]

EXACT_JACOBIANS = {"cumprod", "kink_abs", "multi_arg"}


def _entry(entry: dict) -> dict:
    return {"name": entry.get("name"), "entry": entry.get("entry")}


def project(report: dict, exact: bool) -> dict:
    """The machine-independent part of a JSON report."""
    backends = []
    for b in report["backends"]:
        row = {key: b.get(key) for key in ("name", "status", "message", "location", "worst_entry_name",
                                             "nonfinite_entries", "kink_entries", "kinks",
                                             "inconclusive_entries", "consensus_only_entries") if key in b}
        row["message"] = _unnumbered(row.get("message") or "")
        row["mismatches"] = [_entry(e) for e in b.get("mismatches", [])]
        row["inconclusive"] = [_entry(e) for e in b.get("inconclusive", [])]
        backends.append(row)
    projected = {
        "verdict": report.get("verdict"),
        "framework": report.get("framework"),
        "inputs": report.get("inputs"),
        "outputs": report.get("outputs"),
        "odd_one_out": report.get("odd_one_out"),
        "consensus": report.get("consensus"),
        "backends": backends,
        "findings": sorted((f["code"], f["severity"], Path(f["path"]).name, f["line"], f.get("explains", []))
                           for f in report.get("findings", [])),
        "notes": [_unnumbered(n) for n in report.get("notes", [])],
    }
    if exact:
        projected["jacobians"] = {name: [[round(v, 6) if isinstance(v, float) else v for v in row] for row in jac]
                                  for name, jac in report.get("jacobians", {}).items()}
    return projected


_NUMBER = re.compile(r"[-+]?\d+\.\d+(?:e[-+]?\d+)?|[-+]?\d+e[-+]?\d+")


def _unnumbered(text: str) -> str:
    """A sentence with its measured numbers (errors, seconds, values) replaced by '#'; counts stay."""
    return _NUMBER.sub("#", text)


@pytest.mark.parametrize("name,target,inputs,options", CASES, ids=[c[0] for c in CASES])
def test_golden_report(name, target, inputs, options):
    args = ["run", str(FIXTURES / target)]
    for value in inputs:
        args += ["--input", value]
    result = invoke(*args, *options, "--format", "json", "--no-timings")
    report = json.loads(result.stdout)
    report["target"] = target
    actual = {"exit_code": result.exit_code, **project(report, name in EXACT_JACOBIANS)}
    path = GOLDEN / f"{name}.json"
    text = json.dumps(actual, indent=1, sort_keys=True) + "\n"
    if os.environ.get("ADCHECK_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"no golden report for {name}: run with ADCHECK_UPDATE_GOLDEN=1 and read it"
    assert json.loads(text) == json.loads(path.read_text()), f"{name}: the report changed (see {path})"
