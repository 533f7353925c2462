"""CachedBackend: hits and misses, what goes into the key, atomic writes, threads, pickling."""

from __future__ import annotations

import json
import pickle
import threading

import pytest

from llm_search.backends import ScriptedBackend
from llm_search.backends.base import TransientBackendError
from llm_search.cache import CachedBackend, request_key
from llm_search.pricing import Budget, BudgetedBackend

MESSAGES = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
OPTIONS = {"temperature": 0.7, "seed": 5, "max_tokens": 100}


def counting_backend() -> ScriptedBackend:
    calls = iter(range(10**6))
    return ScriptedBackend(default=lambda messages, options: f'{{"n": {next(calls)}}}', delay_s=0.01)


def test_identical_requests_hit_and_others_miss(tmp_path):
    inner = counting_backend()
    backend = CachedBackend(inner, tmp_path)
    first = backend.complete(MESSAGES, schema={"type": "object"}, **OPTIONS)
    again = backend.complete(MESSAGES, schema={"type": "object"}, **OPTIONS)
    assert again.text == first.text and again.extra["cached"] is True and "cached" not in first.extra
    assert again.prompt_tokens == first.prompt_tokens and again.extra["original_latency_s"] == first.latency_s
    variants = [
        dict(messages=MESSAGES[1:], schema={"type": "object"}, **OPTIONS),
        dict(messages=MESSAGES, schema=None, **OPTIONS),
        dict(messages=MESSAGES, schema={"type": "object"}, **{**OPTIONS, "seed": 6}),
        dict(messages=MESSAGES, schema={"type": "object"}, **{**OPTIONS, "temperature": 0.2}),
        dict(messages=MESSAGES, schema={"type": "object"}, **{**OPTIONS, "max_tokens": 50}),
        dict(messages=MESSAGES, schema={"type": "object"}, grammar="root ::= x", **OPTIONS),
    ]
    texts = {backend.complete(**variant).text for variant in variants}
    assert len(texts) == len(variants) and first.text not in texts
    assert (backend.hits, backend.misses, len(inner.history)) == (1, 7, 7)


def test_key_covers_backend_and_model():
    key = request_key("bedrock:a", "a", MESSAGES, None, OPTIONS)
    assert key != request_key("bedrock:b", "a", MESSAGES, None, OPTIONS)
    assert key != request_key("bedrock:a", "b", MESSAGES, None, OPTIONS)
    assert len(key) == 64


def test_entries_survive_a_new_process_and_bad_files_are_ignored(tmp_path, caplog):
    backend = CachedBackend(ScriptedBackend(default='{"n": 0}'), tmp_path)
    text = backend.complete(MESSAGES, **OPTIONS).text
    copy = pickle.loads(pickle.dumps(backend))
    assert copy.complete(MESSAGES, **OPTIONS).extra["cached"]
    (entry,) = tmp_path.glob("*/*.json")
    assert json.loads(entry.read_text())["completion"]["text"] == text
    assert not list(tmp_path.glob("*/*.tmp"))  # no temporary files left behind
    entry.write_text('{"completion": {"te')  # e.g. a disk that filled up under another writer
    fresh = CachedBackend(counting_backend(), tmp_path)
    assert "cached" not in fresh.complete(MESSAGES, **OPTIONS).extra
    assert "unreadable cache entry" in caplog.text
    assert fresh.complete(MESSAGES, **OPTIONS).extra["cached"]  # rewritten


def test_errors_are_not_cached(tmp_path):
    inner = ScriptedBackend([TransientBackendError("throttled"), '{"ok": 1}'])
    backend = CachedBackend(inner, tmp_path)
    with pytest.raises(TransientBackendError):
        backend.complete(MESSAGES)
    assert backend.complete(MESSAGES).text == '{"ok": 1}'


def test_threads_asking_the_same_question_pay_once(tmp_path):
    inner = counting_backend()
    backend = CachedBackend(inner, tmp_path)
    results: list[str] = []

    def ask(i: int) -> None:
        results.append(backend.complete([{"role": "user", "content": f"q{i % 3}"}], seed=1).text)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(inner.history) == 3 and len(set(results)) == 3 and len(results) == 24
    assert backend.hits == 21


def test_cache_outside_a_budget_makes_hits_free(tmp_path):
    budget = Budget(max_calls=1)
    backend = CachedBackend(BudgetedBackend(ScriptedBackend(default="{}"), budget), tmp_path)
    for _ in range(5):
        backend.complete(MESSAGES, seed=1)
    assert budget.spent()["calls"] == 1
