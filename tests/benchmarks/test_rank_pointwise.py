"""The pointwise screening of rank prompts: the questions it asks and the figures it prints."""

from __future__ import annotations

import json
import math
from pathlib import Path

from benchmarks.rank_pointwise import pointwise_messages, summarize, yes_score

LOGGED = (
    Path(__file__).parents[2] / "results/rank-labels/nas201-partial-e53ad44/llm-rank/nasbench201__cifar10/seed0.jsonl"
)


def test_each_candidate_is_asked_about_alone_after_the_same_history():
    record = json.loads(LOGGED.read_text().splitlines()[-1])
    questions = pointwise_messages(record)
    assert len(questions) == len(record["candidates"]) == 8
    users = [messages[-1]["content"] for messages in questions]
    head = record["messages"][-1]["content"].rsplit("Candidates, untried", 1)[0]
    assert all(user.startswith(head) and "Candidates, untried (8" not in user for user in users)
    assert users[2].endswith(
        'Candidate, untried: #16 with Op5="none" (was "nor_conv_3x3")\n\n'
        "Is this candidate likely to beat the best so far on val_acc? Answer yes or no."
    )
    assert questions[0][0] == record["messages"][0]  # the system message as logged


class _Logprobs:
    """llama.cpp's answer shape for one token, with the given top tokens."""

    def __init__(self, top: dict[str, float]):
        self.top = top

    def chat_raw(self, request):
        assert request["max_tokens"] == 1 and request["logprobs"]
        top = [{"token": t, "logprob": math.log(p)} for t, p in self.top.items()]
        return {"choices": [{"logprobs": {"content": [{"token": "yes", "top_logprobs": top}]}}]}


def test_the_score_is_the_log_odds_of_yes_over_either_case():
    assert math.isclose(yes_score(_Logprobs({"yes": 0.3, "Yes": 0.1, "no": 0.4}), []), math.log(0.4 / 0.4))
    assert yes_score(_Logprobs({"no": 0.9}), []) < -10  # yes absent: counted as 1e-6


def test_a_model_that_orders_candidates_as_the_table_scores_one_and_a_reversed_one_minus_one():
    truth = [0.0, 0.5, 1.0]
    rows = [{"scores": [1, 2, 3], "truth": truth}, {"scores": [2, 3, 4], "truth": truth}]
    lines = summarize(rows)
    assert "score with the true one: +1.000" in lines[1] and "top candidate: +1.000" in lines[2]
    assert lines[3].startswith("top candidate is the best: 100%")
    reversed_rows = [{"scores": [3, 2, 1], "truth": truth}] * 2
    assert "true one: -1.000" in summarize(reversed_rows)[1]
