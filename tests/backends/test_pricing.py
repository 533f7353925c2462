"""Price table, token bucket, budgets and the budgeted backend wrapper."""

from __future__ import annotations

import json
import logging
import pickle
import threading

import pytest

from llm_search.backends import ScriptedBackend
from llm_search.backends.base import Completion, PermanentBackendError
from llm_search.pricing import (
    Budget,
    BudgetedBackend,
    BudgetExceeded,
    Price,
    PriceTable,
    TokenBucket,
    estimate_cost,
)

MESSAGES = [{"role": "user", "content": "x" * 300}]  # ~100 tokens


class FakeTime:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.mark.parametrize(
    ("model", "price"),
    [
        ("bedrock:anthropic.claude-3-haiku-20240307-v1:0", (0.25, 1.25)),
        ("us.anthropic.claude-3-5-haiku-20241022-v1:0", (0.80, 4.00)),
        ("anthropic.claude-3-5-sonnet-20241022-v2:0", (3.0, 15.0)),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0",
            (3.0, 15.0),
        ),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", (3.0, 15.0)),
        ("us.anthropic.claude-opus-4-20250514-v1:0", (15.0, 75.0)),
        ("global.anthropic.claude-opus-4-5-20251101-v1:0", (5.0, 25.0)),  # the longest match wins
        ("local:SmolLM2-135M-Instruct", (0.0, 0.0)),
        ("ollama:llama3.1:70b", (0.0, 0.0)),
        ("ollama-cli:qwen2.5:7b", (0.0, 0.0)),
    ],
)
def test_default_prices(model, price):
    assert PriceTable().lookup(model) == Price(*price)


def test_estimate_cost_and_unknown_models_warn_once(caplog):
    assert estimate_cost("bedrock:us.anthropic.claude-3-7-sonnet-20250219-v1:0", 2_000_000, 1_000_000) == 21.0
    table = PriceTable()
    with caplog.at_level(logging.WARNING):
        assert table.estimate_cost("openai:gpt-9@https://x/v1", 10**6, 10**6) == 0.0
        assert table.estimate_cost("openai:gpt-9@https://x/v1", 10**6, 10**6) == 0.0
    assert caplog.text.count("No price known") == 1


def test_overrides_from_dict_and_json_file(tmp_path):
    table = PriceTable(
        {
            "claude-3-7-sonnet": {"input": 2.0, "output": 10.0},
            "gpt-9": (1.0, 1.0),
            "US.anthropic.claude-3-7": Price(9.0, 9.0),
        }
    )
    assert table.lookup("anthropic.claude-3-7-sonnet-20250219-v1:0") == Price(2.0, 10.0)
    assert table.lookup("us.anthropic.claude-3-7-sonnet-20250219-v1:0") == Price(9.0, 9.0)
    assert table.lookup("openai:gpt-9@http://h/v1") == Price(1.0, 1.0)
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"my-model": {"input": 4, "output": 8}}))
    only_file = PriceTable(str(path), defaults=False)
    assert only_file.estimate_cost("bedrock:my-model", 500_000, 250_000) == 4.0
    assert only_file.lookup("anthropic.claude-3-haiku") is None


def test_token_bucket_waits_for_refill():
    fake = FakeTime()
    bucket = TokenBucket(60, burst=2, clock=fake.clock, sleep=fake.sleep)  # one per second
    assert bucket.acquire() == bucket.acquire() == 0.0
    assert bucket.acquire() == pytest.approx(1.0)
    bucket.debit(3)  # the last call used more than it said: the next one waits longer
    assert bucket.acquire() == pytest.approx(4.0)
    assert bucket.acquire(10) == pytest.approx(2.0)  # more than the burst: waits for a full bucket


def test_budget_limits_raise_with_the_limit_and_the_fix():
    budget = Budget(max_tokens=150)
    backend = BudgetedBackend(ScriptedBackend(default='{"configs": []}'), budget)
    backend.complete(MESSAGES)  # 75 + 3 tokens by ScriptedBackend's count
    backend.complete(MESSAGES)
    with pytest.raises(BudgetExceeded) as info:
        backend.complete(MESSAGES)
    assert isinstance(info.value, PermanentBackendError)
    assert "max_tokens=150 reached" in str(info.value) and "Budget(max_tokens=...)" in str(info.value)
    assert budget.spent()["calls"] == 2


def test_cost_budget_uses_the_price_of_the_inner_backend():
    inner = ScriptedBackend(default="{}")
    inner.name = "bedrock:us.anthropic.claude-opus-4-20250514-v1:0"
    budget = Budget(max_cost_usd=0.01)
    backend = BudgetedBackend(inner, budget)
    completion = backend.complete(MESSAGES)
    assert completion.extra["cost_usd"] == pytest.approx((75 * 15 + 0 * 75) / 1e6)
    while True:
        try:
            backend.complete(MESSAGES)
        except BudgetExceeded as exc:
            assert "max_cost_usd=0.01" in str(exc)
            break
    assert budget.spent()["cost_usd"] >= 0.01 and budget.spent()["calls"] == 9


def test_rate_limits_sleep_instead_of_failing():
    fake = FakeTime()
    budget = Budget(requests_per_minute=120, tokens_per_minute=6000, clock=fake.clock, sleep=fake.sleep)
    backend = BudgetedBackend(ScriptedBackend(default="{}"), budget)
    for _ in range(200):
        backend.complete(MESSAGES, max_tokens=100)  # 208 tokens estimated, 75 used per call
    assert fake.sleeps and budget.spent()["calls"] == 200
    assert fake.now >= (200 - 120) / 2  # requests: a burst of 120, then 2 per second
    assert 200 * 75 <= 6000 + 100 * fake.now + 208  # tokens: a burst of 6000, then 100 per second
    assert fake.now < 120


def test_spent_round_trip_and_pickling():
    budget = Budget(max_calls=5, requests_per_minute=10)
    budget.acquire(10)
    budget.record("bedrock:anthropic.claude-3-haiku", Completion("{}", "m", 1_000_000, 0))
    copy = pickle.loads(pickle.dumps(budget))
    assert (
        copy.spent()
        == budget.spent()
        == {"calls": 1, "prompt_tokens": 1_000_000, "completion_tokens": 0, "cost_usd": 0.25}
    )
    fresh = Budget(max_calls=1)
    fresh.load_spent(budget.spent())
    with pytest.raises(BudgetExceeded, match="max_calls=1"):
        fresh.acquire()


def test_budget_is_thread_safe():
    budget = Budget(max_calls=1000)
    backend = BudgetedBackend(ScriptedBackend(default="{}"), budget)

    def work() -> None:
        for _ in range(50):
            backend.complete(MESSAGES)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert budget.spent()["calls"] == 400 and budget.spent()["prompt_tokens"] == 400 * 75
