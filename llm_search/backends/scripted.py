"""A backend that plays back queued answers: for unit tests of the searcher's logic."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Callable, Iterable, Sequence, Union

from llm_search.backends.base import Backend, BackendError, Completion, Message
from llm_search.locking import PicklableLock

Answer = Union[str, BaseException, Callable[[Sequence[Message], dict], str]]


class ScriptedBackend(PicklableLock, Backend):
    """Answers from a queue of scripted replies; records every call.

    Each queued answer is a string (returned as the completion text), an exception (raised), or a
    callable ``(messages, options) -> str``. When the queue is empty, ``default`` is used if set,
    otherwise a :class:`BackendError` is raised.

    Example:
        >>> backend = ScriptedBackend()
        >>> backend.enqueue('{"configs": [{"x": 1}]}', TimeoutError("slow"))
        >>> backend.complete([{"role": "user", "content": "go"}]).text
        '{"configs": [{"x": 1}]}'
        >>> len(backend.history)
        1
    """

    name = "scripted"
    model = "scripted"
    supports_grammar = True

    def __init__(self, answers: Iterable[Answer] = (), *, delay_s: float = 0.0, default: Answer | None = None):
        self._answers: deque[Answer] = deque(answers)
        self.delay_s = delay_s
        self.default = default
        self.history: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def enqueue(self, *answers: Answer) -> None:
        with self._lock:
            self._answers.extend(answers)

    def complete(self, messages: Sequence[Message], *, schema: dict | None = None, **options: Any) -> Completion:
        start = time.perf_counter()
        with self._lock:
            self.history.append({"messages": [dict(m) for m in messages], "schema": schema, "options": options})
            answer = self._answers.popleft() if self._answers else self.default
        if self.delay_s:
            time.sleep(self.delay_s)
        if answer is None:
            raise BackendError("ScriptedBackend has no answer queued")
        if isinstance(answer, BaseException):
            raise answer
        text = answer(messages, options) if callable(answer) else answer
        prompt_tokens = sum(len(str(m.get("content", ""))) for m in messages) // 4
        return Completion(
            text=text,
            model=self.model,
            prompt_tokens=prompt_tokens,
            completion_tokens=len(text) // 4,
            latency_s=time.perf_counter() - start,
        )
