"""History.snapshot: what a proposal round reads while Tune updates the live history."""

from __future__ import annotations

from llm_search.history import History
from llm_search.proposal import ProposalSource


def test_a_snapshot_keeps_finished_copies_and_recopies_what_changed():
    history = History("loss", "min")
    for trial in ("done", "running"):
        history.start(trial, {"x": 1}, ProposalSource.LLM)
    history.complete("done", {"loss": 0.5})
    first = history.snapshot()
    history.add_result("running", {"loss": 0.9, "training_iteration": 1})
    history.resume("done")  # Tune retries the finished trial
    second = history.snapshot(first)
    assert first.records["running"].n_results == 0  # the first snapshot did not move with the live history
    assert second.records["running"].n_results == 1
    assert second.records["done"] is not first.records["done"] and second.records["done"].status == "running"
    history.complete("done", {"loss": 0.4})
    third = history.snapshot(second)
    fourth = history.snapshot(third)
    assert fourth.records["done"] is third.records["done"] and fourth.records["done"].objective == 0.4
