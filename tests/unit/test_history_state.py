"""History's indexes and saved state: what stays cheap as a run reaches thousands of trials."""

from __future__ import annotations

import pickle

from llm_search.history import History
from llm_search.proposal import ProposalSource, TrialStatus


def scanned_running(history: History) -> list[str]:
    return [i for i, r in history.records.items() if r.status is TrialStatus.RUNNING]


def test_the_running_index_follows_every_change_of_status():
    history = History("loss", "min")
    for trial in "abcd":
        history.start(trial, {"x": 1}, ProposalSource.LLM)
    history.complete("a", {"loss": 0.5})
    history.complete("b", None, error="RuntimeError: boom")
    assert sorted(r.trial_id for r in history.running()) == scanned_running(history) == ["c", "d"]
    history.resume("b")  # Tune retries the errored trial
    assert sorted(r.trial_id for r in history.running()) == sorted(scanned_running(history)) == ["b", "c", "d"]
    for copy in (history.snapshot(), History.from_state(history.to_state()), pickle.loads(pickle.dumps(history))):
        assert sorted(r.trial_id for r in copy.running()) == ["b", "c", "d"] and copy.n_running() == 3
    assert [r.trial_id for r in history.finished()] == ["a"]
    history.complete("b", {"loss": 0.1})
    assert [r.trial_id for r in history.finished()] == ["a", "b"]  # the order they finished
    assert [r.trial_id for r in History.from_state(history.to_state()).finished()] == ["a", "b"]
    assert history.interrupt_running() == 2
    assert history.running() == [] and history.n_running() == 0 == len(scanned_running(history))


def test_a_history_pickled_without_the_index_rebuilds_it():
    history = History("loss", "min")
    history.start("a", {"x": 1}, ProposalSource.LLM)
    history.start("b", {"x": 2}, ProposalSource.LLM)
    history.complete("a", {"loss": 0.5})
    old = pickle.loads(pickle.dumps(history))
    del old.__dict__["_running"], old.__dict__["_finished"], old.__dict__["_packed"]
    revived = pickle.loads(pickle.dumps(old))
    assert [r.trial_id for r in revived.running()] == ["b"]
    assert [r.trial_id for r in revived.finished()] == ["a"]


def test_finished_records_are_encoded_once_and_again_after_they_change():
    history = History("loss", "min")
    for trial in ("done", "live"):
        history.start(trial, {"x": 1}, ProposalSource.LLM)
    history.complete("done", {"loss": 0.5, "training_iteration": 1})
    first, second = history.to_state()["records"], history.to_state()["records"]
    assert isinstance(first[0], bytes) and first[0] is second[0]  # encoded once
    assert isinstance(first[1], dict) and first[1] is not second[1]  # a running record changes: plain data
    history.resume("done")
    history.complete("done", {"loss": 0.3, "training_iteration": 2})
    third = history.to_state()["records"]
    assert third[0] != first[0]
    restored = History.from_state(pickle.loads(pickle.dumps(history.to_state())))
    assert restored.records["done"].objective == 0.3 and restored.records["done"].status == "completed"
    assert restored.records["live"].status == "running" and restored.n_running() == 1
