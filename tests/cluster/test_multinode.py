"""LLMSearcher on a local multi-node Ray cluster: trials spread over nodes, and a lost worker node's
trials resume from their checkpoints on the others (each run is its own process: it owns a cluster)."""

from __future__ import annotations

import pytest

from tests.cluster.summary import run_summary

pytestmark = pytest.mark.integration


def run_cluster(storage, *extra: str) -> dict:
    return run_summary("tests.cluster.multinode_run", str(storage), *extra)


def test_trials_spread_over_the_nodes_of_a_cluster(tmp_path):
    summary = run_cluster(tmp_path, "--trials", "6")
    trials = summary["trials"]
    assert len(trials) == 6 and all(t["error"] is None and t["epochs"] == list(range(1, 7)) for t in trials)
    nodes = {node for t in trials for node in t["nodes"]}
    assert len(nodes) == 3, nodes  # head and both workers ran trials


def test_a_lost_worker_nodes_trials_resume_from_their_checkpoints(tmp_path):
    summary = run_cluster(tmp_path, "--trials", "4", "--kill-worker")
    (killed,) = summary["killed"]
    trials = summary["trials"]
    assert len(trials) == 4 and all(t["error"] is None for t in trials), trials
    moved = [t for t in trials if killed in t["nodes"] and len(t["nodes"]) > 1]
    assert moved, trials  # a trial of the lost node finished elsewhere...
    for trial in moved:
        assert trial["restored"] and trial["epochs"][-1] == 6
        assert trial["epochs"].count(1) == 1  # ...from its checkpoint, not from the start
