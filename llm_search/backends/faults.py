"""A testing tool: a backend wrapper that injects throttling, failures and garbage answers.

Use it to check that code above the backends (proposer, searcher, benchmarks) survives an
unreliable LLM: every fault is drawn from a seeded generator, so a failing run is reproducible.
It is not registered as a spec string; wrap a backend object explicitly.

Example:
    >>> from llm_search.backends import ScriptedBackend
    >>> flaky = FlakyBackend(ScriptedBackend(default='{"configs": []}'), throttle_rate=0.5, seed=0)
    >>> outcomes = []
    >>> for _ in range(6):
    ...     try:
    ...         outcomes.append(flaky.complete([{"role": "user", "content": "go"}]).text)
    ...     except TransientBackendError:
    ...         outcomes.append("throttled")
    >>> flaky.injected["throttle"] == outcomes.count("throttled")
    True
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any, Sequence

from llm_search.backends.base import (
    Backend,
    BackendError,
    Completion,
    Message,
    TransientBackendError,
)
from llm_search.locking import PicklableLock

GARBAGE_KINDS = ("truncated", "prose", "wrong_shape", "empty")


def garble(text: str, kind: str) -> str:
    """Damage an answer the way real models do.

    Example:
        >>> garble('{"configs": [{"x": 1}]}', "truncated")
        '{"configs":'
    """
    if kind == "truncated":
        return text[: len(text) // 2]
    if kind == "prose":
        return f"Sure! Here are some good configurations to try:\n{text[: len(text) // 2]}... let me know!"
    if kind == "wrong_shape":
        return '{"answer": "I would try a learning rate of 0.01 and a batch size of 64."}'
    if kind == "empty":
        return ""
    raise ValueError(f"unknown garbage kind {kind!r}; one of {GARBAGE_KINDS}")


class FlakyBackend(PicklableLock, Backend):
    """Wraps a backend and, per call, raises or damages its answer at the given rates.

    Args:
        inner: The backend that answers when no fault is injected.
        fail_rate: Probability of a plain :class:`BackendError` (neither transient nor permanent).
        throttle_rate: Probability of a :class:`TransientBackendError` (as after exhausted retries).
        garbage_rate: Probability that a successful answer is damaged (see :func:`garble`).
        seed: Seed of the fault generator.

    ``injected`` counts the faults by kind (``fail``, ``throttle`` and the garbage kinds).

    Example:
        >>> from llm_search.backends import ScriptedBackend
        >>> flaky = FlakyBackend(ScriptedBackend(default='{"configs": []}'), garbage_rate=1.0, seed=3)
        >>> flaky.complete([{"role": "user", "content": "go"}]).extra["garbage"] in GARBAGE_KINDS
        True
    """

    def __init__(
        self,
        inner: Backend,
        *,
        fail_rate: float = 0.0,
        throttle_rate: float = 0.0,
        garbage_rate: float = 0.0,
        seed: int = 0,
    ):
        for label, rate in (("fail_rate", fail_rate), ("throttle_rate", throttle_rate), ("garbage_rate", garbage_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{label} must be in [0, 1], got {rate}")
        if fail_rate + throttle_rate > 1.0:
            raise ValueError("fail_rate + throttle_rate must not exceed 1")
        self.inner = inner
        self.fail_rate = fail_rate
        self.throttle_rate = throttle_rate
        self.garbage_rate = garbage_rate
        self.describe_as(inner)
        self.injected: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def complete(self, messages: Sequence[Message], *, schema: dict | None = None, **options: Any) -> Completion:
        with self._lock:
            draw, garbage_draw, kind = self._rng.random(), self._rng.random(), self._rng.choice(GARBAGE_KINDS)
            if draw < self.throttle_rate:
                self.injected["throttle"] += 1
                raise TransientBackendError(f"{self.name}: injected fault: throttled")
            if draw < self.throttle_rate + self.fail_rate:
                self.injected["fail"] += 1
                raise BackendError(f"{self.name}: injected fault: request failed")
        completion = self.inner.complete(messages, schema=schema, **options)
        if garbage_draw < self.garbage_rate:
            with self._lock:
                self.injected[kind] += 1
            completion.text = garble(completion.text, kind)
            completion.extra["garbage"] = kind
        return completion

    def close(self) -> None:
        self.inner.close()
