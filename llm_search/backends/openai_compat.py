"""``openai:<model>@<base-url>``: any server that speaks OpenAI's ``/chat/completions``.

llama.cpp's server, vLLM, LM Studio, LocalAI, Ollama's ``/v1`` (which ignores ``num_ctx``: prefer the
``ollama:`` backend) and OpenAI itself. Plain standard-library HTTP, no SDK. The API key comes from
``OPENAI_API_KEY`` or ``api_key=``; it is sent only in the ``Authorization`` header and never
logged, shown, or pickled (a copy of the backend reads ``OPENAI_API_KEY`` again). The base URL is
not a place for credentials: it appears in names and logs.

Example:
    >>> backend = OpenAICompatBackend("smollm2@http://127.0.0.1:8080/v1")
    >>> backend.name, backend.base_url
    ('openai:smollm2@http://127.0.0.1:8080/v1', 'http://127.0.0.1:8080/v1')
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import socket
import time
import urllib.error
import urllib.request
from typing import Any, Sequence

from llm_search.backends.base import (
    Backend,
    BackendError,
    Completion,
    Message,
    PermanentBackendError,
    TransientBackendError,
    cached_tokens_from_usage,
)
from llm_search.backends.retry import RetryPolicy

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
JSON_MODES = ("schema", "object", "none")
MISSING_MODEL = (
    "The openai backend needs a model: 'openai:<model>@<base-url>', e.g. 'openai:smollm2@http://127.0.0.1:8080/v1'"
)
FIX_KEY = "check the API key: set OPENAI_API_KEY (an api_key= passed in code is not kept when the backend is copied)"
FIX_URL = "check base_url (OpenAI-compatible servers usually serve under /v1) and the model name"
FIX_JSON_MODE = (
    "check the JSON schema; if this server does not support json_schema response formats, pass "
    "json_mode='object' (or 'none')"
)


class OpenAICompatBackend(Backend):
    """A chat model behind an OpenAI-compatible HTTP API.

    Args:
        model: Model name, or ``"<model>@<base-url>"`` as in the spec string.
        base_url: API root (``http://127.0.0.1:8080/v1``); default ``OPENAI_BASE_URL`` or OpenAI's.
        api_key: Bearer token; default ``OPENAI_API_KEY`` (none is sent when neither is set).
        json_mode: ``"schema"`` sends ``response_format`` json_schema (``strict`` as given),
            ``"object"`` asks for any JSON object, ``"none"`` sends no response format.
        strict: The json_schema ``strict`` flag (OpenAI then requires every property to be required).
        grammar_field: Request field that takes a grammar (``"grammar"`` for llama.cpp's server);
            when set, the backend supports grammar-constrained decoding.
        timeout_s: Timeout of one request.
        max_attempts: Attempts per request, for 408/429/5xx, timeouts and dropped connections.
        initial_wait_s: First backoff wait; doubles with each retry, with jitter.
        max_wait_s: Longest single backoff wait.

    Example:
        >>> backend = OpenAICompatBackend("gpt-4o-mini", json_mode="object")
        >>> backend.complete([{"role": "user", "content": "Say hi"}], max_tokens=16).text  # doctest: +SKIP
    """

    supports_schema = True

    def __init__(
        self,
        model: str = "",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        json_mode: str = "schema",
        strict: bool = True,
        grammar_field: str | None = None,
        timeout_s: float = 300.0,
        max_attempts: int = 5,
        initial_wait_s: float = 1.0,
        max_wait_s: float = 30.0,
    ):
        match = re.fullmatch(r"(.+)@(https?://.+)", model)
        if match:
            model, base_url = match.group(1), base_url or match.group(2)
        if not model:
            raise PermanentBackendError(MISSING_MODEL)
        if json_mode not in JSON_MODES:
            raise PermanentBackendError(f"json_mode must be one of {JSON_MODES}, got {json_mode!r}")
        self.model = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.name = f"openai:{model}@{self.base_url}"
        self.json_mode = json_mode
        self.strict = strict
        self.grammar_field = grammar_field
        self.supports_grammar = grammar_field is not None
        self.timeout_s = timeout_s
        self.retry = RetryPolicy(
            max_attempts=max_attempts, initial_wait_s=initial_wait_s, max_wait_s=max_wait_s, extra="openai"
        )
        self._api_key = api_key

    def complete(self, messages: Sequence[Message], *, schema: dict | None = None, **options: Any) -> Completion:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "max_tokens": int(options.get("max_tokens", 1024)),
        }
        for key, cast in (("temperature", float), ("seed", int)):
            if options.get(key) is not None:
                body[key] = cast(options[key])
        if self.grammar_field and options.get("grammar"):
            body[self.grammar_field] = options["grammar"]
        elif schema is not None and self.json_mode == "schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema, "strict": self.strict},
            }
        elif schema is not None and self.json_mode == "object":
            body["response_format"] = {"type": "json_object"}
        start = time.perf_counter()
        response = self.retry.call(lambda: self._post("/chat/completions", body), what=self.name)
        try:
            choice = response["choices"][0]
            text = choice["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise BackendError(f"{self.name}: unexpected response: {str(response)[:300]}") from None
        if text is None:
            raise BackendError(f"{self.name} returned no text (finish_reason {choice.get('finish_reason')})")
        if choice.get("finish_reason") == "length":
            logger.warning(
                "%s: the answer was cut at max_tokens=%d; raise max_tokens if this repeats",
                self.name,
                body["max_tokens"],
            )
        usage = response.get("usage") or {}
        return Completion(
            text=text,
            model=self.model,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            cached_prompt_tokens=cached_tokens_from_usage(usage),
            latency_s=time.perf_counter() - start,
            finish_reason=choice.get("finish_reason"),
        )

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = self._api_key or os.environ.get("OPENAI_API_KEY")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(self.base_url + path, data=json.dumps(body).encode(), headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc.code, _error_text(exc), key) from None
        except urllib.error.URLError as exc:
            raise self._connection_error(exc.reason, key) from None
        except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
            raise TransientBackendError(self._redact(f"{self.name}: {type(exc).__name__}: {exc}", key)) from None
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            raise BackendError(self._redact(f"{self.name}: the server sent non-JSON: {raw[:200]!r}", key)) from None

    def _http_error(self, status: int, text: str, key: str | None) -> BackendError:
        message = f"{self.name}: HTTP {status}: {text}"
        if status in (408, 409, 429) or status >= 500:
            return TransientBackendError(self._redact(message, key))
        if status in (401, 403):
            return PermanentBackendError(self._redact(f"{message}. Fix: {FIX_KEY}", key))
        if status == 404:
            return PermanentBackendError(self._redact(f"{message}. Fix: {FIX_URL}", key))
        if status == 400 and self.json_mode == "schema" and ("response_format" in text or "schema" in text):
            return PermanentBackendError(self._redact(f"{message}. Fix: {FIX_JSON_MODE}", key))
        return PermanentBackendError(self._redact(message, key))

    def _connection_error(self, reason: Any, key: str | None) -> BackendError:
        if isinstance(reason, ConnectionRefusedError):
            return PermanentBackendError(f"Nothing is listening at {self.base_url}: start the server, or fix base_url")
        if isinstance(reason, socket.gaierror):
            return PermanentBackendError(f"Cannot resolve the host of {self.base_url}: fix base_url")
        return TransientBackendError(self._redact(f"{self.name}: {reason}", key))

    @staticmethod
    def _redact(text: str, key: str | None) -> str:
        return text.replace(key, "***") if key else text

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_api_key"] = None  # never saved; the copy reads OPENAI_API_KEY
        return state


def _error_text(error: urllib.error.HTTPError) -> str:
    """The server's error message from an HTTP error body (OpenAI's ``{"error": {"message": ...}}``)."""
    try:
        raw = error.read().decode(errors="replace")
    except OSError:
        return error.reason or ""
    try:
        payload = json.loads(raw)
    except json.JSONDecodeError:
        return raw[:300]
    detail = payload.get("error", payload) if isinstance(payload, dict) else payload
    if isinstance(detail, dict):
        detail = detail.get("message", detail)
    return str(detail)[:300]
