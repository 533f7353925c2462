"""The proposal screen: histories rebuilt from a stored run, one proposal per answer form, moves, summary."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.problems import get_problem
from benchmarks.proposal_screen import history_at, screen_history, summarize
from benchmarks.results import load_results
from llm_search.backends import ScriptedBackend
from llm_search.proposer import LLMProposer
from llm_search.space import SearchSpace

ROOT = Path(__file__).parents[2] / "results"
RUNS = ROOT / "qwen05-contest-llm-after15"


@pytest.fixture(scope="module")
def run() -> pd.DataFrame:
    table = load_results(RUNS)
    rows = table[(table["problem"] == "hpobench/kc1") & (table["seed"] == 0)]
    return rows.sort_values("trial")


def test_the_history_is_the_runs_first_trials_with_every_metric_of_the_table(run):
    problem = get_problem("hpobench/kc1")
    space = SearchSpace.from_tune(problem.param_space(0))
    history = history_at(space, run, 12, problem.metric, problem.mode, 0)
    finished = history.finished()
    assert [r.objective for r in finished] == run["value"].head(12).tolist()
    assert all(len(r.metrics) > 1 for r in finished)  # the extra metric the prompt shows, as in the run
    assert [str(r.source) for r in finished] == run["proposed_by"].head(12).tolist()


def test_each_arm_proposes_from_the_same_history_and_every_proposal_is_evaluated(run):
    first = run.head(20)
    best = json.loads(first.loc[first["value"].idxmax(), "config"])  # kc1's val_acc: higher is better
    lr = 1 if best["learning_rate_init"] != 1 else 1e-05
    edits = ScriptedBackend(default=json.dumps({"edits": [{"learning_rate_init": lr}]}))
    configs = ScriptedBackend(default="no configs today")
    proposers = {"edits": LLMProposer(edits, form="edits"), "configs": LLMProposer(configs)}
    rows = screen_history(proposers, run, 20, 6, done=set())
    by_arm = pd.DataFrame(rows).groupby("arm")
    assert by_arm.size().to_dict() == {"configs": 1, "edits": 1, "moves": 6}
    edit_row, configs_row = (next(r for r in rows if r["arm"] == arm) for arm in ("edits", "configs"))
    assert edit_row["source"] == "llm" and edit_row["changed"] == 1
    assert configs_row["source"] == "random"  # two unreadable answers: filled randomly, and marked so
    assert edits.history[0]["messages"] != configs.history[0]["messages"]
    assert (
        edits.history[0]["messages"][-1]["content"].split("Propose")[0]
        == (configs.history[0]["messages"][-1]["content"].split("Propose")[0])
    )  # the same prompt up to the request
    assert {r["best_before"] for r in rows} == {max(first["value"])}
    done = {("edits", "hpobench/kc1", 0, 20), ("moves", "hpobench/kc1", 0, 20)}
    assert [r["arm"] for r in screen_history(proposers, run, 20, 6, done=done)] == ["configs"]
    summary = summarize(pd.DataFrame(rows), load_results(ROOT / "qwen-baselines-50"))
    assert summary.splitlines()[0] == "1 histories"
    assert "edits - moves, normalized" in summary and "edits - configs, improved" in summary
