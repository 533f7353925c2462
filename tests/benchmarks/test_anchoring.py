"""Which listed trial a written config copies from, read from exchange logs."""

from __future__ import annotations

import json

from benchmarks.anchoring import anchor_row, rows_of, summarize

PROMPT = """Trials in the order they finished (lower is better):
#1 {"a": 1, "b": "x", "c": 0.1} -> loss=0.5
#2 {"a": 2, "b": "y", "c": 0.2} -> loss=0.1
#3 {"a": 3, "b": "z", "c": 0.3} -> loss=0.4
#4 {"a": 4, "b": "w", "c": 0.4} -> loss=0.3

Best so far: #2 {"a": 2, "b": "y", "c": 0.2} -> loss=0.1
Propose 1 new configuration."""


def _call(*configs, answer=None) -> dict:
    answer = json.dumps({"configs": list(configs)}) if answer is None else answer
    return {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": PROMPT}], "answer": answer}


def test_a_copy_of_the_first_listed_trial_credits_the_first_not_the_best():
    (row,) = anchor_row(_call({"a": 1, "b": "x", "c": 0.9}))
    assert (row["anchor_first"], row["anchor_best"], row["anchor_last"]) == (1.0, 0.0, 0.0)
    assert (row["changed_from_first"], row["changed_from_best"], row["changed_from_last"]) == (1, 3, 3)
    assert row["chance"] == 0.25


def test_ties_share_the_credit_and_each_answered_config_is_a_row():
    tie = {"a": 2, "b": "w", "c": 0.0}  # one parameter from the best (#2), one from the last (#4)
    best = {"a": 2, "b": "y", "c": 0.5}
    rows = anchor_row(_call(tie, best))
    assert [(r["anchor_best"], r["anchor_last"]) for r in rows] == [(0.5, 0.5), (1.0, 0.0)]


def test_calls_without_a_config_answer_or_with_few_trials_give_no_rows():
    assert anchor_row(_call(answer="not json")) == []
    assert anchor_row(_call(answer=json.dumps({"choices": ["B"]}))) == []  # a rank call
    assert anchor_row(_call({"a": 1}), min_listed=5) == []


def test_a_logs_folder_is_read_per_method_problem_and_seed(tmp_path):
    folder = tmp_path / "llm-local" / "hpobench__car"
    folder.mkdir(parents=True)
    calls = [_call({"a": 1, "b": "x", "c": 0.1}), _call({"a": 2, "b": "y", "c": 0.3})]
    (folder / "seed0.jsonl").write_text("\n".join(json.dumps(c) for c in calls) + "\n")
    rows = rows_of(str(tmp_path))
    assert len(rows) == 2
    lines = summarize("demo", rows)
    assert lines[0] == "demo: 2 answered configs"
    assert "first listed trial 50%, the best 50%, the last 0% (chance 25%)" in lines[1]
    assert summarize("empty", []) == ["empty: no config-writing calls with at least 4 listed trials"]
