"""A function that is random because of a torch module in training mode says so: the ADC601
finding and the verdict name the module and how to check the function (eval mode, or a seed per
call), instead of "FAIL: fd". Fixture: fixtures/torch_dropout.py."""

from __future__ import annotations

import types

from conftest import FIXTURES, invoke

from adcheck.errors import ExitCode
from adcheck.explain.probes import _random_modules


def test_a_model_with_dropout_in_training_mode_is_reported_random_with_how_to_check_it():
    result = invoke("run", f"{FIXTURES / 'torch_dropout.py'}:loss", "--random", "4", "--no-timings")
    assert result.exit_code == ExitCode.FAILED, result.stderr
    verdict = result.stdout.rstrip().splitlines()[-1]
    assert verdict.startswith("FAIL: the function is random (not deterministic between calls): "
                              "model.1 (Dropout, p=0.2) is in training mode")
    assert "model.eval()" in verdict and "torch.manual_seed" in verdict
    assert "ADC601" in result.stdout and "model.1 (Dropout, p=0.2)" in result.stdout.split("Likely causes:")[1]


def test_only_random_modules_in_training_mode_are_named():
    import torch
    from torch import nn

    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.ReLU(), nn.Dropout(0.0))
    site = types.SimpleNamespace(module=types.SimpleNamespace(model=model, torch=torch), func=lambda x: x,
                                 target=types.SimpleNamespace(attribute="loss"))
    assert _random_modules(site) == ["model.1 (Dropout, p=0.5)"]  # p=0 draws nothing
    model.eval()
    assert _random_modules(site) == []
