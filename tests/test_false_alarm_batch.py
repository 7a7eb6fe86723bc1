"""benchmarks/false_alarms/run.py --batch: cases written as [[tool.adcheck.case]] tables must reach
adcheck check with the inputs the subprocess route gives them (the same bits, the same dtype), and
each case's report in the check's JSON must be classified as ``adcheck run`` would exit on it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

from adcheck.config import load_project

RUN_PY = Path(__file__).resolve().parents[1] / "benchmarks" / "false_alarms" / "run.py"


def _run_module():
    if "false_alarms_run" in sys.modules:
        return sys.modules["false_alarms_run"]
    spec = importlib.util.spec_from_file_location("false_alarms_run", RUN_PY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_batch_chunk_reads_back_the_npz_inputs_bit_for_bit(tmp_path):
    run = _run_module()
    rng = np.random.default_rng(3)
    real = rng.normal(size=(2, 3)) * 10.0 ** rng.integers(-300, 300, size=(2, 3))
    complex_ = rng.normal(size=(3,)) + 1j * rng.normal(size=(3,))
    tiny = np.array(5e-324)
    np.savez(tmp_path / "case_a.npz", real, complex_, tiny)
    (tmp_path / "case_a.py").write_text("def case(x, z, t):\n    return x.sum() + z.sum() + t\n")
    case = run.Case("autograd", "a", f"{tmp_path / 'case_a.py'}:case", ("--input", f"@{tmp_path / 'case_a.npz'}"), "")

    arrays = run.batch_inputs(case)
    config = tmp_path / "chunk" / "pyproject.toml"
    run.write_chunk([(case, arrays)], config)
    (loaded,) = load_project([], pyproject=config).cases

    assert len(loaded.arguments) == 3
    for given, read in zip((real, complex_, tiny), loaded.arguments):
        assert read.dtype == given.dtype and read.shape == given.shape
        assert read.tobytes() == given.tobytes()


def test_batch_leaves_out_inputs_toml_cannot_carry(tmp_path):
    run = _run_module()
    np.savez(tmp_path / "f32.npz", np.ones(3, dtype=np.float32))
    np.savez(tmp_path / "named.npz", w=np.ones(3))
    np.save(tmp_path / "ok.npy", np.ones(3))
    assert run.batch_inputs(run.Case("s", "f32", "f.py:f", ("--input", f"@{tmp_path / 'f32.npz'}"), "")) is None
    assert run.batch_inputs(run.Case("s", "named", "f.py:f", ("--input", f"@{tmp_path / 'named.npz'}"), "")) is None
    assert run.batch_inputs(run.Case("s", "json", "f.py:f", ("--input", "[1.0, 2.0]"), "")) is None
    assert run.batch_inputs(run.Case("s", "random", "f.py:f", ("--random", "3", "--seed", "0"), "")) is None
    with_search = ("--input", f"@{tmp_path / 'ok.npy'}", "--search", "10")
    assert run.batch_inputs(run.Case("s", "search", "f.py:f", with_search, "")) is None
    assert run.batch_inputs(run.Case("s", "ok", "f.py:f", ("--input", f"@{tmp_path / 'ok.npy'}"), "")) is not None


def test_batch_classifies_each_case_as_adcheck_run_exits():
    run = _run_module()

    def report(name, status):
        return {"target": f"/w/{name}.py:case", "verdict": "x", "inputs": [{"index": 0}],
                "backends": [{"name": "autograd", "status": status, "message": ""}]}

    check = {"cases": [report("case_ok", "agree"), report("case_bad", "disagree"), report("case_known", "disagree"),
                       report("case_none", "error")],
             "failures": [{"case": "/w/case_bad.py:case", "baselined": False},
                          {"case": "/w/case_known.py:case", "baselined": True}],
             "broken": [{"case": "/w/case_none.py:case", "message": "no AD backend could run the function"}]}
    codes = {}
    for r in check["cases"]:
        name = Path(r["target"].rpartition(":")[0]).stem
        case = run.Case("autograd", name, f"w/{name}.py:case", (), "")
        codes[name] = run._result_from_check(case, r, check, "adcheck check", 1.0).exit_code
    assert codes == {"case_ok": 0, "case_bad": 1, "case_known": 0, "case_none": 2}
