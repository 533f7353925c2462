"""History compaction and prompt bounds; gradient diagnoses."""

from __future__ import annotations

import numpy as np
import pytest
from ray import tune

from llm_search.diagnostics import diagnose, grad_norms_from_result
from llm_search.history import History, summarize_error
from llm_search.prompts import build_messages, repair_messages
from llm_search.space import SearchSpace

SPACE = SearchSpace.from_tune({
    "lr": tune.loguniform(1e-5, 1e-1), "opt": tune.choice(["sgd", "adam", "adamw"]),
    "wd": tune.uniform(0, 0.1), "bs": tune.qrandint(32, 512, 32), "model": {"depth": tune.randint(1, 8)},
})


def make_history(n: int, seed: int = 0) -> History:
    rng = np.random.default_rng(seed)
    history = History("val_loss", "min")
    for i in range(n):
        history.start(f"t{i}", SPACE.sample(rng), "llm")
        for epoch in range(3):
            history.add_result(f"t{i}", {"val_loss": float(rng.random()) + 1 / (epoch + 1), "val_acc": 0.5,
                                         "grad_norm/total": 1.0 / (epoch + 1), "grad_norm/conv1": 1e-8,
                                         "grad_norm/fc": 0.5, "grad_norm/fc/max": 2.0})
        error = "Traceback (most recent call last):\n  File \"x.py\"\nRuntimeError: CUDA out of memory" if i % 9 == 4 else None
        history.complete(f"t{i}", None, error=error)
    return history


def prompt_chars(n: int) -> int:
    messages = build_messages(space=SPACE, history=make_history(n), n_configs=4, pending=[SPACE.sample(np.random.default_rng(1))])
    return sum(len(m["content"]) for m in messages)


def test_prompt_stays_bounded_as_history_grows():
    sizes = {n: prompt_chars(n) for n in (20, 200, 1000)}
    assert sizes[1000] <= sizes[20] * 1.2, sizes
    assert sizes[1000] < 6000, sizes  # about 1,500 tokens


def test_prompt_shows_space_best_failures_and_diagnoses():
    history = make_history(30)
    text = build_messages(space=SPACE, history=history, n_configs=3, task="ResNet-9 on CIFAR-10")[1]["content"]
    assert text.startswith("Task: ResNet-9 on CIFAR-10")
    assert "- lr: float in [1e-05, 0.1] (both ends inclusive, log scale)" in text
    assert "- model/depth: integer in [1, 7]" in text
    best = history.best(1)[0]
    assert "1. " in text and f"val_loss={best.objective:.4g}" in text
    assert "FAILED: RuntimeError: CUDA out of memory" in text
    assert "vanishing: conv1" in text
    assert "Where the top" in text
    assert "exactly 3 objects" in text


def test_first_prompt_asks_for_diverse_configs():
    text = build_messages(space=SPACE, history=History("acc", "max"), n_configs=2)[1]["content"]
    assert "No results yet" in text and "maximize acc" in text and "higher is better" in text


def test_repair_message_quotes_the_problems():
    messages = build_messages(space=SPACE, history=History("l", "min"), n_configs=2)
    retry = repair_messages(messages, '{"configs": []}', ["config 1: lr: 5 is far outside [1e-05, 0.1]"], 2)
    assert retry[-2] == {"role": "assistant", "content": '{"configs": []}'}
    assert "far outside" in retry[-1]["content"] and "exactly 2" in retry[-1]["content"]


def test_nan_objectives_rank_last_and_count_as_failures():
    history = History("loss", "min")
    for trial_id, value in (("a", float("nan")), ("b", 2.0), ("c", float("inf")), ("d", 1.0)):
        history.start(trial_id, {"x": 1}, "llm")
        history.complete(trial_id, {"loss": value})
    assert [r.trial_id for r in history.best(5)] == ["d", "b"]
    assert {r.trial_id for r in history.failures(5)} == {"a", "c"}
    assert history.counts()["non_finite"] == 2


def test_state_round_trip():
    history = make_history(12)
    again = History.from_state(history.to_state())
    assert again.to_state() == history.to_state()


@pytest.mark.parametrize(
    "series,expected",
    [
        ({"total": [1.0, 0.5]}, "total 1->0.5 (falling)"),
        ({"total": [1.0, float("nan")]}, "non-finite gradients in total (diverged)"),
        ({"total": [0.1, 50.0]}, "exploding (total grew x500)"),
        ({"total": [1.0, 1.0], "a": [0.0, 0.0], "b": [1.0, 1.0]}, "dead (zero grad): a"),
        ({"total": [1.0, 1.0], "a": [1.0, 1.0], "a/max": [5e3, 5e3]}, "exploding: a (max 5e+03)"),
        ({}, ""),
    ],
)
def test_diagnose(series, expected):
    assert expected in diagnose(series)


def test_grad_norms_from_result_skips_non_numbers():
    assert grad_norms_from_result({"grad_norm/a": 1, "grad_norm/b": "x", "loss": 2, "grad_norm/c": True}) == {"a": 1.0}


def test_summarize_error_keeps_the_exception_line():
    text = "Traceback (most recent call last):\n  File \"t.py\", line 3\n    x()\nValueError: bad lr"
    assert summarize_error(text).endswith("ValueError: bad lr")
    assert len(summarize_error("E" * 10_000)) <= 400
