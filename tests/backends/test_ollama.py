"""OllamaBackend against a real local HTTP server speaking the subset of Ollama's API we use, and
OllamaCLIBackend against a fake ``ollama`` executable."""

from __future__ import annotations

import json
import logging
import pickle
import socket
import stat
import sys
import textwrap

import pytest

pytest.importorskip("ollama")
pytest.importorskip("tenacity")

from llm_search.backends import get_backend  # noqa: E402
from llm_search.backends.base import BackendError, PermanentBackendError, TransientBackendError  # noqa: E402
from llm_search.backends.ollama import OllamaBackend, OllamaCLIBackend, context_size  # noqa: E402

from .fake_http import Reply  # noqa: E402

SCHEMA = {"type": "object", "properties": {"configs": {"type": "array"}}, "required": ["configs"]}
MESSAGES = [{"role": "system", "content": "You tune."}, {"role": "user", "content": "Propose 2 configs."}]
FAST = {"initial_wait_s": 0.001, "max_wait_s": 0.005}
ANSWER = '{"configs": [{"lr": 0.01}, {"lr": 0.1}]}'


def chat_reply(content: str = ANSWER, done_reason: str = "stop", **kwargs) -> Reply:
    body = {
        "model": "qwen2.5:7b",
        "created_at": "2026-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": content},
        "done": True,
        "done_reason": done_reason,
        "total_duration": 1_500_000_000,
        "prompt_eval_count": 57,
        "eval_count": 21,
    }
    return Reply(body, **kwargs)


@pytest.fixture(autouse=True)
def no_ollama_environment(monkeypatch):
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    monkeypatch.delenv("OLLAMA_EXECUTABLE", raising=False)


@pytest.fixture()
def server(fake_server):
    fake_server.default("GET", "/api/tags", Reply({"models": [{"name": "llama3.2:3b", "model": "llama3.2:3b"}]}))
    return fake_server


def backend_for(server, **options) -> OllamaBackend:
    return OllamaBackend("qwen2.5:7b", host=server.url, **{**FAST, **options})


def test_chat_sends_schema_context_and_sampling_options(server):
    server.enqueue("POST", "/api/chat", chat_reply())
    completion = backend_for(server).complete(MESSAGES, schema=SCHEMA, temperature=0.8, seed=11, max_tokens=300)
    assert completion.text == ANSWER
    assert (completion.prompt_tokens, completion.completion_tokens) == (57, 21)
    assert completion.finish_reason == "stop" and completion.model == "qwen2.5:7b"
    (body,) = server.bodies("/api/chat")
    assert body["model"] == "qwen2.5:7b" and body["stream"] is False
    assert body["messages"] == MESSAGES
    assert body["format"] == SCHEMA
    assert body["options"] == {"num_ctx": 2048, "num_predict": 300, "temperature": 0.8, "seed": 11}
    assert body["keep_alive"] == "30m" and "think" not in body


def test_context_grows_with_the_prompt_and_never_shrinks(server, caplog):
    server.default("POST", "/api/chat", chat_reply())
    backend = backend_for(server)
    long_prompt = [{"role": "user", "content": "x" * 20_000}]  # ~6.7k tokens
    backend.complete(long_prompt, max_tokens=500)
    backend.complete(MESSAGES, max_tokens=500)
    assert [b["options"]["num_ctx"] for b in server.bodies("/api/chat")] == [8192, 8192]
    assert "format" not in server.bodies("/api/chat")[0]
    capped = backend_for(server, num_ctx_max=4096)
    with caplog.at_level(logging.WARNING):
        capped.complete(long_prompt, max_tokens=500)
    assert server.bodies("/api/chat")[-1]["options"]["num_ctx"] == 4096
    assert "does not fit the model's context of 4096" in caplog.text


def test_context_size_rounding():
    assert context_size(0, 0) == 2048
    assert context_size(1800, 100) == 4096
    assert context_size(5000, 2000) == 8192


