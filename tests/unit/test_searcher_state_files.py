"""A restore reads the first readable copy of the searcher's state: Ray copies the driver's files to the
storage path non-atomically, so a driver killed mid-copy can leave the state file there empty."""

from __future__ import annotations

import pickle

import cloudpickle
import pytest

from llm_search.searcher_state import load_saved_state
from tests.unit.test_searcher_contract import SPACE, make_llm_searcher, suggest_now


def saved_experiment(directory, sessions=("2026-12-07_10-00-00",)):
    """A searcher with one finished trial per session, saved the way Tune saves it (``save_to_dir``)."""
    searcher = make_llm_searcher(space=SPACE, metric="loss", mode="min")
    for i, session in enumerate(sessions):
        suggest_now(searcher, f"t{i}")
        searcher.on_trial_complete(f"t{i}", {"loss": 1.0 - i / 10})
        searcher.save_to_dir(str(directory), session)
    return pickle.loads(cloudpickle.dumps(searcher))  # Tuner.restore unpickles the searcher before restoring


def test_an_emptied_state_file_restores_from_its_backup(tmp_path, caplog):
    fresh = saved_experiment(tmp_path)
    state_file = tmp_path / "searcher-state-2026-12-07_10-00-00.pkl"
    state_file.write_bytes(b"")  # what a kill between Ray's open and write of its copy leaves
    fresh.restore_from_dir(str(tmp_path))
    assert fresh.history.records["t0"].objective == 1.0
    assert "searcher-state-2026-12-07_10-00-00.pkl is unreadable" in caplog.text


def test_a_truncated_newest_session_falls_back_to_an_older_one(tmp_path):
    fresh = saved_experiment(tmp_path, sessions=("2026-12-07_10-00-00", "2026-12-07_11-00-00"))
    for name in ("state", "backup"):
        path = tmp_path / f"searcher-{name}-2026-12-07_11-00-00.pkl"
        path.write_bytes(path.read_bytes()[:40])
    assert load_saved_state(str(tmp_path))["n_suggested"] == 1
    fresh.restore_from_dir(str(tmp_path))
    assert set(fresh.history.records) == {"t0"}  # the older session's history: t1 came after it


def test_no_readable_state_names_the_files_and_what_to_do(tmp_path):
    fresh = saved_experiment(tmp_path)
    for path in tmp_path.glob("searcher-*.pkl"):
        path.write_bytes(b"")
    with pytest.raises(RuntimeError, match=r"searcher-state-.*searcher-backup-.*start a new experiment"):
        fresh.restore_from_dir(str(tmp_path))
    with pytest.raises(RuntimeError, match="No LLMSearcher state in"):
        fresh.restore_from_dir(str(tmp_path / "elsewhere"))
