"""BedrockBackend against a real boto3 client whose calls are answered by botocore's Stubber.

The client validates every request against the bedrock-runtime service model before the Stubber
answers, so a wrong request shape fails these tests. No network, no credentials.
"""

from __future__ import annotations

import json
import logging
import pickle

import pytest

boto3 = pytest.importorskip("boto3")
pytest.importorskip("tenacity")
from botocore.exceptions import ReadTimeoutError  # noqa: E402
from botocore.stub import ANY, Stubber  # noqa: E402

from llm_search.backends import get_backend  # noqa: E402
from llm_search.backends.base import BackendError, PermanentBackendError, TransientBackendError  # noqa: E402
from llm_search.backends.bedrock import TOOL_NAME, BedrockBackend  # noqa: E402

MODEL = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
ARN = f"arn:aws:bedrock:eu-west-1:123456789012:inference-profile/{MODEL}"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY"
KEY_ID = "AKIAIOSFODNN7SECRETID"
SCHEMA = {
    "type": "object",
    "properties": {"configs": {"type": "array", "items": {"type": "object"}}},
    "required": ["configs"],
}
MESSAGES = [
    {"role": "system", "content": "You tune hyperparameters."},
    {"role": "user", "content": "Propose 1 config."},
]
FAST = {"initial_wait_s": 0.001, "max_wait_s": 0.005}


def _client(key_id: str = "testing", secret: str = "testing"):
    return boto3.client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id=key_id, aws_secret_access_key=secret
    )


def _response(content: list, stop: str = "tool_use", usage: tuple[int, int] = (120, 30)) -> dict:
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": {"inputTokens": usage[0], "outputTokens": usage[1], "totalTokens": sum(usage)},
        "metrics": {"latencyMs": 850},
    }


def _tool_use(answer) -> dict:
    return {"toolUse": {"toolUseId": "tooluse_1", "name": TOOL_NAME, "input": answer}}


@pytest.fixture()
def stubbed():
    client = _client()
    backend = BedrockBackend(MODEL, client=client, **FAST)
    with Stubber(client) as stubber:
        yield backend, stubber
        stubber.assert_no_pending_responses()


def test_tool_use_answer_with_usage_and_request_shape(stubbed):
    backend, stubber = stubbed
    answer = {"configs": [{"lr": 0.01, "depth": 3}]}
    expected = {
        "modelId": MODEL,
        "system": [{"text": "You tune hyperparameters."}],
        "messages": [{"role": "user", "content": [{"text": "Propose 1 config."}]}],
        "inferenceConfig": {"maxTokens": 300, "temperature": 0.7},
        "toolConfig": {
            "tools": [{"toolSpec": {"name": TOOL_NAME, "description": ANY, "inputSchema": {"json": SCHEMA}}}],
            "toolChoice": {"tool": {"name": TOOL_NAME}},
        },
    }
    stubber.add_response("converse", _response([_tool_use(answer)]), expected)
    completion = backend.complete(MESSAGES, schema=SCHEMA, temperature=0.7, seed=3, max_tokens=300)
    assert json.loads(completion.text) == answer
    assert (completion.prompt_tokens, completion.completion_tokens) == (120, 30)
    assert completion.finish_reason == "stop"
    assert completion.extra["server_latency_s"] == pytest.approx(0.85)
    assert completion.model == MODEL


def test_plain_text_without_schema_merges_turns_and_clamps_temperature(stubbed):
    backend, stubber = stubbed
    messages = [
        {"role": "user", "content": "a"},
        {"role": "user", "content": "b"},
        {"role": "assistant", "content": "c"},
        {"role": "user", "content": "d"},
    ]
    expected = {
        "modelId": MODEL,
        "inferenceConfig": {"maxTokens": 2048, "temperature": 1.0},
        "messages": [
            {"role": "user", "content": [{"text": "a"}, {"text": "b"}]},
            {"role": "assistant", "content": [{"text": "c"}]},
            {"role": "user", "content": [{"text": "d"}]},
        ],
    }
    stubber.add_response("converse", _response([{"text": "hello"}], stop="end_turn"), expected)
    assert backend.complete(messages, temperature=1.5).text == "hello"


