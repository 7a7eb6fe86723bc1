"""JAX's persistent compilation cache, in the user's cache directory.

adcheck runs JAX op by op (see ``frameworks.configure_jax``), so a first run compiles a few dozen
tiny XLA programs — most of a small function's time. With the cache, a rerun on unchanged code
(a CI job, the next case of ``adcheck check``, the next repetition of a benchmark) loads them
instead. The cache key is JAX's own (the program, the flags, the versions), so a stale entry
cannot be used. ``ADCHECK_CACHE_DIR`` moves it; set to an empty string it turns it off.

The cache heals (``prepare_cache``, once per command, before any worker starts): JAX writes an
entry in place, so a full disk or a kill leaves an empty or truncated file that JAX then fails to
read, warns about and never rewrites, on every run. Such entries are deleted (each entry is
checked once, when it is new). A cache directory that cannot be created, written or that sits on
a full disk turns the cache off for the run, with one line saying so; the run goes on.
"""

from __future__ import annotations

import os
import time
import zlib
from pathlib import Path

ENTRY_SUFFIX = "-cache"  # jax._src.lru_cache: "<key>-cache" holds the entry, "<key>-atime" its last use
ACCESS_SUFFIX = "-atime"
CHECKED_STAMP = ".adcheck-checked"  # entries older than this file's mtime were found whole before
# Below this much free space an entry may be cut short (a few MiB each for large programs).
MIN_FREE_BYTES = 64 << 20
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def cache_directory() -> Path | None:
    configured = os.environ.get("ADCHECK_CACHE_DIR")
    if configured is not None:
        return Path(configured).expanduser() if configured.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "adcheck" / "jax"


def prepare_cache() -> str | None:
    """Make the cache usable before the workers start: delete broken entries, or turn the cache off
    (``ADCHECK_CACHE_DIR=""`` for this process and the workers it starts) when its directory cannot
    be written. Returns the one line to show when the cache was turned off, else None."""
    directory = cache_directory()
    if directory is None:
        return None
    problem = _unusable(directory)
    if problem is not None:
        os.environ["ADCHECK_CACHE_DIR"] = ""
        return f"the JAX compilation cache {directory} {problem}; compiling without it (ADCHECK_CACHE_DIR moves it)"
    discard_broken_entries(directory)
    return None


def _unusable(directory: Path) -> str | None:
    """Why the cache cannot be written, or None."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".adcheck-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return f"cannot be written ({exc.strerror or type(exc).__name__})"
    try:
        stats = os.statvfs(directory)
    except (OSError, AttributeError):  # no statvfs (Windows): assume there is room
        return None
    if stats.f_bavail * stats.f_frsize < MIN_FREE_BYTES:
        return f"is on a full disk (less than {MIN_FREE_BYTES >> 20} MiB free)"
    return None


def discard_broken_entries(directory: Path) -> list[str]:
    """Delete the entries (and their access times) that are empty or not a whole compressed
    stream; the names deleted. Only entries written since the last check are read."""
    stamp = directory / CHECKED_STAMP
    try:
        checked_before = stamp.stat().st_mtime_ns
    except OSError:
        checked_before = 0
    discarded = []
    started = time.time_ns()  # the stamp's time: an entry written during the scan is checked next time
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return discarded
    for entry in entries:
        if not entry.name.endswith(ENTRY_SUFFIX):
            continue
        try:
            info = entry.stat()
            if info.st_mtime_ns <= checked_before and info.st_size > 0:
                continue
            if info.st_size > 0 and is_whole(Path(entry.path).read_bytes()):
                continue
            os.unlink(entry.path)
        except OSError:  # gone meanwhile, or not ours to delete: JAX will say, once
            continue
        discarded.append(entry.name)
        try:
            os.unlink(os.path.join(directory, entry.name.removesuffix(ENTRY_SUFFIX) + ACCESS_SUFFIX))
        except OSError:
            pass
    try:
        stamp.touch()
        os.utime(stamp, ns=(started, started))
    except OSError:
        pass
    return discarded


def is_whole(data: bytes) -> bool:
    """Whether ``data`` is one complete compressed stream, as JAX writes an entry (zlib, or zstd
    where JAX has it). A zstd entry is taken as whole when no zstd module is here to check it."""
    if not data:
        return False
    if data.startswith(ZSTD_MAGIC):
        return _zstd_whole(data)
    decompressor = zlib.decompressobj()
    try:
        while data:  # a bounded output per step: a hostile entry cannot expand without limit here
            decompressor.decompress(data, 1 << 24)
            data = decompressor.unconsumed_tail
    except zlib.error:
        return False
    return decompressor.eof


def _zstd_whole(data: bytes) -> bool:
    try:
        from compression import zstd  # Python 3.14
    except ImportError:
        try:
            import zstandard
        except ImportError:
            return True
        try:
            zstandard.ZstdDecompressor().decompress(data)
        except zstandard.ZstdError:
            return False
        return True
    try:
        zstd.decompress(data)
    except zstd.ZstdError:
        return False
    return True


def enable_jax_persistent_cache() -> None:
    """Point JAX's compilation cache at our directory and cache every program, however small.

    A cache entry JAX cannot read or write is a slower run, not a wrong one: its warnings (one
    per program, dozens a run) are silenced; ``prepare_cache`` already said what was wrong once."""
    directory = cache_directory()
    if directory is None:
        return
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only home: compile as before
        return
    import warnings

    import jax

    warnings.filterwarnings("ignore", message=r"Error (reading|writing) persistent compilation cache entry")
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
