"""Credentials never reach logs, reprs, pickled state, error messages or the answer cache."""

from __future__ import annotations

import logging
import pickle

import pytest

pytest.importorskip("tenacity")

from llm_search.backends.base import PermanentBackendError  # noqa: E402
from llm_search.backends.faults import FlakyBackend  # noqa: E402
from llm_search.backends.openai_compat import OpenAICompatBackend  # noqa: E402
from llm_search.cache import CachedBackend  # noqa: E402
from llm_search.pricing import Budget, BudgetedBackend  # noqa: E402

from .fake_http import Reply  # noqa: E402

KEY = "sk-live-9f8e7d6c5b4a-very-secret"
MESSAGES = [{"role": "user", "content": "Propose 1 config."}]


def ok_reply() -> Reply:
    return Reply(
        {
            "choices": [{"message": {"content": '{"configs": []}'}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3},
        }
    )


def test_wrapped_backend_keeps_secrets_out_of_everything(fake_server, tmp_path, caplog, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    inner = OpenAICompatBackend(
        "m", base_url=fake_server.url + "/v1", api_key=KEY, initial_wait_s=0.001, max_wait_s=0.001
    )
    budget = Budget(max_calls=10)
    backend = CachedBackend(BudgetedBackend(FlakyBackend(inner, seed=0), budget), tmp_path)
    fake_server.enqueue(
        "POST",
        "/v1/chat/completions",
        Reply({"error": "busy"}, status=429),
        ok_reply(),
        Reply({"error": {"message": f"invalid key {KEY}"}}, status=401),
    )
    with caplog.at_level(logging.DEBUG):
        backend.complete(MESSAGES, seed=1)
        with pytest.raises(PermanentBackendError) as info:
            backend.complete(MESSAGES, seed=2)
    assert fake_server.requests[0].headers["Authorization"] == f"Bearer {KEY}"  # it was used...
    texts = {
        "error": str(info.value),
        "logs": caplog.text,
        "reprs": " ".join(repr(b) + b.name for b in (backend, backend.inner, inner)),
        "cache": " ".join(p.read_text() for p in tmp_path.rglob("*.json")),
    }
    for where, text in texts.items():  # ...and shown nowhere
        assert KEY not in text, where
    data = pickle.dumps(backend)
    assert KEY.encode() not in data
    assert pickle.loads(data).complete(MESSAGES, seed=1).extra["cached"]
