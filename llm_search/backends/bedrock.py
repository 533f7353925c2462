"""``bedrock:<model-id-or-inference-profile>``: Claude (and other chat models) on Amazon Bedrock.

Uses the ``bedrock-runtime`` Converse API through boto3, which accepts foundation-model ids
(``anthropic.claude-3-5-haiku-20241022-v1:0``), cross-region inference-profile ids
(``us.anthropic.claude-3-7-sonnet-20250219-v1:0``) and ARNs
(``arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic...``). Credentials, region
and profile come from the standard AWS chain (``AWS_PROFILE``, ``AWS_REGION``, ``~/.aws``, SSO,
instance roles) or the ``region=``/``profile=`` options; they are never stored or logged here.

JSON answers use Claude's tool use: the schema becomes the input schema of a ``submit_configs``
tool that the model is made to call, and the tool input is returned as the completion text.
Retries are ours (see ``retry.py``); botocore's own retries are switched off.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Sequence

from llm_search.backends.base import (
    BackendError,
    ClientBackend,
    Completion,
    Message,
    PermanentBackendError,
    TransientBackendError,
    missing_dependency,
)
from llm_search.backends.retry import RetryPolicy

logger = logging.getLogger(__name__)

TOOL_NAME = "submit_configs"
TOOL_DESCRIPTION = "Submit the answer. Call this tool exactly once with the complete answer."
THINKING_TOOL_HINT = f"Give your final answer by calling the {TOOL_NAME} tool."
MIN_THINKING_BUDGET = 1024

TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "ServiceUnavailableException",
        "ModelNotReadyException",
        "InternalServerException",
        "ModelTimeoutException",
        "ModelErrorException",
    }
)
CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "ExpiredTokenException",
        "InvalidSignatureException",
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
    }
)
FIX_CREDENTIALS = (
    "configure AWS credentials: set AWS_PROFILE (after `aws configure` or `aws sso login`), "
    "pass profile=..., or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
)
FIX_REGION = "set AWS_REGION (or AWS_DEFAULT_REGION), or pass region=... in backend_options"
MISSING_MODEL = (
    "The bedrock backend needs a model: 'bedrock:<model-id-or-inference-profile-arn>', e.g. "
    "'bedrock:us.anthropic.claude-3-7-sonnet-20250219-v1:0'"
)
TRUNCATED = (
    "%s: the answer was cut at max_tokens=%d (stopReason max_tokens); raise max_tokens "
    "(or lower thinking_budget_tokens) if answers keep arriving incomplete"
)


class BedrockBackend(ClientBackend):
    """Claude on Amazon Bedrock through the Converse API.

    Args:
        model: Model id, inference-profile id or ARN (``"us.anthropic.claude-3-7-sonnet-20250219-v1:0"``).
        region: AWS region; default: the AWS chain, else the region inside an ARN.
        profile: Named AWS profile; default: the AWS chain (``AWS_PROFILE``...).
        endpoint_url: Custom ``bedrock-runtime`` endpoint (VPC endpoint, proxy).
        timeout_s: Read timeout of one request (extended thinking can take minutes).
        connect_timeout_s: Connect timeout of one request.
        thinking_budget_tokens: Enables Claude's extended thinking with this token budget (>= 1024);
            meant for roles that write code. A per-call ``thinking_budget_tokens=`` option overrides it.
        max_attempts: Attempts per request, for throttling, timeouts and server errors.
        initial_wait_s: First backoff wait; doubles with each retry, with jitter.
        max_wait_s: Longest single backoff wait.
        client: A ready ``bedrock-runtime`` client (tests, custom sessions). Never pickled: a copy
            of this backend builds its own client from ``region``/``profile``/``endpoint_url``.

    Example:
        >>> backend = BedrockBackend("us.anthropic.claude-3-7-sonnet-20250219-v1:0", region="us-east-1")
        >>> backend.name
        'bedrock:us.anthropic.claude-3-7-sonnet-20250219-v1:0'
        >>> backend.complete([{"role": "user", "content": "Say hi"}], max_tokens=16).text  # doctest: +SKIP
        'Hi!'
    """

    supports_grammar = False
    supports_schema = True

    def __init__(
        self,
        model: str = "",
        *,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        timeout_s: float = 300.0,
        connect_timeout_s: float = 10.0,
        thinking_budget_tokens: int | None = None,
        max_attempts: int = 5,
        initial_wait_s: float = 1.0,
        max_wait_s: float = 30.0,
        client: Any = None,
    ):
        if not model:
            raise PermanentBackendError(MISSING_MODEL)
        _check_thinking_budget(thinking_budget_tokens)
        self.model = model
        self.name = f"bedrock:{model}"
        self.region = region
        self.profile = profile
        self.endpoint_url = endpoint_url
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.thinking_budget_tokens = thinking_budget_tokens
        self.retry = RetryPolicy(
            max_attempts=max_attempts, initial_wait_s=initial_wait_s, max_wait_s=max_wait_s, extra="bedrock"
        )
        ClientBackend.__init__(self, client)

    # ------------------------------------------------------------------ the call
    def complete(self, messages: Sequence[Message], *, schema: dict | None = None, **options: Any) -> Completion:
        thinking = options.get("thinking_budget_tokens", self.thinking_budget_tokens)
        _check_thinking_budget(thinking)
        max_tokens = int(options.get("max_tokens", 2048))
        request = self._request(messages, schema, thinking, max_tokens, options.get("temperature"))
        start = time.perf_counter()
        response = self.retry.call(lambda: self._converse(request), what=self.name)
        return self._completion(response, time.perf_counter() - start, schema is not None, max_tokens)

    def _request(
        self,
        messages: Sequence[Message],
        schema: dict | None,
        thinking: int | None,
        max_tokens: int,
        temperature: float | None,
    ) -> dict[str, Any]:
        system = [{"text": m["content"]} for m in messages if m["role"] == "system"]
        turns: list[dict[str, Any]] = []
        for m in messages:
            if m["role"] == "system":
                continue
            if turns and turns[-1]["role"] == m["role"]:  # Converse wants alternating turns
                turns[-1]["content"].append({"text": m["content"]})
            else:
                turns.append({"role": m["role"], "content": [{"text": m["content"]}]})
        inference: dict[str, Any] = {"maxTokens": max_tokens}
        request: dict[str, Any] = {"modelId": self.model, "messages": turns, "inferenceConfig": inference}
        if thinking:
            # Thinking needs temperature 1 (the default, so it is left out) and room beyond the budget.
            inference["maxTokens"] = max_tokens + int(thinking)
            request["additionalModelRequestFields"] = {"thinking": {"type": "enabled", "budget_tokens": int(thinking)}}
        elif temperature is not None:
            inference["temperature"] = min(1.0, max(0.0, float(temperature)))  # Claude's range is [0, 1]
        if schema is not None:
            # Thinking is incompatible with a forced tool choice: let the model choose, and ask it to call.
            choice = {"auto": {}} if thinking else {"tool": {"name": TOOL_NAME}}
            if thinking:
                system.append({"text": THINKING_TOOL_HINT})
            request["toolConfig"] = {
                "tools": [
                    {"toolSpec": {"name": TOOL_NAME, "description": TOOL_DESCRIPTION, "inputSchema": {"json": schema}}}
                ],
                "toolChoice": choice,
            }
        if system:
            request["system"] = system
        return request

    def _converse(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._get_client().converse(**request)
        except BackendError:
            raise
        except Exception as exc:
            raise self._wrap(exc) from None  # the SDK traceback adds nothing the message lacks

    def _completion(self, response: dict[str, Any], latency: float, wants_tool: bool, max_tokens: int) -> Completion:
        stop = response.get("stopReason")
        content = ((response.get("output") or {}).get("message") or {}).get("content") or []
        texts = [block["text"] for block in content if "text" in block]
        tool_inputs = [
            block["toolUse"].get("input")
            for block in content
            if "toolUse" in block and block["toolUse"].get("name") == TOOL_NAME
        ]
        extra: dict[str, Any] = {"stop_reason": stop}
        if wants_tool and tool_inputs:
            answer, repaired = _unstringify(tool_inputs[0])
            text = json.dumps(answer)
            if repaired:
                extra["tool_input_repaired"] = True
        else:
            text = "".join(texts)
            if wants_tool:
                logger.debug("%s answered without calling %s (stopReason %s)", self.name, TOOL_NAME, stop)
        if not text.strip() and stop != "max_tokens":
            raise BackendError(f"{self.name} returned no answer (stopReason {stop})")
        if stop == "max_tokens":
            logger.warning(TRUNCATED, self.name, max_tokens)
        metrics = response.get("metrics") or {}
        if "latencyMs" in metrics:
            extra["server_latency_s"] = metrics["latencyMs"] / 1000.0
        usage = response.get("usage") or {}
        return Completion(
            text=text,
            model=self.model,
            prompt_tokens=int(usage.get("inputTokens", 0)),
            completion_tokens=int(usage.get("outputTokens", 0)),
            latency_s=latency,
            finish_reason={"max_tokens": "length", "end_turn": "stop", "tool_use": "stop"}.get(stop, stop),
            extra=extra,
        )

    # ------------------------------------------------------------------ client and errors
    def _make_client(self) -> Any:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise missing_dependency("boto3", "bedrock") from None
        session = boto3.Session(profile_name=self.profile)
        region = self.region or session.region_name or _arn_region(self.model)
        if not region:
            raise PermanentBackendError(f"No AWS region for {self.name}: {FIX_REGION}")
        config = Config(
            read_timeout=self.timeout_s,
            connect_timeout=self.connect_timeout_s,
            retries={"mode": "standard", "total_max_attempts": 1},
            user_agent_extra="llm-search",
        )
        return session.client("bedrock-runtime", region_name=region, endpoint_url=self.endpoint_url, config=config)

    def _region_in_use(self) -> str:
        client_region = getattr(getattr(self._client, "meta", None), "region_name", None)
        return client_region or self.region or _arn_region(self.model) or "(unset)"

    def _wrap(self, exc: Exception) -> BackendError:
        """Translate an SDK exception into our error family, with the fix in the message."""
        import botocore.exceptions as bx

        region = self._region_in_use()
        if isinstance(exc, bx.ClientError):
            error = exc.response.get("Error", {})
            code, message = error.get("Code", "Unknown"), error.get("Message", "")
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if code in TRANSIENT_CODES or status >= 500:
                return TransientBackendError(f"{self.name}: {code}: {message}")
            fix = _permanent_fix(code, message, self.model, region)
            if fix is None:
                return BackendError(f"{self.name} in {region}: {code}: {message}")
            return PermanentBackendError(
                f"Bedrock rejected {self.model} in region {region} ({code}: {message}). Fix: {fix}."
            )
        if isinstance(exc, (bx.HTTPClientError, bx.ConnectionError)):
            return TransientBackendError(
                f"{self.name}: {type(exc).__name__}: {exc} (region {region}; check "
                "the network, region= and endpoint_url= if this persists)"
            )
        if isinstance(
            exc,
            (
                bx.NoCredentialsError,
                bx.PartialCredentialsError,
                bx.ProfileNotFound,
                bx.CredentialRetrievalError,
                bx.TokenRetrievalError,
                bx.SSOError,
            ),
        ):
            return PermanentBackendError(f"{self.name}: {type(exc).__name__}: {exc}. Fix: {FIX_CREDENTIALS}.")
        if isinstance(exc, bx.NoRegionError):
            return PermanentBackendError(f"No AWS region for {self.name}: {FIX_REGION}")
        if isinstance(exc, bx.ParamValidationError):
            return PermanentBackendError(f"{self.name}: invalid request: {exc}")
        return BackendError(f"{self.name}: {type(exc).__name__}: {exc}")


def _check_thinking_budget(budget: int | None) -> None:
    if budget is not None and int(budget) < MIN_THINKING_BUDGET:
        raise PermanentBackendError(
            f"thinking_budget_tokens={budget} is below Claude's minimum of {MIN_THINKING_BUDGET}: "
            "raise it, or leave it unset to disable extended thinking"
        )


def _arn_region(model: str) -> str | None:
    """The region inside a Bedrock ARN (``arn:aws:bedrock:<region>:...``), if ``model`` is one."""
    parts = model.split(":")
    if model.startswith("arn:") and len(parts) > 4 and parts[3]:
        return parts[3]
    return None


def _permanent_fix(code: str, message: str, model: str, region: str) -> str | None:
    """What the user should do about a non-retryable Bedrock error, or None if we cannot tell."""
    profile_form = f"'us.{model}' (or eu./apac.)" if model.startswith("anthropic.") else "'us.<model-id>'"
    if code == "AccessDeniedException":
        return (
            f"request access to this model in the Amazon Bedrock console (Model access) for region {region}, "
            "and check that your IAM identity allows bedrock:InvokeModel and bedrock:Converse"
        )
    if code in CREDENTIAL_CODES:
        return FIX_CREDENTIALS
    if code == "ResourceNotFoundException":
        return (
            f"check the model id and the region ({region}): the model may not be offered there, or may "
            f"need cross-region inference through an inference profile such as {profile_form} or its ARN"
        )
    if code == "ValidationException":
        lowered = message.lower()
        if "on-demand" in lowered or "inference profile" in lowered:
            return f"use the cross-region inference-profile form of the model: {profile_form}, or its ARN"
        if "model identifier" in lowered or "model id" in lowered:
            return (
                f"check the model id (`aws bedrock list-foundation-models --region {region}` and "
                "`aws bedrock list-inference-profiles`)"
            )
        return "check max_tokens, thinking_budget_tokens and that this model supports tool use"
    return None


def _unstringify(tool_input: Any) -> tuple[Any, bool]:
    """Decode JSON that Claude sometimes passes as a string inside the tool input."""

    def decode(value: Any) -> tuple[Any, bool]:
        if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
            try:
                return json.loads(value), True
            except json.JSONDecodeError:
                return value, False
        return value, False

    if isinstance(tool_input, dict):
        decoded = {key: decode(value) for key, value in tool_input.items()}
        return {key: value for key, (value, _) in decoded.items()}, any(flag for _, flag in decoded.values())
    return decode(tool_input)
