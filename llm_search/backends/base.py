"""The one protocol every LLM backend implements, and the errors they raise.

A backend turns chat messages into a :class:`Completion`. It knows nothing about Ray or search
spaces: the searcher hands it a JSON schema (API backends) or a grammar (the embedded model) for
the answer, and gets text back. Transport and SDK errors are wrapped into :class:`BackendError`
subclasses at the backend's boundary, so callers handle one family of errors.

Example:
    >>> from llm_search.backends import ScriptedBackend
    >>> backend = ScriptedBackend(['{"configs": []}'])
    >>> backend.complete([{"role": "user", "content": "hi"}]).text
    '{"configs": []}'
"""

from __future__ import annotations

import abc
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

from llm_search.locking import PicklableLock

Message = Mapping[str, str]  # {"role": "system"|"user"|"assistant", "content": "..."}


@dataclass
class Completion:
    """One answer from a backend, with what it cost."""

    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    # Prompt tokens the server served from its prefix cache (llama.cpp, OpenAI-compatible servers);
    # counted in prompt_tokens too. 0 where the backend does not say.
    cached_prompt_tokens: int = 0
    finish_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cached_tokens_from_usage(usage: Any) -> int:
    """``usage.prompt_tokens_details.cached_tokens`` of an OpenAI-style response (0 if absent).

    Example:
        >>> cached_tokens_from_usage({"prompt_tokens": 900, "prompt_tokens_details": {"cached_tokens": 640}})
        640
        >>> cached_tokens_from_usage({"prompt_tokens": 900})
        0
    """
    details = usage.get("prompt_tokens_details") if isinstance(usage, dict) else None
    try:
        return int((details or {}).get("cached_tokens") or 0)
    except (TypeError, ValueError, AttributeError):
        return 0


class BackendError(Exception):
    """A backend could not answer. ``str(error)`` tells the user what to do about it."""


class TransientBackendError(BackendError):
    """Worth retrying later: throttling, timeouts, a server that is starting or overloaded."""


class PermanentBackendError(BackendError):
    """Retrying will not help: bad credentials, unknown model, invalid request, missing package."""


class ContextOverflowError(BackendError):
    """The prompt does not fit the model's context window; a shorter prompt would.

    Example:
        >>> str(ContextOverflowError(4475, 4096))
        "the prompt has 4475 tokens, more than the model's context window of 4096"
    """

    def __init__(self, prompt_tokens: int, context_tokens: int):
        super().__init__(
            f"the prompt has {prompt_tokens} tokens, more than the model's context window of {context_tokens}"
        )
        self.prompt_tokens = prompt_tokens
        self.context_tokens = context_tokens


def missing_dependency(package: str, extra: str, hint: str = "") -> PermanentBackendError:
    """The error for an optional dependency that is not installed, naming the pip extra."""
    text = f"{package} is not installed. Install it with: pip install 'llm-search[{extra}]'"
    return PermanentBackendError(text + (f" ({hint})" if hint else ""))


class Backend(abc.ABC):
    """An LLM that answers chat messages.

    Subclasses implement :meth:`complete` and set the capability attributes. They must be
    picklable without their clients or model handles (create those lazily), because Ray Tune
    pickles the searcher that holds them.
    """

    #: Identifier shown in logs and tables, e.g. ``"local:SmolLM2-135M-Instruct"``.
    name: str = "backend"
    #: Model name reported in completions.
    model: str = "unknown"
    #: True if ``complete(..., grammar=...)`` constrains decoding with a Lark/GBNF grammar.
    supports_grammar: bool = False
    #: True if ``complete(..., schema=...)`` constrains or at least requests JSON of that shape.
    supports_schema: bool = True
    #: Sampling temperature used when the caller does not choose one.
    default_temperature: float = 1.0
    #: How many finished trials a proposal prompt for this model should list (None: the prompt's default).
    history_trials: int | None = None
    #: Finished trials before this model proposes in the hybrid's contest (None: the hybrid's default).
    contest_llm_after: int | None = None

    @abc.abstractmethod
    def complete(self, messages: Sequence[Message], *, schema: dict | None = None, **options: Any) -> Completion:
        """Answer ``messages``.

        Args:
            messages: Chat messages, oldest first.
            schema: JSON schema the answer should follow, if the backend can use one.
            **options: ``temperature``, ``max_tokens``, ``seed``, ``grammar`` (if supported),
                and backend-specific options. Unknown options are ignored.

        Raises:
            TransientBackendError: worth retrying.
            PermanentBackendError: a configuration problem; the message names the fix.
        """

    def describe_as(self, inner: "Backend") -> None:
        """Take ``inner``'s identity and capabilities: what a wrapper (cache, budget, faults) calls first."""
        for attribute in (
            "name",
            "model",
            "supports_grammar",
            "supports_schema",
            "default_temperature",
            "history_trials",
            "contest_llm_after",
        ):
            setattr(self, attribute, getattr(inner, attribute))

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release clients or model handles (optional)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class ClientBackend(PicklableLock, Backend):
    """A backend around an SDK client that is created on first use, shared by threads, never pickled.

    Subclasses implement :meth:`_make_client` and call :meth:`_get_client`; ``self._lock`` is theirs
    to use for other shared state too.
    """

    def __init__(self, client: Any = None):
        self._client = client
        self._lock = threading.Lock()

    @abc.abstractmethod
    def _make_client(self) -> Any:
        """Build the SDK client (import the SDK here, raising ``missing_dependency`` if absent)."""

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None and hasattr(self._client, "close"):
                self._client.close()
            self._client = None

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["_client"] = None  # rebuilt in the new process: clients hold sockets and credentials
        return state
