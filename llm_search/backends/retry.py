"""Bounded retries with exponential backoff and jitter, shared by the HTTP backends.

A backend classifies each failure at its boundary: :class:`TransientBackendError` (throttling,
timeouts, an overloaded or restarting server) is retried, anything else propagates at once. When
the attempts are used up, the last transient error is re-raised as a :class:`TransientBackendError`
that says how many attempts were made, so the searcher falls back for this round and tries again
later. Waits grow exponentially (``tenacity``) with up to ``initial_wait_s`` of random jitter.

Example:
    >>> policy = RetryPolicy(max_attempts=3, initial_wait_s=0.001, max_wait_s=0.002)
    >>> answers = iter([TransientBackendError("throttled"), "ok"])
    >>> def call():
    ...     answer = next(answers)
    ...     if isinstance(answer, Exception):
    ...         raise answer
    ...     return answer
    >>> policy.call(call, what="demo")
    'ok'
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from llm_search.backends.base import TransientBackendError, missing_dependency

logger = logging.getLogger(__name__)

T = TypeVar("T")

GAVE_UP = "{what}: gave up after {attempts} attempt(s): {error}"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry transient failures.

    Args:
        max_attempts: Attempts in total, the first one included (1 = no retries).
        initial_wait_s: Wait before the first retry; doubles with each retry, plus jitter.
        max_wait_s: Cap on a single wait (before jitter).
        extra: The pip extra that installs ``tenacity`` for the calling backend (named in the error
            message when it is missing).

    Example:
        >>> RetryPolicy.from_options({"max_attempts": 2}).max_attempts
        2
    """

    max_attempts: int = 5
    initial_wait_s: float = 1.0
    max_wait_s: float = 30.0
    extra: str = "openai"

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.initial_wait_s < 0 or self.max_wait_s < 0:
            raise ValueError("retry waits must not be negative")

    @classmethod
    def from_options(cls, options: dict[str, Any], *, extra: str = "openai") -> RetryPolicy:
        """Build a policy from backend options (``max_attempts``, ``initial_wait_s``, ``max_wait_s``)."""
        return cls(
            max_attempts=int(options.get("max_attempts", cls.max_attempts)),
            initial_wait_s=float(options.get("initial_wait_s", cls.initial_wait_s)),
            max_wait_s=float(options.get("max_wait_s", cls.max_wait_s)),
            extra=extra,
        )

    def call(self, fn: Callable[[], T], *, what: str) -> T:
        """Run ``fn``, retrying it while it raises :class:`TransientBackendError`.

        Args:
            fn: The request; it must raise our backend errors, not SDK errors.
            what: Who is calling (e.g. the backend name), for logs and the final error.

        Raises:
            TransientBackendError: the attempts were used up; the message gives the last cause.
            BackendError: any non-transient error from ``fn``, unchanged and at once.
        """
        try:
            import tenacity
        except ImportError:
            raise missing_dependency("tenacity", self.extra) from None

        def log_retry(state: Any) -> None:
            error = state.outcome.exception()
            logger.info(
                "%s: %s; retry %d/%d in %.2f s",
                what,
                error,
                state.attempt_number,
                self.max_attempts - 1,
                state.next_action.sleep if state.next_action else 0.0,
            )

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts),
            wait=(
                tenacity.wait_exponential(multiplier=self.initial_wait_s, max=self.max_wait_s)
                + tenacity.wait_random(0, self.initial_wait_s)
            ),
            retry=tenacity.retry_if_exception_type(TransientBackendError),
            before_sleep=log_retry,
            reraise=False,
        )
        try:
            return retrying(fn)
        except tenacity.RetryError as exc:
            last = exc.last_attempt.exception()
            raise TransientBackendError(
                GAVE_UP.format(what=what, attempts=exc.last_attempt.attempt_number, error=last)
            ) from last
