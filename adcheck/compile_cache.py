"""JAX's persistent compilation cache, in the user's cache directory.

adcheck runs JAX op by op (see ``frameworks.configure_jax``), so a first run compiles a few dozen
tiny XLA programs — most of a small function's time. With the cache, a rerun on unchanged code
(a CI job, the next case of ``adcheck check``, the next repetition of a benchmark) loads them
instead. The cache key is JAX's own (the program, the flags, the versions), so a stale entry
cannot be used. ``ADCHECK_CACHE_DIR`` moves it; set to an empty string it turns it off.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_directory() -> Path | None:
    configured = os.environ.get("ADCHECK_CACHE_DIR")
    if configured is not None:
        return Path(configured).expanduser() if configured.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "adcheck" / "jax"


def enable_jax_persistent_cache() -> None:
    """Point JAX's compilation cache at our directory and cache every program, however small."""
    directory = cache_directory()
    if directory is None:
        return
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only home: compile as before
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
