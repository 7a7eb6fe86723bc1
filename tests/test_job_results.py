"""Every job has a result type of its own, and a worker answers each job with that type: when
the job runs, when the user's code raises, when the worker dies and when it times out. A new
job without a declared result type fails here."""

from __future__ import annotations

import textwrap
import typing

import numpy as np
import pytest

from adcheck.fast import LocaliseRow
from adcheck.inputs import promote
from adcheck.loader import parse_target
from adcheck.model import JobResult, Status
from adcheck.task import (
    AtEach,
    Batch,
    Blame,
    Compute,
    Describe,
    Estimate,
    Jitter,
    Job,
    Localise,
    Nearby,
    Task,
    WitnessColumns,
    WitnessDirections,
)
from adcheck.workers import run_tasks

ARGUMENTS = promote([np.array([0.5, 2.0])], (0,))
ROW = LocaliseRow(0, np.array([1.0, 4.0]), np.array([1.0, 0.0]), np.array([0.0, 1.0]))
# One of each job, as the parent asks for it (the reference's measurements name the columns,
# directions and rows they are about).
JOBS = (Compute(), Describe(), Estimate(), Nearby(), Jitter(), WitnessColumns((0,)), WitnessDirections((0,)),
        Localise({"jax-rev": ROW}, 1e-6, 0.0), Batch((np.array([0.5, 2.0]), np.array([1.0, 3.0]))), Blame(),
        AtEach((np.array([0.5, 2.0]), np.array([1.0, 3.0])), (Compute(), WitnessColumns((1,)))))

MODULES = {
    "runs": "def f(x):\n    return x * x\n",
    "raises": "raise ValueError('no module here')\n",
    "dies": "import os\nos._exit(3)\n",
    "hangs": "import time\ntime.sleep(60)\n",
}


def test_every_job_is_tried_here_and_declares_a_result_type_of_its_own():
    assert {type(job) for job in JOBS} == set(typing.get_args(Job))
    for job in JOBS:
        declared = vars(type(job)).get("Result")
        assert isinstance(declared, type) and issubclass(declared, JobResult), type(job).__name__


@pytest.mark.parametrize("module", list(MODULES))
def test_a_worker_answers_each_job_with_its_declared_result_type(tmp_path, module):
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(MODULES[module]))
    target = parse_target(f"{tmp_path / module}.py:f")
    tasks = [Task("fd", target, ARGUMENTS, "numpy", job=job, probes=False) for job in JOBS]
    results = run_tasks(tasks, timeout=3.0 if module == "hangs" else 120.0, jobs=4)
    for job, result in zip(JOBS, results):
        assert type(result) is type(job).Result, type(job).__name__
        assert result.name == "fd"
        if module == "runs" or isinstance(job, Blame):  # (fd has no per-primitive replay: nothing to load)
            assert result.status in (Status.REFERENCE, Status.COMPUTED), (type(job).__name__, result.message)
        else:
            assert result.status == Status.ERROR, type(job).__name__
            assert result.message, type(job).__name__
