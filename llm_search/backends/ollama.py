"""``ollama:<model>`` (native HTTP API) and ``ollama-cli:<model>`` (the ``ollama run`` command).

``ollama:`` talks to a running Ollama server through the official ``ollama`` client and its native
``/api/chat`` endpoint, which (unlike Ollama's OpenAI-compatible ``/v1``) honours ``num_ctx``: the
context is sized to each prompt so long histories are not silently truncated, and the answer is
constrained to the JSON schema with ``format=``. The host comes from ``OLLAMA_HOST`` or ``host=``.

``ollama-cli:`` runs ``ollama run <model> --format json`` with the prompt on stdin, for headless
machines where only the command is at hand (it still needs a server, which the command starts or
reaches through ``OLLAMA_HOST``). It cannot pass a schema, temperature, seed or token limit: the
schema goes into the prompt, the rest is left to the model's defaults.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import time
from typing import Any, Sequence
from urllib.parse import urlsplit

from llm_search.backends.base import (
    Backend,
    BackendError,
    ClientBackend,
    Completion,
    Message,
    PermanentBackendError,
    TransientBackendError,
    missing_dependency,
)
from llm_search.backends.retry import RetryPolicy
from llm_search.pricing import estimate_tokens

logger = logging.getLogger(__name__)

DEFAULT_HOST = "http://127.0.0.1:11434"
MIN_CONTEXT = 2048
CONTEXT_MARGIN = 256
MISSING_MODEL = "The {prefix} backend needs a model: '{prefix}:<model>', e.g. '{prefix}:qwen2.5:7b'"
NOT_RUNNING = (
    "Cannot reach the Ollama server at {host}: start it with `ollama serve`, or point OLLAMA_HOST (or host=) at it"
)
NOT_PULLED = "Ollama has no model {model!r}{available}: download it with `ollama pull {model}`"
TOO_LONG = (
    "%s: the prompt (~%d tokens) plus max_tokens=%d does not fit the model's context of %d tokens; "
    "Ollama will truncate it. Shorten the history (ContextLimits) or use a model with a longer context."
)
NO_EXECUTABLE = (
    "The `ollama` command was not found{where}. Install Ollama (https://ollama.com/download) or set "
    "OLLAMA_EXECUTABLE to the binary"
)


def context_size(prompt_tokens: int, max_tokens: int) -> int:
    """The ``num_ctx`` for a request: prompt + answer + margin, rounded up to a power of two, >= 2048.

    Powers of two keep the number of distinct sizes small (Ollama reloads a model when it changes).

    Example:
        >>> context_size(1000, 500), context_size(3000, 2000)
        (2048, 8192)
    """
    size = MIN_CONTEXT
    while size < prompt_tokens + max_tokens + CONTEXT_MARGIN:
        size *= 2
    return size


def display_host(host: str | None) -> str:
    """The server address without any user:password part, for names, logs and errors."""
    host = host or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST
    parts = urlsplit(host if "://" in host else f"http://{host}")
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


class OllamaBackend(ClientBackend):
    """A model served by Ollama, through its native ``/api/chat`` API.

    Args:
        model: Ollama model name, e.g. ``"qwen2.5:7b"``.
        host: Server URL; default ``OLLAMA_HOST`` or ``http://127.0.0.1:11434``. Names, logs and errors
            show it without any ``user:password@`` part, but ``host=`` is saved with the searcher:
            put a URL with credentials in ``OLLAMA_HOST`` instead.
        timeout_s: Timeout of one request (loading a large model can take a while).
        keep_alive: How long the server keeps the model loaded after a call (trials take time).
        num_ctx: Fixed context size; default: sized to each prompt (and never shrunk, to avoid reloads).
        num_ctx_max: The model's longest context, if known: larger prompts are logged as truncated.
        think: Passed to Ollama's ``think`` for reasoning models (None: the model's default).
        max_attempts: Attempts per request, for timeouts, dropped connections and server errors.
        initial_wait_s: First backoff wait; doubles with each retry, with jitter.
        max_wait_s: Longest single backoff wait.

    Example:
        >>> backend = OllamaBackend("qwen2.5:7b", host="http://127.0.0.1:11434")
        >>> backend.name
        'ollama:qwen2.5:7b'
        >>> backend.complete([{"role": "user", "content": "Say hi"}], max_tokens=16).text  # doctest: +SKIP
    """

    supports_grammar = False
    supports_schema = True

    def __init__(
        self,
        model: str = "",
        *,
        host: str | None = None,
        timeout_s: float = 300.0,
        keep_alive: str | float = "30m",
        num_ctx: int | None = None,
        num_ctx_max: int | None = None,
        think: bool | None = None,
        max_attempts: int = 5,
        initial_wait_s: float = 1.0,
        max_wait_s: float = 30.0,
    ):
        if not model:
            raise PermanentBackendError(MISSING_MODEL.format(prefix="ollama"))
        self.model = model
        self.name = f"ollama:{model}"
        self.host = host
        self.timeout_s = timeout_s
        self.keep_alive = keep_alive
        self.num_ctx = num_ctx
        self.num_ctx_max = num_ctx_max
        self.think = think
        self.retry = RetryPolicy(
            max_attempts=max_attempts, initial_wait_s=initial_wait_s, max_wait_s=max_wait_s, extra="ollama"
        )
        self._context = 0  # largest num_ctx used so far
        ClientBackend.__init__(self)

    def complete(self, messages: Sequence[Message], *, schema: dict | None = None, **options: Any) -> Completion:
        max_tokens = int(options.get("max_tokens", 1024))
        request_options: dict[str, Any] = {
            "num_ctx": self._context_for(messages, max_tokens),
            "num_predict": max_tokens,
        }
        if options.get("temperature") is not None:
            request_options["temperature"] = float(options["temperature"])
        if options.get("seed") is not None:
            request_options["seed"] = int(options["seed"])
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "format": schema,
            "options": request_options,
            "keep_alive": self.keep_alive,
        }
        if self.think is not None:  # ollama-python < 0.5 has no think argument
            request["think"] = self.think
        start = time.perf_counter()
        response = self.retry.call(lambda: self._chat(request), what=self.name)
        if response.done_reason == "length":
            logger.warning(
                "%s: the answer was cut at max_tokens=%d; raise max_tokens if this repeats", self.name, max_tokens
            )
        return Completion(
            text=response.message.content or "",
            model=self.model,
            prompt_tokens=int(response.prompt_eval_count or 0),
            completion_tokens=int(response.eval_count or 0),
            latency_s=time.perf_counter() - start,
            finish_reason=response.done_reason,
            extra={"num_ctx": request_options["num_ctx"]},
        )

    def _context_for(self, messages: Sequence[Message], max_tokens: int) -> int:
        if self.num_ctx:
            return self.num_ctx
        prompt = estimate_tokens(messages)
        size = context_size(prompt, max_tokens)
        if self.num_ctx_max:
            if prompt + max_tokens > self.num_ctx_max:
                logger.warning(TOO_LONG, self.name, prompt, max_tokens, self.num_ctx_max)
            size = min(size, self.num_ctx_max)
        with self._lock:
            self._context = max(self._context, size)
            return self._context

    def _make_client(self) -> Any:
        try:
            import ollama
        except ImportError:
            raise missing_dependency("ollama", "ollama") from None
        return ollama.Client(host=self.host, timeout=self.timeout_s)

    def _chat(self, request: dict[str, Any]) -> Any:
        client = self._get_client()
        try:
            return client.chat(**request)
        except Exception as exc:
            raise self._wrap(exc, client) from None

    def _wrap(self, exc: Exception, client: Any) -> BackendError:
        """Translate a client exception into our error family, with the fix in the message."""
        import httpx
        import ollama

        host = display_host(self.host)
        if isinstance(exc, ConnectionError):
            return PermanentBackendError(NOT_RUNNING.format(host=host))
        if isinstance(exc, httpx.TransportError):  # timeouts, dropped connections
            return TransientBackendError(f"{self.name} at {host}: {type(exc).__name__}: {exc}")
        if isinstance(exc, ollama.ResponseError):
            status, error = exc.status_code, str(exc.error)
            if status == 404 or "not found" in error.lower():
                return PermanentBackendError(NOT_PULLED.format(model=self.model, available=_pulled(client)))
            if "more system memory" in error:
                return PermanentBackendError(f"{self.name}: {error}: use a smaller model or set num_ctx lower")
            if status in (408, 429) or status >= 500:
                return TransientBackendError(f"{self.name} at {host}: HTTP {status}: {error}")
            return PermanentBackendError(f"{self.name} at {host} rejected the request (HTTP {status}): {error}")
        return BackendError(f"{self.name}: {type(exc).__name__}: {exc}")

    def __repr__(self) -> str:
        return f"OllamaBackend({self.name!r}, host={display_host(self.host)!r})"


def _pulled(client: Any) -> str:
    """``' (pulled: a, b)'`` from the server's model list, or ``''`` if it cannot be read."""
    try:
        names = sorted(m.model for m in client.list().models if m.model)
    except Exception:  # the list only decorates an error message
        return ""
    return f" (pulled: {', '.join(names)})" if names else " (no models pulled yet)"


