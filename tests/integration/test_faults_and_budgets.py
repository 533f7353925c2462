"""An unreliable LLM or a spent budget never costs the experiment a trial (real model underneath)."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from llm_search import LLMSearcher
from llm_search.backends.faults import FlakyBackend
from llm_search.backends.local import LocalBackend
from llm_search.exchange_log import read_exchanges
from llm_search.pricing import Budget
from llm_search.space import SearchSpace
from tests.integration.tasks import SPACE, quadratic_trainable, run_search

pytestmark = pytest.mark.integration


def test_flaky_backend_still_gives_20_valid_trials(ray_session, storage):
    flaky = FlakyBackend(LocalBackend(), fail_rate=0.2, throttle_rate=0.2, garbage_rate=0.3, seed=0)
    searcher = LLMSearcher(backend=flaky, strategy="llm", seed=6, prefetch=0)
    analysis = run_search(quadratic_trainable, searcher, storage, "flaky", 20, max_concurrent_trials=2)
    assert len(analysis.trials) == 20 and all(t.status == "TERMINATED" for t in analysis.trials)
    space = SearchSpace.from_tune(SPACE)
    assert all(space.validate(t.config)[0] is not None for t in analysis.trials)
    stats = searcher.stats
    assert stats["llm_failures"] > 0 and stats["fallbacks"] > 0 and stats["llm_disabled"] is None
    # The log tells the story: backend errors, unreadable answers, and the calls that worked.
    records = list(read_exchanges(os.path.join(storage, "flaky", "llm_exchanges.jsonl")))
    kinds = Counter("error" if r.get("error") else "unreadable" if r.get("parse_error") else "ok" for r in records)
    assert kinds["error"] == stats["llm_failures"] and kinds["unreadable"] >= 1 and kinds["ok"] >= 1
    assert sum(flaky.injected.values()) >= kinds["error"] + kinds["unreadable"]


def test_spent_budget_says_so_once_and_the_search_continues(ray_session, storage, caplog):
    budget = Budget(max_calls=2)
    searcher = LLMSearcher(backend="local", strategy="llm", seed=7, budget=budget, prefetch=0)
    analysis = run_search(quadratic_trainable, searcher, storage, "budget", 6, max_concurrent_trials=1)
    assert len(analysis.trials) == 6 and all(t.status == "TERMINATED" for t in analysis.trials)
    stats = searcher.stats
    assert budget.spent()["calls"] == 2 and "max_calls" in stats["llm_disabled"]
    assert caplog.text.count("disabled for the rest of this experiment") == 1
    sources = Counter(r.source for r in searcher.history.records.values())
    assert sources["random"] >= 3 and sources["llm"] >= 1
    assert stats["cost_usd"] == 0.0  # the embedded model is free
