"""The fault-injection wrapper, the proposer surviving it, and the shared retry policy."""

from __future__ import annotations

import sys

import pytest

from llm_search.backends import ScriptedBackend
from llm_search.backends.base import BackendError, PermanentBackendError, TransientBackendError
from llm_search.backends.faults import GARBAGE_KINDS, FlakyBackend, garble
from llm_search.backends.retry import RetryPolicy

MESSAGES = [{"role": "user", "content": "go"}]
ANSWER = '{"configs": [{"x": 0.5}]}'


def run(flaky: FlakyBackend, n: int) -> list[str]:
    outcomes = []
    for _ in range(n):
        try:
            outcomes.append(flaky.complete(MESSAGES).extra.get("garbage", "ok"))
        except TransientBackendError:
            outcomes.append("throttle")
        except BackendError:
            outcomes.append("fail")
    return outcomes


def test_fault_rates_are_seeded_and_roughly_right():
    def make():
        return FlakyBackend(ScriptedBackend(default=ANSWER), fail_rate=0.2, throttle_rate=0.3, garbage_rate=0.5, seed=7)

    first, flaky = run(make(), 400), make()
    assert run(flaky, 400) == first
    assert 0.25 < first.count("throttle") / 400 < 0.35 and 0.15 < first.count("fail") / 400 < 0.25
    garbage = sum(first.count(kind) for kind in GARBAGE_KINDS)
    assert 0.2 < garbage / 400 < 0.3  # half of the 50% that got through
    assert flaky.injected["throttle"] == first.count("throttle") and flaky.name == "scripted"


def test_garbage_kinds_and_bad_rates():
    assert {garble(ANSWER, kind) for kind in GARBAGE_KINDS} >= {"", ANSWER[: len(ANSWER) // 2]}
    with pytest.raises(ValueError):
        FlakyBackend(ScriptedBackend(), fail_rate=0.7, throttle_rate=0.7)
    with pytest.raises(ValueError):
        FlakyBackend(ScriptedBackend(), garbage_rate=1.5)


def test_proposer_survives_a_flaky_backend():
    from llm_search.history import History
    from llm_search.proposer import LLMProposer
    from llm_search.space import FloatParam, SearchSpace

    space = SearchSpace([FloatParam("x", 0.0, 1.0)])
    flaky = FlakyBackend(ScriptedBackend(default=ANSWER), fail_rate=0.2, throttle_rate=0.2, garbage_rate=0.4, seed=1)
    proposer = LLMProposer(flaky)
    for round_ in range(20):
        proposals = proposer.propose(space, History("y", "min"), 2, seed=round_)
        assert len(proposals) == 2 and all(0.0 <= p.config["x"] <= 1.0 for p in proposals)
    assert proposer.available and proposer.stats.llm_failures == flaky.injected["throttle"] + flaky.injected["fail"]


def test_retry_passes_permanent_errors_through_at_once():
    calls = []

    def permanent():
        calls.append(1)
        raise PermanentBackendError("bad model")

    with pytest.raises(PermanentBackendError, match="bad model"):
        RetryPolicy(max_attempts=5, initial_wait_s=0.001).call(permanent, what="t")
    assert len(calls) == 1


def test_retry_gives_up_with_the_last_cause():
    def transient():
        raise TransientBackendError("still throttled")

    with pytest.raises(TransientBackendError, match="t: gave up after 2 attempt.*still throttled"):
        RetryPolicy(max_attempts=2, initial_wait_s=0.001, max_wait_s=0.001).call(transient, what="t")


def test_retry_options_and_validation(monkeypatch):
    policy = RetryPolicy.from_options({"max_attempts": "3", "max_wait_s": 2}, extra="ollama")
    assert (policy.max_attempts, policy.max_wait_s, policy.initial_wait_s, policy.extra) == (3, 2.0, 1.0, "ollama")
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    monkeypatch.setitem(sys.modules, "tenacity", None)
    with pytest.raises(PermanentBackendError, match=r"llm-search\[ollama\]"):
        policy.call(lambda: "x", what="t")
