"""History compaction and prompt bounds; gradient diagnoses."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ray import tune

from llm_search.diagnostics import diagnose, grad_norms_from_result
from llm_search.history import History, summarize_error
from llm_search.prompts import ContextLimits, build_messages, repair_messages
from llm_search.space import SearchSpace

SPACE = SearchSpace.from_tune(
    {
        "lr": tune.loguniform(1e-5, 1e-1),
        "opt": tune.choice(["sgd", "adam", "adamw"]),
        "wd": tune.uniform(0, 0.1),
        "bs": tune.qrandint(32, 512, 32),
        "model": {"depth": tune.randint(1, 8)},
    }
)


def make_history(n: int, seed: int = 0) -> History:
    rng = np.random.default_rng(seed)
    history = History("val_loss", "min")
    for i in range(n):
        history.start(f"t{i}", SPACE.sample(rng), "llm")
        for epoch in range(3):
            history.add_result(
                f"t{i}",
                {
                    "val_loss": float(rng.random()) + 1 / (epoch + 1),
                    "val_acc": 0.5,
                    "grad_norm/total": 1.0 / (epoch + 1),
                    "grad_norm/conv1": 1e-8,
                    "grad_norm/fc": 0.5,
                    "grad_norm/fc/max": 2.0,
                },
            )
        error = (
            'Traceback (most recent call last):\n  File "x.py"\nRuntimeError: CUDA out of memory'
            if i % 9 == 4
            else None
        )
        history.complete(f"t{i}", None, error=error)
    return history


def prompt_chars(n: int) -> int:
    messages = build_messages(
        space=SPACE, history=make_history(n), n_configs=4, pending=[SPACE.sample(np.random.default_rng(1))]
    )
    return sum(len(m["content"]) for m in messages)


def test_prompt_stays_bounded_as_history_grows():
    sizes = {n: prompt_chars(n) for n in (30, 200, 1000)}
    assert max(sizes.values()) <= sizes[30] * 1.25, sizes
    assert sizes[1000] < 7000, sizes  # about 1,800 tokens: fits SmolLM2's 4,096-token context with the answer


def _user_text(history: History) -> str:
    return build_messages(space=SPACE, history=history, n_configs=2)[1]["content"]


def _trial_section(text: str) -> str:
    return text.split("\nResults so far:")[0]


def test_prompt_only_appends_between_block_steps():
    """The part before the per-call tail is a prefix of the next prompt (llama.cpp reuses its cache)."""
    limits = ContextLimits()
    steps = 0
    for n in range(1, 120):
        before, after = _user_text(make_history(n)), _user_text(make_history(n + 1))
        if limits.older_cut(n) == limits.older_cut(n + 1):
            assert after.startswith(_trial_section(before)), n
        else:
            steps += 1
            assert limits.older_cut(n + 1) > limits.older_cut(n)
    assert 3 <= steps <= 120 // 5, steps  # re-summarized every few trials, not every call


def test_older_trials_are_summarized_by_their_best_and_failures():
    history = make_history(80)
    text = _user_text(history)
    cut = ContextLimits().older_cut(80)
    assert f"Best 4 of trials #1-#{cut}" in text and "Latest failures among them" in text
    assert f"Trials #{cut + 1} onwards, in the order they finished:" in text
    assert f"#{cut + 1} " in text and "#80 " in text
    older = history.finished()[:cut]
    best_older = min((r for r in older if not history.is_failure(r)), key=history.score)
    assert f"val_loss={best_older.objective:.4g}" in text.split("Latest failures")[0]


def test_prompt_shows_space_best_failures_and_diagnoses():
    history = make_history(ContextLimits().trials)
    text = build_messages(space=SPACE, history=history, n_configs=3, task="ResNet-9 on CIFAR-10")[1]["content"]
    assert text.startswith("Task: ResNet-9 on CIFAR-10")
    assert "- lr: float in [1e-05, 0.1] (both ends inclusive, log scale)" in text
    assert "- model/depth: integer in [1, 7]" in text
    best = history.best(1)[0]
    assert (
        "Trials in the order they finished (lower is better):\n#1 {" in text and f"#{ContextLimits().trials} {{" in text
    )
    assert "Best so far: #" in text and f"val_loss={best.objective:.4g}" in text.split("Best so far: ")[1]
    assert "FAILED: RuntimeError: CUDA out of memory" in text
    assert "vanishing: conv1" in text
    evidence = text.split("What each parameter's values have reached so far, best first (lower is better):\n")[1]
    best_opt = json.dumps(best.config["opt"])
    assert evidence.startswith("- lr: ") and f"- opt: {best_opt} -> best {best.objective:.4g}" in evidence
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
    assert {r.trial_id for r in history.finished() if history.is_failure(r)} == {"a", "c"}
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
    text = 'Traceback (most recent call last):\n  File "t.py", line 3\n    x()\nValueError: bad lr'
    assert summarize_error(text).endswith("ValueError: bad lr")
    assert len(summarize_error("E" * 10_000)) <= 400


def test_best_first_lists_the_best_trials_by_their_finish_numbers_then_the_latest_failures():
    history = make_history(40)
    limits = ContextLimits(trials=10, failures=2, order="best_first")
    text = build_messages(space=SPACE, history=history, n_configs=1, limits=limits)[1]["content"]
    finished = history.finished()
    good = sorted((r for r in finished if not history.is_failure(r)), key=history.score)
    failed = [r for r in finished if history.is_failure(r)][-2:]
    section = text.split("\nResults so far:")[0].split("Trials, best first")[1]
    listed, failures = section.split("Latest failures (avoid what caused them):")
    numbers = [int(line.split()[0][1:]) for line in listed.splitlines()[1:] if line.startswith("#")]
    assert numbers == [finished.index(r) + 1 for r in good[:8]]  # 10 lines: 8 best, 2 failures
    assert [int(line.split()[0][1:]) for line in failures.strip().splitlines()] == [
        finished.index(r) + 1 for r in failed
    ]
    assert f"best 8 of {len(good)}" in text and "in the order they finished" not in text
    assert f"Best so far: #{numbers[0]} " in text