def test_thinking_uses_auto_tool_choice_and_no_temperature(stubbed):
    backend, stubber = stubbed
    expected = {
        "modelId": MODEL,
        "system": [{"text": "You tune hyperparameters."}, {"text": ANY}],
        "messages": ANY,
        "inferenceConfig": {"maxTokens": 500 + 2048},
        "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 2048}},
        "toolConfig": {"tools": ANY, "toolChoice": {"auto": {}}},
    }
    content = [
        {"reasoningContent": {"reasoningText": {"text": "thinking...", "signature": "sig"}}},
        _tool_use({"configs": []}),
    ]
    stubber.add_response("converse", _response(content), expected)
    completion = backend.complete(MESSAGES, schema=SCHEMA, temperature=0.3, max_tokens=500, thinking_budget_tokens=2048)
    assert json.loads(completion.text) == {"configs": []}


def test_thinking_budget_below_minimum_is_rejected():
    with pytest.raises(PermanentBackendError, match="minimum of 1024"):
        BedrockBackend(MODEL, thinking_budget_tokens=100)


def test_throttling_then_success(stubbed, caplog):
    backend, stubber = stubbed
    stubber.add_client_error(
        "converse", service_error_code="ThrottlingException", service_message="Too many requests", http_status_code=429
    )
    stubber.add_client_error("converse", service_error_code="ServiceUnavailableException", http_status_code=503)
    stubber.add_response("converse", _response([_tool_use({"configs": [{"x": 1}]})]))
    with caplog.at_level(logging.INFO, logger="llm_search.backends.retry"):
        completion = backend.complete(MESSAGES, schema=SCHEMA)
    assert json.loads(completion.text) == {"configs": [{"x": 1}]}
    assert "ThrottlingException" in caplog.text and "retry 1/4" in caplog.text


def test_read_timeout_is_retried(stubbed, monkeypatch):
    backend, stubber = stubbed
    real_converse = backend._client.converse
    calls = []

    def time_out_once(**request):
        calls.append(1)
        if len(calls) == 1:
            raise ReadTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com")
        return real_converse(**request)

    monkeypatch.setattr(backend._client, "converse", time_out_once)
    stubber.add_response("converse", _response([_tool_use({"configs": []})]))
    assert json.loads(backend.complete(MESSAGES, schema=SCHEMA).text) == {"configs": []}
    assert len(calls) == 2


def test_attempts_are_bounded_and_end_transient():
    client = _client()
    backend = BedrockBackend(MODEL, client=client, max_attempts=3, **FAST)
    with Stubber(client) as stubber:
        for _ in range(3):
            stubber.add_client_error("converse", service_error_code="ThrottlingException", http_status_code=429)
        with pytest.raises(TransientBackendError, match="gave up after 3 attempt"):
            backend.complete(MESSAGES, schema=SCHEMA)
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "message", "fix"),
    [
        (
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
            "Model access) for region us-east-1",
        ),
        (
            "ValidationException",
            "Invocation of model ID anthropic.claude-3-7-sonnet-20250219-v1:0 with on-demand "
            "throughput isn't supported. Retry your request with the ID or ARN of an inference profile.",
            "'us.anthropic.claude-3-7-sonnet-20250219-v1:0'",
        ),
        ("ResourceNotFoundException", "Model not found", "check the model id and the region (us-east-1)"),
        ("UnrecognizedClientException", "The security token included in the request is invalid.", "AWS_PROFILE"),
    ],
)
def test_permanent_errors_fail_fast_and_name_the_fix(code, message, fix):
    client = _client()
    model = "anthropic.claude-3-7-sonnet-20250219-v1:0"
    backend = BedrockBackend(model, client=client, **FAST)
    with Stubber(client) as stubber:
        stubber.add_client_error("converse", service_error_code=code, service_message=message, http_status_code=400)
        with pytest.raises(PermanentBackendError) as info:
            backend.complete(MESSAGES, schema=SCHEMA)
        stubber.assert_no_pending_responses()  # one call: no retries
    assert fix in str(info.value) and code in str(info.value)