def test_host_from_environment(server, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", server.url)
    server.enqueue("POST", "/api/chat", chat_reply())
    assert OllamaBackend("qwen2.5:7b", think=False).complete(MESSAGES).text == ANSWER
    assert server.bodies("/api/chat")[0]["think"] is False


def test_model_not_pulled_names_ollama_pull(server):
    server.enqueue(
        "POST", "/api/chat", Reply({"error": 'model "qwen2.5:7b" not found, try pulling it first'}, status=404)
    )
    with pytest.raises(PermanentBackendError) as info:
        backend_for(server).complete(MESSAGES, schema=SCHEMA)
    assert "ollama pull qwen2.5:7b" in str(info.value) and "pulled: llama3.2:3b" in str(info.value)
    assert len(server.bodies("/api/chat")) == 1  # not retried


def test_server_not_running_names_ollama_serve():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = OllamaBackend("qwen2.5:7b", host=f"http://127.0.0.1:{port}", **FAST)
    with pytest.raises(PermanentBackendError, match="ollama serve"):
        backend.complete(MESSAGES)


def test_slow_response_times_out_and_is_retried(server):
    server.enqueue("POST", "/api/chat", chat_reply(delay_s=1.0), chat_reply())
    completion = backend_for(server, timeout_s=0.25).complete(MESSAGES, schema=SCHEMA)
    assert completion.text == ANSWER
    assert len(server.bodies("/api/chat")) == 2


def test_dropped_connection_and_server_error_are_retried(server, caplog):
    server.enqueue("POST", "/api/chat", Reply(drop=True), Reply({"error": "busy"}, status=503), chat_reply())
    with caplog.at_level(logging.INFO):
        assert backend_for(server).complete(MESSAGES).text == ANSWER
    assert len(server.bodies("/api/chat")) == 3
    assert "retry 2/4" in caplog.text


def test_retries_are_bounded(server):
    server.default("POST", "/api/chat", Reply({"error": "internal"}, status=500))
    with pytest.raises(TransientBackendError, match="gave up after 2 attempt"):
        backend_for(server, max_attempts=2).complete(MESSAGES)
    assert len(server.bodies("/api/chat")) == 2


def test_bad_request_is_permanent(server):
    server.enqueue("POST", "/api/chat", Reply({"error": "invalid format schema"}, status=400))
    with pytest.raises(PermanentBackendError, match="invalid format schema"):
        backend_for(server).complete(MESSAGES, schema=SCHEMA)


def test_truncated_answer_is_returned_with_a_warning(server, caplog):
    server.enqueue("POST", "/api/chat", chat_reply('{"configs": [{"lr"', done_reason="length"))
    with caplog.at_level(logging.WARNING):
        completion = backend_for(server).complete(MESSAGES, schema=SCHEMA, max_tokens=5)
    assert completion.finish_reason == "length" and "raise max_tokens" in caplog.text


def test_pickles_without_client_and_hides_host_password(server):
    host = server.url.replace("http://", "http://admin:hunter2@")
    backend = OllamaBackend("qwen2.5:7b", host=server.url, **FAST)
    server.enqueue("POST", "/api/chat", chat_reply(), chat_reply())
    backend.complete(MESSAGES)
    copy = pickle.loads(pickle.dumps(backend))
    assert copy._client is None and copy.complete(MESSAGES).text == ANSWER
    assert "hunter2" not in repr(OllamaBackend("m", host=host))


def test_registry_and_missing_model():
    backend = get_backend("ollama:llama3.1:8b", num_ctx_max=131072)
    assert isinstance(backend, OllamaBackend) and backend.model == "llama3.1:8b" and backend.num_ctx_max == 131072
    with pytest.raises(PermanentBackendError, match="needs a model"):
        get_backend("ollama")


# ---------------------------------------------------------------- ollama-cli
FAKE_OLLAMA = """\
#!{python}
import json, sys, time
argv = sys.argv[1:]
mode = {mode!r}
if mode == "sleep":
    time.sleep(5)
if mode == "down":
    sys.stderr.write("Error: could not connect to ollama server, run 'ollama serve' to start it\\n")
    sys.exit(1)
if mode == "missing":
    sys.stderr.write("Error: pull model manifest: file does not exist\\n")
    sys.exit(1)
expected = ["run", "qwen2.5:7b", "--format", "json", "--nowordwrap", "--verbose", "--hidethinking"]
if argv != expected:
    sys.stderr.write("unexpected argv: %r\\n" % argv)
    sys.exit(2)
prompt = sys.stdin.read()
if "Propose 2 configs." not in prompt or '"required": ["configs"]' not in prompt:
    sys.stderr.write("unexpected prompt: %r\\n" % prompt)
    sys.exit(3)
print(json.dumps({{"configs": [{{"lr": 0.01}}]}}))
sys.stderr.write("total duration:       1.2s\\nprompt eval count:    42 token(s)\\n"
                 "prompt eval duration: 0.1s\\neval count:           17 token(s)\\n")
"""


def fake_ollama(tmp_path, monkeypatch, mode: str = "ok") -> None:
    path = tmp_path / "ollama"
    path.write_text(textwrap.dedent(FAKE_OLLAMA.format(python=sys.executable, mode=mode)))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("OLLAMA_EXECUTABLE", str(path))


def test_cli_runs_ollama_with_real_flags_and_reads_token_counts(tmp_path, monkeypatch):
    fake_ollama(tmp_path, monkeypatch)
    completion = get_backend("ollama-cli:qwen2.5:7b").complete(MESSAGES, schema=SCHEMA, temperature=0.5)
    assert json.loads(completion.text) == {"configs": [{"lr": 0.01}]}
    assert (completion.prompt_tokens, completion.completion_tokens) == (42, 17)


def test_cli_missing_binary(monkeypatch, tmp_path):
    monkeypatch.setenv("OLLAMA_EXECUTABLE", str(tmp_path / "nope"))
    with pytest.raises(PermanentBackendError, match="OLLAMA_EXECUTABLE"):
        OllamaCLIBackend("qwen2.5:7b").complete(MESSAGES)


@pytest.mark.parametrize(("mode", "fix"), [("down", "ollama serve"), ("missing", "ollama pull qwen2.5:7b")])
def test_cli_errors_name_the_fix(tmp_path, monkeypatch, mode, fix):
    fake_ollama(tmp_path, monkeypatch, mode)
    with pytest.raises(PermanentBackendError, match=fix):
        OllamaCLIBackend("qwen2.5:7b", **FAST).complete(MESSAGES, schema=SCHEMA)


def test_cli_timeout_is_transient(tmp_path, monkeypatch):
    fake_ollama(tmp_path, monkeypatch, "sleep")
    with pytest.raises(TransientBackendError, match="gave up after 2 attempt"):
        OllamaCLIBackend("qwen2.5:7b", timeout_s=0.3, **FAST).complete(MESSAGES, schema=SCHEMA)


def test_cli_other_failures_keep_stderr(tmp_path, monkeypatch):
    fake_ollama(tmp_path, monkeypatch)
    with pytest.raises(BackendError, match="unexpected argv"):
        OllamaCLIBackend("qwen2.5:7b", hide_thinking=False, **FAST).complete(MESSAGES, schema=SCHEMA)
