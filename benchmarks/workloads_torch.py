"""The benchmark workloads written with torch operations, as module-level functions adcheck can
load (``adcheck run benchmarks/workloads_torch.py:NAME``): the torch builds that
``torch.autograd.gradcheck`` is compared on."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workloads import make_torch  # noqa: E402

_BUILT = make_torch(torch)

loop_cumprod_100 = _BUILT["loop_cumprod_100"]
loop_cumprod_1000 = _BUILT["loop_cumprod_1000"]
sin_gauss_1000 = _BUILT["sin_gauss_1000"]
mlp_loss = _BUILT["mlp_loss"]