def test_missing_credentials_name_the_fix(monkeypatch, tmp_path):
    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    backend = BedrockBackend(MODEL, region="us-east-1", **FAST)
    with pytest.raises(PermanentBackendError, match="AWS_PROFILE"):
        backend.complete(MESSAGES)


def test_unknown_profile_and_missing_region(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(PermanentBackendError, match="ProfileNotFound"):
        BedrockBackend(MODEL, profile="nope").complete(MESSAGES)
    with pytest.raises(PermanentBackendError, match="AWS_REGION"):
        BedrockBackend(MODEL).complete(MESSAGES)
    # The region inside an inference-profile ARN is used when none is configured.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    backend = BedrockBackend(ARN)
    assert backend._get_client().meta.region_name == "eu-west-1"


def test_truncated_answer_is_returned_and_flagged(stubbed, caplog):
    backend, stubber = stubbed
    stubber.add_response("converse", _response([{"text": '{"configs": [{"lr": 0.0'}], stop="max_tokens"))
    with caplog.at_level(logging.WARNING):
        completion = backend.complete(MESSAGES, schema=SCHEMA, max_tokens=10)
    assert completion.finish_reason == "length"
    assert completion.text == '{"configs": [{"lr": 0.0'
    assert "raise max_tokens" in caplog.text


def test_stringified_tool_input_is_decoded(stubbed):
    backend, stubber = stubbed
    stubber.add_response("converse", _response([_tool_use({"configs": '[{"lr": 0.1}]'})]))
    completion = backend.complete(MESSAGES, schema=SCHEMA)
    assert json.loads(completion.text) == {"configs": [{"lr": 0.1}]}
    assert completion.extra["tool_input_repaired"] is True


def test_tool_input_not_matching_schema_is_passed_on_for_parsing(stubbed):
    backend, stubber = stubbed
    stubber.add_response("converse", _response([_tool_use({"config": "lr=0.1"})]))
    assert json.loads(backend.complete(MESSAGES, schema=SCHEMA).text) == {"config": "lr=0.1"}


def test_empty_answer_is_an_error(stubbed):
    backend, stubber = stubbed
    stubber.add_response("converse", _response([], stop="content_filtered"))
    with pytest.raises(BackendError, match="content_filtered"):
        backend.complete(MESSAGES, schema=SCHEMA)


def test_pickles_without_client_and_keeps_credentials_out(caplog):
    client = _client(KEY_ID, SECRET)
    backend = BedrockBackend(ARN, client=client, profile="research", **FAST)
    data = pickle.dumps(backend)
    assert SECRET.encode() not in data and KEY_ID.encode() not in data
    assert SECRET not in repr(backend) and KEY_ID not in repr(backend)
    copy = pickle.loads(data)
    assert copy._client is None and copy.profile == "research" and copy.name == backend.name
    with Stubber(client) as stubber, caplog.at_level(logging.DEBUG):
        stubber.add_client_error("converse", service_error_code="ThrottlingException", http_status_code=429)
        stubber.add_client_error(
            "converse",
            service_error_code="UnrecognizedClientException",
            service_message="The security token included in the request is invalid.",
        )
        with pytest.raises(PermanentBackendError) as info:
            backend.complete(MESSAGES, schema=SCHEMA)
    assert SECRET not in str(info.value) and KEY_ID not in str(info.value)
    assert SECRET not in caplog.text and KEY_ID not in caplog.text


def test_registry_builds_the_backend():
    backend = get_backend(f"bedrock:{ARN}", region="us-west-2", max_attempts=2)
    assert isinstance(backend, BedrockBackend)
    assert backend.model == ARN and backend.region == "us-west-2" and backend.retry.max_attempts == 2
    with pytest.raises(PermanentBackendError, match="needs a model"):
        get_backend("bedrock")