class OllamaCLIBackend(Backend):
    """A model run through the ``ollama run`` command, prompt on stdin, JSON on stdout.

    Args:
        model: Ollama model name, e.g. ``"qwen2.5:7b"``.
        executable: The ``ollama`` binary; default ``OLLAMA_EXECUTABLE`` or ``ollama`` on PATH.
        timeout_s: Timeout of one run.
        hide_thinking: Pass ``--hidethinking`` (Ollama >= 0.9) so reasoning models print only the answer.
        keep_alive: Passed as ``--keepalive`` (e.g. ``"30m"``); None: the server's default.
        max_attempts: Attempts per request (timeouts are retried).
        initial_wait_s: First backoff wait; doubles with each retry, with jitter.
        max_wait_s: Longest single backoff wait.

    Example:
        >>> backend = OllamaCLIBackend("qwen2.5:7b")
        >>> backend.command(json_mode=True)[1:]  # doctest: +SKIP
        ['run', 'qwen2.5:7b', '--format', 'json', '--nowordwrap', '--verbose', '--hidethinking']
    """

    supports_grammar = False
    supports_schema = True

    def __init__(
        self,
        model: str = "",
        *,
        executable: str | None = None,
        timeout_s: float = 600.0,
        hide_thinking: bool = True,
        keep_alive: str | None = None,
        max_attempts: int = 2,
        initial_wait_s: float = 1.0,
        max_wait_s: float = 30.0,
    ):
        if not model:
            raise PermanentBackendError(MISSING_MODEL.format(prefix="ollama-cli"))
        self.model = model
        self.name = f"ollama-cli:{model}"
        self.executable = executable
        self.timeout_s = timeout_s
        self.hide_thinking = hide_thinking
        self.keep_alive = keep_alive
        self.retry = RetryPolicy(
            max_attempts=max_attempts, initial_wait_s=initial_wait_s, max_wait_s=max_wait_s, extra="ollama"
        )

    def command(self, *, json_mode: bool) -> list[str]:
        """The argv of one run (``ollama run <model> [--format json] --nowordwrap --verbose ...``)."""
        argv = [self._executable(), "run", self.model]
        if json_mode:
            argv += ["--format", "json"]
        argv += ["--nowordwrap", "--verbose"]  # --verbose prints token counts on stderr
        if self.hide_thinking:
            argv.append("--hidethinking")
        if self.keep_alive:
            argv += ["--keepalive", str(self.keep_alive)]
        return argv

    def complete(self, messages: Sequence[Message], *, schema: dict | None = None, **options: Any) -> Completion:
        argv = self.command(json_mode=schema is not None)
        prompt = flatten_prompt(messages, schema)
        start = time.perf_counter()
        result = self.retry.call(lambda: self._run(argv, prompt), what=self.name)
        counts = {
            key: int(value)
            for key, value in re.findall(r"^(prompt eval count|eval count):\s+(\d+)", result.stderr, re.MULTILINE)
        }
        return Completion(
            text=result.stdout.strip(),
            model=self.model,
            prompt_tokens=counts.get("prompt eval count", 0),
            completion_tokens=counts.get("eval count", 0),
            latency_s=time.perf_counter() - start,
            finish_reason="stop",
        )

    def _executable(self) -> str:
        configured = self.executable or os.environ.get("OLLAMA_EXECUTABLE")
        found = shutil.which(configured or "ollama")
        if found is None:
            where = f" at {configured!r}" if configured else " on PATH"
            raise PermanentBackendError(NO_EXECUTABLE.format(where=where))
        return found

    def _run(self, argv: list[str], prompt: str) -> subprocess.CompletedProcess:
        try:
            result = subprocess.run(argv, input=prompt, capture_output=True, text=True, timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            raise TransientBackendError(f"{self.name}: `ollama run` took longer than {self.timeout_s:g} s") from None
        except OSError as exc:
            raise PermanentBackendError(f"{self.name}: cannot run {argv[0]!r}: {exc}") from None
        if result.returncode == 0:
            return result
        error = result.stderr.strip()[-500:]
        lowered = error.lower()
        if "could not connect" in lowered or "connection refused" in lowered:
            raise PermanentBackendError(NOT_RUNNING.format(host=display_host(None)))
        if "not found" in lowered or "file does not exist" in lowered or "pull model manifest" in lowered:
            raise PermanentBackendError(NOT_PULLED.format(model=self.model, available=""))
        if "unknown flag" in lowered:
            raise PermanentBackendError(
                f"{self.name}: this ollama CLI is too old ({error}); upgrade Ollama, or "
                "pass hide_thinking=False for versions before 0.9"
            )
        raise BackendError(f"{self.name}: `ollama run` exited with {result.returncode}: {error}")


def flatten_prompt(messages: Sequence[Message], schema: dict | None) -> str:
    """One prompt text for ``ollama run``: the messages in order, then the JSON schema if any.

    Example:
        >>> flatten_prompt([{"role": "user", "content": "Hi"}], None)
        'Hi'
    """
    parts = [("Your previous answer:\n" if m["role"] == "assistant" else "") + m["content"] for m in messages]
    if schema is not None:
        parts.append("Answer with JSON only, following this JSON schema:\n" + json.dumps(schema))
    return "\n\n".join(parts)
