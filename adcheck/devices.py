"""Where JAX and PyTorch compute: ``--device cpu|gpu|auto``, resolved before any worker starts.

The parent never imports jax or torch (``adcheck --help`` must stay instant, and a CUDA context
in the parent would be inherited by nothing and cost seconds), so it asks the machine instead:
is an NVIDIA GPU there, and visible to this process? That answer is cheap and can be wrong in
one direction only — a driver without a CUDA-enabled jaxlib or torch — so each worker confirms
it when it starts its framework (``frameworks.configure_jax``/``configure_torch``) and says
in its row what it found instead.

Only NVIDIA GPUs are looked for: they are what JAX's and PyTorch's CUDA builds run on.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import AdcheckError, ExitCode

NVIDIA_DRIVER = Path("/proc/driver/nvidia/gpus")  # one directory per GPU the driver manages
NVIDIA_DEVICE_FILES = Path("/dev")  # /dev/nvidia0, /dev/nvidia1, ... (containers get these)
NVIDIA_SMI_TIMEOUT = 10.0  # seconds: a wedged driver can make nvidia-smi hang


class NoGpu(AdcheckError):
    """``--device gpu`` on a machine where no GPU can be seen."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class GpuSearch:
    """What the cheap look found: ``found`` GPUs, and how (or why none) in words."""

    found: int
    how: str


def _hidden_by_environment() -> str:
    """The reason CUDA_VISIBLE_DEVICES hides every GPU from this process, or ""."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return ""
    if value.strip() in ("", "-1", "none", "NoDevFiles"):
        return f"CUDA_VISIBLE_DEVICES={value!r} hides every GPU"
    return ""


def _nvidia_smi() -> int:
    """The GPUs ``nvidia-smi -L`` lists (0 when it is missing, fails or hangs)."""
    program = shutil.which("nvidia-smi")
    if program is None:
        return 0
    try:
        listed = subprocess.run([program, "-L"], capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT,
                                stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.SubprocessError):
        return 0
    if listed.returncode != 0:
        return 0
    return sum(1 for line in listed.stdout.splitlines() if line.startswith("GPU "))


def search_gpus() -> GpuSearch:
    """Is an NVIDIA GPU visible to this process? From the environment, the driver's files and
    ``nvidia-smi -L``, in that order (cheapest first); nothing here imports jax or torch."""
    hidden = _hidden_by_environment()
    if hidden:
        return GpuSearch(0, hidden)
    try:
        driver = sorted(p.name for p in NVIDIA_DRIVER.iterdir())
    except OSError:
        driver = []
    if driver:
        return GpuSearch(len(driver), f"{len(driver)} in {NVIDIA_DRIVER}")
    try:
        files = [p.name for p in NVIDIA_DEVICE_FILES.iterdir() if re.fullmatch(r"nvidia\d+", p.name)]
    except OSError:
        files = []
    if files:
        return GpuSearch(len(files), f"{len(files)} device file{'s' if len(files) > 1 else ''} in /dev")
    listed = _nvidia_smi()
    if listed:
        return GpuSearch(listed, f"{listed} listed by nvidia-smi -L")
    return GpuSearch(0, f"no NVIDIA driver at {NVIDIA_DRIVER}, no /dev/nvidia* and no nvidia-smi listing a GPU")


@functools.lru_cache(maxsize=1)
def _cached_search() -> GpuSearch:
    # Once per adcheck process: `adcheck check` resolves the device for every case.
    return search_gpus()


def resolve_device(requested: str | None) -> tuple[str, str]:
    """("cpu" or "gpu", a note for the report or "") for ``--device``; ``gpu`` without a GPU
    raises ``NoGpu`` (exit 2, one line). ``auto`` takes the GPU when there is one, else the CPU,
    and says so."""
    requested = requested or "cpu"
    if requested == "cpu":
        return "cpu", ""
    search = _cached_search()
    if requested == "gpu":
        if not search.found:
            raise NoGpu(f"--device gpu: no GPU found: {search.how}",
                        hint="use --device auto to fall back to the CPU")
        return "gpu", ""
    if search.found:
        return "gpu", f"--device auto: JAX and PyTorch computed on the GPU ({search.how})"
    return "cpu", f"--device auto: no GPU found ({search.how}); JAX and PyTorch computed on the CPU"


def gpu_visible() -> bool:
    """The cheap look, for a worker deciding whether starting a GPU runtime is worth trying."""
    return _cached_search().found > 0
