"""write_atomically: a failed write leaves the old file and no temporary file; a good one replaces it whole."""

from __future__ import annotations

import os
import stat

import pytest

from llm_search.atomic_file import write_atomically


def test_a_failed_write_keeps_the_previous_file_and_leaves_nothing_behind(tmp_path):
    path = tmp_path / "state.pkl"
    path.write_bytes(b"previous")

    def write_half_then_fail(f):
        f.write(b"half of the new")
        raise ValueError("checksum mismatch")

    with pytest.raises(ValueError, match="checksum mismatch"):
        write_atomically(str(path), write_half_then_fail)
    assert path.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.pkl"]


def test_a_write_replaces_the_file_readable_by_others(tmp_path):
    path = tmp_path / "state.pkl"
    path.write_bytes(b"previous")
    write_atomically(str(path), lambda f: f.write(b"new"))
    assert path.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.pkl"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644  # not mkstemp's owner-only 0o600


def test_a_relative_path_is_written_beside_itself(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_atomically("state.pkl", lambda f: f.write(b"new"))
    assert (tmp_path / "state.pkl").read_bytes() == b"new"
