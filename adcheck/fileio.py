"""Writing files so that nothing the user had is lost.

Every file adcheck writes (the baseline, ``--output``) goes to a temporary file beside its
destination and is renamed into place: a full disk, a read-only directory or a kill half-way
leaves the old file exactly as it was, never a fragment or an empty file. And an output path that
names one of the run's inputs is refused before anything is written.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

from .errors import AdcheckError

_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EFBIG: "the file is larger than this process may write (ulimit -f)",
    errno.EROFS: "the file system is read-only",
}


def write_text_atomic(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> None:
    """Replace ``path``'s contents with ``text``, all at once or not at all.

    The text goes to a temporary file in the same directory (so the rename stays on one file
    system and is atomic), is flushed and fsynced, then ``os.replace``d over ``path``. On any
    error the temporary file is removed and an ``AdcheckError`` names the path and the reason; the
    original file is untouched. A replaced file keeps its permission bits; a new one gets the
    usual ones (0o666 less the umask). A symbolic link is written through: the file it points
    to is replaced, and the link stays.
    """
    destination = Path(os.path.realpath(path))
    directory = destination.parent
    try:
        mode = stat.S_IMODE(os.stat(destination).st_mode)
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise _write_error(path, exc, directory) from None
    temporary = None
    try:
        descriptor, temporary = _create_beside(destination)
        with open(descriptor, "w", encoding=encoding) as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, destination)
        temporary = None
    except OSError as exc:
        raise _write_error(path, exc, directory, existed=mode is not None) from None
    finally:
        if temporary is not None:  # any failure, KeyboardInterrupt included
            try:
                os.unlink(temporary)
            except OSError:
                pass
    _sync_directory(directory)


def _create_beside(destination: Path) -> tuple[int, str]:
    """A new, empty file next to ``destination``, open for writing.

    Not ``tempfile.mkstemp``: that creates the file with mode 0o600, and a new output would keep
    it. ``os.open`` with 0o666 lets the kernel apply the umask, as for any file the user creates.
    The leading dot keeps a file left by a kill out of ``ls`` and out of globs such as ``*.json``.
    """
    for _ in range(100):
        name = destination.parent / f".{destination.name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666), str(name)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(destination.parent))


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable. Best effort: not every system can open a directory."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _write_error(path, exc: OSError, directory: Path, existed: bool = False) -> AdcheckError:
    if isinstance(exc, FileNotFoundError) and not directory.is_dir():
        reason = f"the directory {directory} does not exist"
    elif isinstance(exc, PermissionError):
        reason = f"no permission to write in {directory}"
    elif isinstance(exc, IsADirectoryError):
        reason = "it is a directory"
    else:
        reason = _REASONS.get(exc.errno) or exc.strerror or str(exc) or type(exc).__name__
    return AdcheckError(f"cannot write {os.fspath(path)}: {reason}",
                        hint="the existing file is unchanged" if existed else None)


def refuse_overwriting_inputs(output: str | os.PathLike, inputs: Iterable[str | os.PathLike | None], *,
                              option: str = "output") -> None:
    """Raise ``AdcheckError`` (exit 2) when ``output`` is the same file as one of ``inputs``.

    Compares resolved paths (``./x`` and ``x``, a symbolic link and its target) and, where both
    exist, ``os.path.samefile`` (hard links, bind mounts, case-insensitive file systems). ``-``
    (standard input or output) and ``None`` are not files and never match.
    """
    if os.fspath(output) == "-":
        return
    for candidate in inputs:
        if candidate is None or os.fspath(candidate) == "-":
            continue
        if _same_file(Path(output), Path(candidate)):
            raise AdcheckError(
                f"{option} {os.fspath(output)} is the input file {os.fspath(candidate)}; refusing to overwrite it",
                hint="write the output to another path" if option == "output" else f"give {option} another path",
            )


def _same_file(first: Path, second: Path) -> bool:
    try:
        if first.resolve() == second.resolve():
            return True
    except (OSError, RuntimeError):  # a symlink loop
        pass
    try:
        return os.path.samefile(first, second)
    except OSError:  # one of them does not exist (yet)
        return False


# Reading the JSON files a user hands adcheck (baselines, shard reports): no adcheck file nests
# deeper than a handful of levels (a report's Jacobian rows sit at depth 7), so 64 is generous, and
# it is far below the depth at which Python's decoder runs out of stack.
MAX_JSON_DEPTH = 64
MAX_JSON_BYTES = 1 << 30  # 1 GiB: a 200-case report with every Jacobian is tens of megabytes


class TooDeep(ValueError):
    """A JSON document nested deeper than ``MAX_JSON_DEPTH`` (or than the decoder could go)."""


def decode_json(text: str):
    """``json.loads`` within ``MAX_JSON_DEPTH``: raises ``json.JSONDecodeError`` or ``TooDeep``."""
    import json

    try:
        data = json.loads(text)
    except RecursionError:
        raise TooDeep() from None
    if json_depth(data) > MAX_JSON_DEPTH:
        raise TooDeep()
    return data


def read_json(path: str | os.PathLike, what: str, *, error=AdcheckError):
    """The JSON document in ``path`` (``what`` names it in a message: "the baseline").

    Every failure is one ``error`` (an ``AdcheckError`` type) naming the file: unreadable, not
    UTF-8, not JSON, larger than ``MAX_JSON_BYTES`` or nested deeper than ``MAX_JSON_DEPTH``.
    """
    import json

    shown = os.fspath(path)
    try:
        if os.path.getsize(path) > MAX_JSON_BYTES:
            raise error(f"{shown}: cannot read {what}: larger than {MAX_JSON_BYTES >> 20} MiB")
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{shown}: cannot read {what} ({_reason(exc)})") from None
    try:
        return decode_json(text)
    except json.JSONDecodeError as exc:
        raise error(f"{shown}: cannot read {what}: not valid JSON ({exc})") from None
    except TooDeep:
        raise error(f"{shown}: cannot read {what}: nested more than {MAX_JSON_DEPTH} deep") from None


def json_depth(data) -> int:
    """How deeply lists and objects nest in ``data`` (0 for a number or a string); iterative, so
    any depth the decoder accepted is measured without running out of stack."""
    deepest, stack = 0, [(data, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in item if isinstance(child, (list, dict)))
    return deepest


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(exc, IsADirectoryError):
        return "it is a directory"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
