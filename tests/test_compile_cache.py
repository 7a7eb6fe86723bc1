"""The JAX compilation cache heals: broken entries are deleted, an unusable directory is one line."""

from __future__ import annotations

import os
import zlib

from adcheck import compile_cache
from adcheck.compile_cache import discard_broken_entries, is_whole, prepare_cache


def entry(directory, name: str, data: bytes) -> None:
    (directory / f"{name}-cache").write_bytes(data)
    (directory / f"{name}-atime").write_bytes(b"\x01")


def test_empty_and_truncated_entries_are_deleted_with_their_access_times_and_whole_ones_kept(tmp_path):
    whole = zlib.compress(b"an executable" * 100)
    entry(tmp_path, "whole", whole)
    entry(tmp_path, "empty", b"")
    entry(tmp_path, "truncated", whole[: len(whole) // 2])
    entry(tmp_path, "garbage", b"not compressed at all")
    assert sorted(discard_broken_entries(tmp_path)) == ["empty-cache", "garbage-cache", "truncated-cache"]
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["whole-atime", "whole-cache"]


def test_an_entry_checked_before_is_not_read_again_but_an_empty_one_always_goes(tmp_path, monkeypatch):
    entry(tmp_path, "old", zlib.compress(b"x"))
    discard_broken_entries(tmp_path)
    os.utime(tmp_path / "old-cache", ns=(0, 0))  # older than the stamp
    read = []
    monkeypatch.setattr(compile_cache, "is_whole", lambda data: read.append(data) or True)
    entry(tmp_path, "emptied", b"")
    os.utime(tmp_path / "emptied-cache", ns=(0, 0))
    assert discard_broken_entries(tmp_path) == ["emptied-cache"]
    assert read == []


def test_is_whole_knows_a_complete_zlib_stream():
    data = zlib.compress(b"abc" * 1000)
    assert is_whole(data)
    assert not is_whole(data[:-1])
    assert not is_whole(b"")


def test_a_cache_directory_that_cannot_be_created_turns_the_cache_off_in_one_line(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setenv("ADCHECK_CACHE_DIR", str(blocker / "jax"))
    notice = prepare_cache()
    assert notice is not None and "\n" not in notice and str(blocker / "jax") in notice
    assert os.environ["ADCHECK_CACHE_DIR"] == ""  # the workers started next compile without it
    assert prepare_cache() is None


def test_a_full_disk_turns_the_cache_off(tmp_path, monkeypatch):
    monkeypatch.setenv("ADCHECK_CACHE_DIR", str(tmp_path / "jax"))

    class Full:
        f_bavail, f_frsize = 10, 4096

    monkeypatch.setattr(os, "statvfs", lambda path: Full())
    notice = prepare_cache()
    assert notice is not None and "full disk" in notice
